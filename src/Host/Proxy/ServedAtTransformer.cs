using Yarp.ReverseProxy.Forwarder;

namespace Litecast.Host.Proxy;

/// <summary>Passes the application's answer on unchanged, stamped with the position it was served at.</summary>
public sealed class ServedAtTransformer(ulong txid) : HttpTransformer
{
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        var proxied = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (proxyResponse is not null) TxidCarrier.Stamp(httpContext.Response, txid);
        return proxied;
    }
}

using Yarp.ReverseProxy.Forwarder;

namespace Litecast.Host.Proxy;

/// <summary>
/// A request a replica's proxy sends to the primary's: passed on as the client sent it, marked with
/// <see cref="HeaderName"/> so that a proxy that is not the primary's (a wrong <c>proxy.public-url</c>) refuses it
/// instead of forwarding it again, round and round.
/// </summary>
public sealed class ToPrimaryTransformer : HttpTransformer
{
    /// <summary>The mark.</summary>
    public const string HeaderName = "Litecast-Forwarded";

    /// <summary>The one instance: it holds no state.</summary>
    public static readonly ToPrimaryTransformer Instance = new();

    private ToPrimaryTransformer()
    {
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.TryAddWithoutValidation(HeaderName, "1");
    }
}

using System.Diagnostics;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;
using Yarp.ReverseProxy.Forwarder;

namespace Litecast.Host.Proxy;

/// <summary>
/// A write on the primary's node: once the application has answered (so its transaction has committed), takes the
/// primary's bookmark (<c>/sync</c>), which covers the write, and hands it to the client in the header and the cookie.
/// With <c>write-ack</c>, holds the answer until that many replicas have applied it, or replaces it with a 504 after
/// <c>wait-timeout</c> (the write itself committed; the body says so).
/// </summary>
public sealed class PrimaryWriteTransformer(ILitecastNode node, ProxyConfig config, ProxyMetrics metrics, Action<string> log)
    : HttpTransformer
{
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        var proxied = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (proxyResponse is null) return proxied;
        ulong txid;
        try
        {
            txid = (await node.SyncAsync(config.Db, cancellationToken)).Txid;
        }
        catch (NodeRequestException e)
        {
            // The answer still goes out: the application did its work, only the bookmark is missing.
            log($"proxy: no txid for a write's answer ({e.Message})");
            if (config.WriteAck == 0) return proxied;
            return await RefuseAsync(httpContext, null, $"the write's txid is unknown ({e.Message}), so its acknowledgement cannot be awaited; the write itself may have committed");
        }
        TxidCarrier.StampWrite(httpContext.Response, txid);
        if (config.WriteAck == 0) return proxied;

        var clock = Stopwatch.StartNew();
        var acknowledged = await node.WaitForReplicasAsync(config.Db, txid, config.WriteAck, config.WaitTimeout, cancellationToken);
        metrics.Waited("write_ack", clock.Elapsed);
        if (acknowledged) return proxied;
        return await RefuseAsync(httpContext, txid,
            $"the write committed at txid {txid} on the primary, but fewer than {config.WriteAck} replica(s) applied it within "
            + $"{ValueParsers.FormatDuration(config.WaitTimeout)} (write-ack)");
    }

    /// <summary>Replaces the application's answer with a 504 and <paramref name="message"/>.</summary>
    private async Task<bool> RefuseAsync(HttpContext httpContext, ulong? txid, string message)
    {
        httpContext.Items[WriteAckTimedOut] = true;
        var response = httpContext.Response;
        response.Headers.Clear();
        if (txid is { } committed) TxidCarrier.StampWrite(response, committed);
        await ProxyAnswers.ErrorAsync(httpContext, StatusCodes.Status504GatewayTimeout, message);
        return false;
    }

    /// <summary>Set in <see cref="HttpContext.Items"/> when the answer was replaced, for the request's outcome.</summary>
    public static readonly object WriteAckTimedOut = new();
}

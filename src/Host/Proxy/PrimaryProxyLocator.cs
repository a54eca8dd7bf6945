using Litecast.Host.Node;

namespace Litecast.Host.Proxy;

/// <summary>The primary's proxy: where writes go, and how long it may hold a write's answer (null when its node does
/// not say).</summary>
public sealed record PrimaryProxy(Uri Url, TimeSpan? WaitTimeout);

/// <summary>
/// Finds the primary's proxy the way a replica finds its primary: <c>GET /cluster</c> on <c>upstream.url</c>, whose
/// answer names the primary's proxy URL and wait-timeout. The answer is kept until a forward to it fails, so a primary
/// that moves or restarts with another address is asked again.
/// </summary>
public sealed class PrimaryProxyLocator(HttpClient admin, Uri upstream)
{
    /// <summary>A wait-timeout past this is not believed (a day): config validation allows no such value to be useful.</summary>
    private static readonly TimeSpan LongestWaitTimeout = TimeSpan.FromDays(1);

    private volatile PrimaryProxy? _known;

    /// <summary>The primary's proxy; throws <see cref="HttpRequestException"/> with the reason when it cannot be learnt.</summary>
    public async Task<PrimaryProxy> LocateAsync(CancellationToken cancellation)
    {
        if (_known is { } known) return known;
        var info = await UpstreamDiscovery.DiscoverAsync(admin, upstream, cancellation);
        if (string.IsNullOrEmpty(info.Proxy) || !Uri.TryCreate(info.Proxy, UriKind.Absolute, out var url))
            throw new HttpRequestException($"the primary at {upstream} runs no proxy (its litecast.yml has no 'proxy:' section)");
        // An older primary does not say, and a value that is not a plausible duration is ignored: the replica's own
        // wait-timeout applies then.
        TimeSpan? waitTimeout = info.ProxyWaitTimeoutMs is > 0 and var ms && ms <= LongestWaitTimeout.TotalMilliseconds
            ? TimeSpan.FromMilliseconds(ms)
            : null;
        var proxy = new PrimaryProxy(url, waitTimeout);
        _known = proxy;
        return proxy;
    }

    /// <summary>Drops the known URL after a failed forward.</summary>
    public void Forget() => _known = null;
}

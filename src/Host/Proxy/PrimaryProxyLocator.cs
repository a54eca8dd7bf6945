using Litecast.Host.Node;

namespace Litecast.Host.Proxy;

/// <summary>
/// Finds the primary's proxy the way a replica finds its primary: <c>GET /cluster</c> on <c>upstream.url</c>, whose
/// answer names the primary's proxy URL. The answer is kept until a forward to it fails, so a primary that moves or
/// restarts with another address is asked again.
/// </summary>
public sealed class PrimaryProxyLocator(HttpClient admin, Uri upstream)
{
    private volatile Uri? _known;

    /// <summary>The primary's proxy URL; throws <see cref="HttpRequestException"/> with the reason when it cannot be learnt.</summary>
    public async Task<Uri> LocateAsync(CancellationToken cancellation)
    {
        if (_known is { } known) return known;
        var info = await UpstreamDiscovery.DiscoverAsync(admin, upstream, cancellation);
        if (string.IsNullOrEmpty(info.Proxy) || !Uri.TryCreate(info.Proxy, UriKind.Absolute, out var url))
            throw new HttpRequestException($"the primary at {upstream} runs no proxy (its litecast.yml has no 'proxy:' section)");
        _known = url;
        return url;
    }

    /// <summary>Drops the known URL after a failed forward.</summary>
    public void Forget() => _known = null;
}

namespace Litecast.Host.Configuration;

/// <summary>
/// The <c>proxy</c> section: an HTTP proxy in front of this node's application that serves reads locally, sends writes
/// to the primary's proxy, and makes a reader wait for the writes it carries the txid of.
/// </summary>
public sealed record ProxyConfig
{
    /// <summary>Default for <see cref="WaitTimeout"/>.</summary>
    public static readonly TimeSpan DefaultWaitTimeout = TimeSpan.FromSeconds(5);

    /// <summary><c>addr</c>: where the proxy listens (<c>":8080"</c>).</summary>
    public required HttpAddress Addr { get; init; }

    /// <summary><c>target</c>: this node's application, <c>http://host:port</c> (a bare <c>host:port</c> means http).</summary>
    public required Uri Target { get; init; }

    /// <summary><c>db</c>: the database whose position the proxy tracks (one of <c>dbs</c>, by name).</summary>
    public required DbConfig Db { get; init; }

    /// <summary><c>passthrough</c>: path patterns (<c>*</c> matches any run of characters) served locally, never
    /// forwarded, never waited for.</summary>
    public IReadOnlyList<string> Passthrough { get; init; } = [];

    /// <summary><c>max-lag</c>: a replica further behind than this sends reads to the primary; null never does.</summary>
    public TimeSpan? MaxLag { get; init; }

    /// <summary><c>wait-timeout</c>: how long a read waits for its txid (and a write for its acknowledgements).</summary>
    public TimeSpan WaitTimeout { get; init; } = DefaultWaitTimeout;

    /// <summary><c>write-ack</c>: replicas that must have applied a write before its response goes out (0: none).</summary>
    public int WriteAck { get; init; }

    /// <summary><c>public-url</c>: the URL other nodes' proxies reach this one by; null derives it from <see cref="Addr"/>
    /// and <c>cluster.public-host</c>.</summary>
    public Uri? PublicUrl { get; init; }

    /// <summary>The URL other nodes' proxies forward writes to: <see cref="PublicUrl"/>, else <see cref="Addr"/> with a
    /// wildcard host replaced by <paramref name="publicHost"/>.</summary>
    public Uri AdvertisedUrl(string? publicHost) => PublicUrl ?? new Uri(Addr.Host is null || ClusterConfig.IsWildcard(Addr.Host)
        ? $"http://{publicHost ?? "localhost"}:{Addr.Port}"
        : Addr.LocalUrl);
}

namespace Litecast.Host.Configuration;

/// <summary>
/// A node's whole configuration, as loaded from <c>litecast.yml</c> by <see cref="ConfigLoader"/> (or built in code,
/// e.g. by <c>litecast demo</c>). Keys follow Litestream's: <c>addr</c>, <c>dbs[].path</c>, <c>dbs[].upstream.url</c>,
/// <c>dbs[].upstream.path</c>; plus Litecast's optional <c>cluster</c> section and per-database tunables.
/// </summary>
public sealed record LitecastConfig
{
    /// <summary>The file this configuration came from (null when built in code).</summary>
    public string? File { get; init; }

    /// <summary>
    /// <c>addr</c>: the HTTP admin endpoint (status, metrics, health, sync/wait, cluster-address discovery).
    /// Null (key absent or empty) means no HTTP server. Replicas find their primary through the primary's endpoint,
    /// so a primary with replicas needs one.
    /// </summary>
    public HttpAddress? Addr { get; init; }

    /// <summary><c>dbs</c>: at least one database; names and paths are unique.</summary>
    public required IReadOnlyList<DbConfig> Dbs { get; init; }

    /// <summary><c>cluster</c>: where this node's Akka.NET cluster endpoint listens and whom it joins.</summary>
    public ClusterConfig Cluster { get; init; } = new();

    /// <summary><c>tls</c>: mutual TLS between nodes and HTTPS on <c>addr</c>; null for plain TCP and HTTP.</summary>
    public TlsConfig? Tls { get; init; }

    /// <summary><c>auth</c>: the admin endpoint's bearer token; null lets every request through.</summary>
    public AuthConfig? Auth { get; init; }

    /// <summary><c>proxy</c>: the HTTP proxy in front of this node's application; null for none.</summary>
    public ProxyConfig? Proxy { get; init; }

    /// <summary>The environment variables the file names that were not set, each expanded to nothing (as Litestream
    /// does); the node warns of them at start, since an unset one in a path names another file than meant.</summary>
    public IReadOnlyList<string> UnsetVariables { get; init; } = [];

    /// <summary>The databases this node is the primary of (no <c>upstream</c>).</summary>
    public IEnumerable<DbConfig> PrimaryDbs => Dbs.Where(d => d.Role == DbRole.Primary);

    /// <summary>The databases this node replicates from an upstream.</summary>
    public IEnumerable<DbConfig> ReplicaDbs => Dbs.Where(d => d.Role == DbRole.Replica);

    /// <summary>The one upstream origin (scheme://host:port) all replica databases share, or null on a pure primary.</summary>
    public Uri? UpstreamOrigin => ReplicaDbs.Select(d => d.Upstream!.Origin).FirstOrDefault();
}

/// <summary>Whether this node writes-through (primary) or pulls (replica) a database.</summary>
public enum DbRole
{
    /// <summary>The application writes this database here; Litecast tails its WAL and ships commits.</summary>
    Primary,

    /// <summary>Litecast applies the primary's commits here; the application only reads.</summary>
    Replica,
}

/// <summary>One entry of <c>dbs</c>.</summary>
public sealed record DbConfig
{
    /// <summary>Default for <see cref="CheckpointThresholdPages"/>.</summary>
    public const int DefaultCheckpointThresholdPages = 1000;

    /// <summary>
    /// Default for <see cref="RetainedLogBytes"/>: 64 MiB, about 15 s of single-page commits at 1,000 tx/s. The log's
    /// pages are on disk, so a larger bound costs disk, not resident memory; it stays at 64 MiB because a catch-up
    /// still reads everything it sends into the heap at once, so the bound is also a catch-up's worst-case heap.
    /// </summary>
    public const long DefaultRetainedLogBytes = 64L * 1024 * 1024;

    /// <summary>Default for <see cref="MaxLag"/>: 10 seconds.</summary>
    public static readonly TimeSpan DefaultMaxLag = TimeSpan.FromSeconds(10);

    /// <summary>Default for <see cref="ScrubInterval"/>: once a day, one read of the whole file.</summary>
    public static readonly TimeSpan DefaultScrubInterval = TimeSpan.FromHours(24);

    /// <summary>Shortest <see cref="ScrubInterval"/> accepted: a scrub reads the whole file and, while it does, keeps the
    /// WAL from restarting; back-to-back scrubs of a big file would let the WAL grow.</summary>
    public static readonly TimeSpan MinScrubInterval = TimeSpan.FromMinutes(1);

    /// <summary><c>path</c>: the database file, made absolute (relative paths are taken from the working directory, <c>~</c> is the home directory).</summary>
    public required string Path { get; init; }

    /// <summary><c>name</c>: the name used in URLs (<c>/dbs/{name}/sync</c>); defaults to the file name of <see cref="Path"/>.</summary>
    public required string Name { get; init; }

    /// <summary><c>upstream</c>: present on replicas, absent on primaries.</summary>
    public UpstreamConfig? Upstream { get; init; }

    /// <summary><c>checkpoint-threshold-pages</c>: WAL size in pages at which Litecast checkpoints (default 1000).</summary>
    public int CheckpointThresholdPages { get; init; } = DefaultCheckpointThresholdPages;

    /// <summary><c>retained-log-bytes</c>: how much of the recent change log the primary keeps for catching-up replicas (default 64 MiB). Accepts integers or sizes like <c>64MB</c>, <c>1GiB</c>.</summary>
    public long RetainedLogBytes { get; init; } = DefaultRetainedLogBytes;

    /// <summary><c>max-lag</c>: a replica further behind than this reports unhealthy on <c>/healthz</c> (default 10s). Go-style duration: <c>500ms</c>, <c>5s</c>, <c>1m30s</c>.</summary>
    public TimeSpan MaxLag { get; init; } = DefaultMaxLag;

    /// <summary><c>scrub-interval</c>: how often the whole file is hashed again (default 24h) and compared, on a replica
    /// with the pages it applied (a difference resyncs it), on the primary with the stream it published (a difference
    /// starts a new generation); <c>off</c> or <c>0</c>: never. Null when off.</summary>
    public TimeSpan? ScrubInterval { get; init; } = DefaultScrubInterval;

    /// <summary>Replica when <see cref="Upstream"/> is set, else primary.</summary>
    public DbRole Role => Upstream is null ? DbRole.Primary : DbRole.Replica;

    /// <summary>The primary's path of this database: <c>upstream.path</c> when given, else this node's own <see cref="Path"/>.</summary>
    public string UpstreamPath => Upstream?.Path ?? Path;

    /// <summary>The default <see cref="Name"/> for a path: its file name.</summary>
    public static string DefaultName(string path) => System.IO.Path.GetFileName(path.TrimEnd('/', '\\'));
}

/// <summary><c>dbs[].upstream</c>: the primary this database replicates from.</summary>
public sealed record UpstreamConfig
{
    /// <summary><c>url</c>: the primary's HTTP admin endpoint, e.g. <c>http://primary:9090</c> (http or https).</summary>
    public required Uri Url { get; init; }

    /// <summary><c>path</c>: the primary's path of this database, when it differs from the replica's; null otherwise.</summary>
    public string? Path { get; init; }

    /// <summary>scheme://host:port of <see cref="Url"/>: two upstreams with different origins name two clusters.</summary>
    public Uri Origin => new(Url.GetLeftPart(UriPartial.Authority));
}

/// <summary>The <c>cluster</c> section.</summary>
public sealed record ClusterConfig
{
    /// <summary>The Akka.NET actor system name every node uses (seeds must name it).</summary>
    public const string SystemName = "litecast";

    /// <summary>Default for <see cref="Host"/>: all interfaces.</summary>
    public const string DefaultHost = "0.0.0.0";

    /// <summary>Default for <see cref="Port"/>.</summary>
    public const int DefaultPort = 4053;

    /// <summary><c>host</c>: the address the cluster endpoint binds (default 0.0.0.0).</summary>
    public string Host { get; init; } = DefaultHost;

    /// <summary><c>port</c>: the cluster endpoint's port (default 4053; 0 lets the OS pick).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>True when <c>port</c> was written in the file. A node with only replica databases and no explicit port
    /// listens on a free port: it is reached through the cluster's gossip, never dialled first, so several replicas
    /// configured exactly as the guide shows can share one machine.</summary>
    public bool PortIsExplicit { get; init; }

    /// <summary>The port to listen on for a node that is (<paramref name="hasPrimary"/>) or is not a primary.</summary>
    public int EffectivePort(bool hasPrimary) => PortIsExplicit || hasPrimary ? Port : 0;

    /// <summary>
    /// <c>public-host</c>: the name other nodes reach this one by. Defaults to <see cref="Host"/> unless that is a
    /// wildcard (0.0.0.0, ::), in which case the machine's host name. Null only when built in code without one.
    /// </summary>
    public string? PublicHost { get; init; }

    /// <summary>
    /// <c>public-port</c>: the port other nodes reach this one by, when it differs from <see cref="Port"/> (a NAT, a
    /// port-forward, a proxy or relay in front of the cluster endpoint). Null (the default): the port it listens on.
    /// </summary>
    public int? PublicPort { get; init; }

    /// <summary><c>seeds</c>: cluster addresses to join, <c>akka.tcp://litecast@host:port</c>. Empty: a replica discovers its primary through <c>upstream.url</c>; a primary forms its own cluster.</summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    /// <summary>True for addresses that mean "all interfaces".</summary>
    public static bool IsWildcard(string host) => host is "0.0.0.0" or "::" or "[::]" or "*" or "";

    /// <summary>The scheme of cluster addresses over plain TCP.</summary>
    public const string TcpScheme = "akka.tcp";

    /// <summary>The scheme of cluster addresses over TLS (<c>tls</c> set).</summary>
    public const string TlsScheme = "akka.ssl.tcp";

    /// <summary>A seed address in the scheme this node's transport speaks: a seed written <c>akka.tcp://</c> in a config
    /// that turns <c>tls</c> on means the same node over TLS, and the other way round.</summary>
    public static string SeedForTransport(string seed, bool tls)
    {
        var (from, to) = tls ? (TcpScheme, TlsScheme) : (TlsScheme, TcpScheme);
        return seed.StartsWith(from + "://", StringComparison.Ordinal) ? to + seed[from.Length..] : seed;
    }
}

/// <summary>
/// An <c>addr</c> value in Go's <c>host:port</c> form: <c>":9090"</c> (all interfaces), <c>"127.0.0.1:9090"</c>,
/// <c>"localhost:9090"</c>, <c>"[::1]:9090"</c>.
/// </summary>
/// <param name="Host">The host or IP to bind; null means all interfaces.</param>
/// <param name="Port">The TCP port, 0..65535 (0 lets the OS pick).</param>
public sealed record HttpAddress(string? Host, int Port)
{
    /// <summary>True when the endpoint binds every interface.</summary>
    public bool IsAllInterfaces => Host is null;

    /// <summary>A Kestrel/ASP.NET Core URL to listen on: <c>http://*:9090</c> for all interfaces.</summary>
    public string ListenUrl => $"http://{(Host is null ? "*" : UrlHost(Host))}:{Port}";

    /// <summary>A URL a client on this machine can use: wildcard hosts become <c>localhost</c>.</summary>
    public string LocalUrl =>
        $"http://{(Host is null || ClusterConfig.IsWildcard(Host) ? "localhost" : UrlHost(Host))}:{Port}";

    /// <summary>Parses <c>host:port</c> / <c>:port</c>; null with an explanation in <paramref name="error"/> when malformed.</summary>
    public static HttpAddress? TryParse(string text, out string? error)
    {
        error = null;
        var s = text.Trim();
        int colon = s.LastIndexOf(':');
        if (colon < 0)
        {
            error = $"invalid address '{text}' (expected host:port or :port, e.g. \":9090\")";
            return null;
        }
        string host = s[..colon];
        string portText = s[(colon + 1)..];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']') || host.Length < 3)
            {
                error = $"invalid address '{text}' (IPv6 hosts are written [::1]:9090)";
                return null;
            }
            host = host[1..^1];
        }
        else if (host.Contains(':'))
        {
            error = $"invalid address '{text}' (write IPv6 hosts in brackets, e.g. [::1]:9090)";
            return null;
        }
        if (host.Any(char.IsWhiteSpace) || host.IndexOfAny(['/', '?', '#', '@']) >= 0)
        {
            error = $"invalid address '{text}' (bad host '{host}')";
            return null;
        }
        if (!ValueParsers.TryParsePort(portText, out int port, out string? portError))
        {
            error = $"invalid address '{text}': {portError}";
            return null;
        }
        return new HttpAddress(host.Length == 0 ? null : host, port);
    }

    /// <summary>The Go form: <c>:9090</c> or <c>host:9090</c>.</summary>
    public override string ToString() => $"{(Host is null ? "" : UrlHost(Host))}:{Port}";

    private static string UrlHost(string host) => host.Contains(':') ? $"[{host}]" : host;
}

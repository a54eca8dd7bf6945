using Prometheus;

namespace Litecast.Host.Proxy;

/// <summary>What a request was to the proxy.</summary>
public enum RequestKind
{
    /// <summary>GET, HEAD or OPTIONS.</summary>
    Read,

    /// <summary>Any other method.</summary>
    Write,

    /// <summary>A path in <c>proxy.passthrough</c>.</summary>
    Passthrough,
}

/// <summary>Where a request ended up.</summary>
public enum RequestOutcome
{
    /// <summary>Served by this node's application.</summary>
    Local,

    /// <summary>Forwarded to the primary's proxy.</summary>
    Primary,

    /// <summary>Refused by the proxy itself (a malformed txid).</summary>
    BadRequest,

    /// <summary>The application did not answer (502).</summary>
    ApplicationUnreachable,

    /// <summary>The primary's proxy did not answer (503).</summary>
    PrimaryUnreachable,

    /// <summary>The write committed but too few replicas applied it within <c>wait-timeout</c> (504).</summary>
    AckTimeout,

    /// <summary>A request forwarded to the primary's proxy reached a replica's (508): a misconfigured public URL.</summary>
    Loop,
}

/// <summary>
/// The proxy's Prometheus counters, in the admin endpoint's registry so <c>/metrics</c> shows them beside the
/// databases' (a node without <c>addr</c> still counts, unexported).
/// </summary>
public sealed class ProxyMetrics
{
    private readonly Counter _requests;
    private readonly Counter _readsToPrimary;
    private readonly Histogram _waits;

    /// <summary>Creates the series in <paramref name="registry"/>.</summary>
    public ProxyMetrics(CollectorRegistry registry)
    {
        var f = Metrics.WithCustomRegistry(registry);
        _requests = f.CreateCounter("litecast_proxy_requests_total",
            "Requests through the proxy by kind (read, write, passthrough) and outcome (local, primary, bad_request, "
            + "application_unreachable, primary_unreachable, ack_timeout, loop); kind=write,outcome=primary counts forwarded writes.",
            "kind", "outcome");
        _readsToPrimary = f.CreateCounter("litecast_proxy_reads_to_primary_total",
            "Reads a replica's proxy sent to the primary: reason wait_timeout (its txid did not arrive in time) or max_lag.", "reason");
        _waits = f.CreateHistogram("litecast_proxy_wait_seconds",
            "Time the proxy waited: for=read (a replica reaching a read's txid), for=write_ack (replicas applying a write).",
            new HistogramConfiguration
            {
                LabelNames = ["for"],
                Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            });
        // Both series exist from the start, at zero: a replica that is always ahead of its reads never waits, and a
        // dashboard or alert should still find the series rather than "no data".
        _waits.WithLabels("read");
        _waits.WithLabels("write_ack");
    }

    /// <summary>Counts one request.</summary>
    public void Request(RequestKind kind, RequestOutcome outcome) =>
        _requests.WithLabels(Snake(kind.ToString()), Snake(outcome.ToString())).Inc();

    /// <summary>Counts a read sent to the primary, for <paramref name="reason"/> (wait_timeout, max_lag).</summary>
    public void ReadToPrimary(string reason) => _readsToPrimary.WithLabels(reason).Inc();

    /// <summary>Records a wait of <paramref name="elapsed"/> for <paramref name="what"/> (read, write_ack).</summary>
    public void Waited(string what, TimeSpan elapsed) => _waits.WithLabels(what).Observe(elapsed.TotalSeconds);

    private static string Snake(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));
}

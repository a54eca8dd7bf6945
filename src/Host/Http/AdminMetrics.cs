using Litecast.Actors;
using Prometheus;

namespace Litecast.Host.Http;

/// <summary>
/// The Prometheus metrics of one admin endpoint, in its own <see cref="CollectorRegistry"/> (never the static default,
/// so several servers can live in one process). Values are set from the databases' <see cref="DatabaseStatus"/> just
/// before each scrape; every series carries the labels <c>db</c> (the database's name) and <c>role</c>.
/// </summary>
public sealed class AdminMetrics
{
    private static readonly string[] Labels = ["db", "role"];

    private readonly Gauge _txid;
    private readonly Gauge _lagSeconds;
    private readonly Gauge _lagTxids;
    private readonly Gauge _walBytes;
    private readonly Gauge _healthy;
    private readonly Gauge _scrubSound;
    private readonly Gauge _scrubTimestamp;
    private readonly Counter _transactions;
    private readonly Counter _bytes;
    private readonly Counter _resyncs;
    private readonly Counter _checkpoints;
    private readonly Counter _localWrites;
    private readonly Counter _resyncBytes;
    private readonly Counter _stalls;
    private readonly Dictionary<string, string> _roles = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Creates the metrics in a new registry.</summary>
    public AdminMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        _txid = f.CreateGauge("litecast_txid", "The last transaction id of the local copy (primary: published; replica: applied).", Labels);
        _lagSeconds = f.CreateGauge("litecast_lag_seconds",
            "Replica: seconds behind the primary (0 when caught up, NaN when unknown). Primary: the largest lag among its replicas.", Labels);
        _lagTxids = f.CreateGauge("litecast_lag_txids",
            "Replica: transactions behind the primary (NaN when unknown). Primary: the largest among its replicas.", Labels);
        _walBytes = f.CreateGauge("litecast_wal_bytes", "Current size of the database's WAL file in bytes.", Labels);
        _healthy = f.CreateGauge("litecast_healthy", "1 when the database is healthy, else 0.", Labels);
        _scrubSound = f.CreateGauge("litecast_scrub_sound",
            "The last scrub (the whole file hashed again): 1 when the file was sound, 0 when a page had changed behind SQLite's back (NaN before the first).", Labels);
        _scrubTimestamp = f.CreateGauge("litecast_scrub_timestamp_seconds",
            "When the last scrub ended, in Unix seconds (NaN before the first).", Labels);
        _transactions = f.CreateCounter("litecast_transactions_replicated_total",
            "Transactions replicated (primary: published; replica: applied).", Labels);
        _bytes = f.CreateCounter("litecast_bytes_replicated_total", "Bytes of page data replicated (published or applied).", Labels);
        _resyncs = f.CreateCounter("litecast_resyncs_total", "Full resyncs (served on the primary, performed on a replica).", Labels);
        _checkpoints = f.CreateCounter("litecast_checkpoints_total", "WAL checkpoints Litecast ran.", Labels);
        _localWrites = f.CreateCounter("litecast_local_writes_total",
            "Replica: writes by something other than Litecast detected in the local copy.", Labels);
        _resyncBytes = f.CreateCounter("litecast_resync_bytes_total", "Bytes transferred by resyncs.", Labels);
        _stalls = f.CreateCounter("litecast_stalls_total",
            "Replica: times it was behind the primary with no progress for 10 s (it then asks again, then resyncs).", Labels);
    }

    /// <summary>The registry the <c>/metrics</c> endpoint exports.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Sets every series of <paramref name="status"/>'s database from it.</summary>
    public void Update(DatabaseStatus status)
    {
        lock (_gate)
        {
            string db = status.Name, role = status.Role;
            if (_roles.TryGetValue(db, out var oldRole) && oldRole != role)
                Remove(db, oldRole); // the role changed: drop the old role's series
            _roles[db] = role;

            _txid.WithLabels(db, role).Set(status.Txid);
            _lagSeconds.WithLabels(db, role).Set(LagSeconds(status));
            _lagTxids.WithLabels(db, role).Set(LagTxids(status));
            _walBytes.WithLabels(db, role).Set(status.Counters.WalBytes);
            _healthy.WithLabels(db, role).Set(status.Healthy ? 1 : 0);
            _scrubSound.WithLabels(db, role).Set(status.LastScrub is { } scrub ? (scrub.Sound ? 1 : 0) : double.NaN);
            _scrubTimestamp.WithLabels(db, role).Set(status.LastScrub?.At.ToUnixTimeMilliseconds() / 1000.0 ?? double.NaN);

            var c = status.Counters;
            SetCounter(_transactions, db, role, c.TransactionsReplicated);
            SetCounter(_bytes, db, role, c.BytesReplicated);
            SetCounter(_resyncs, db, role, c.Resyncs);
            SetCounter(_checkpoints, db, role, c.Checkpoints);
            SetCounter(_localWrites, db, role, c.LocalWritesDetected);
            SetCounter(_stalls, db, role, c.Stalls);
            SetCounter(_resyncBytes, db, role, c.ResyncBytes);
        }
    }

    /// <summary>Marks a database whose status could not be read as unhealthy (its other series keep their last values).</summary>
    public void MarkUnavailable(string db, string role)
    {
        lock (_gate)
        {
            if (_roles.TryGetValue(db, out var known))
                role = known;
            _healthy.WithLabels(db, role).Set(0);
        }
    }

    /// <summary>Replica: lagMs when known, 0 when caught up, NaN when unknown. Primary: the largest replica lag (0 without replicas).</summary>
    public static double LagSeconds(DatabaseStatus s)
    {
        if (s.Role == "primary")
            return s.Replicas.Select(r => r.LagMs ?? 0).DefaultIfEmpty(0).Max() / 1000.0;
        if (s.LagMs is { } ms)
            return ms / 1000.0;
        return s.LagTxids == 0 ? 0 : double.NaN;
    }

    /// <summary>Replica: lagTxids (NaN when unknown). Primary: the largest gap among replicas on its generation (0 without).</summary>
    public static double LagTxids(DatabaseStatus s)
    {
        if (s.Role == "primary")
            return s.Replicas
                .Where(r => r.Generation == s.Generation)
                .Select(r => r.Txid >= s.Txid ? 0.0 : s.Txid - r.Txid)
                .DefaultIfEmpty(0)
                .Max();
        return s.LagTxids is { } n ? n : double.NaN;
    }

    private static void SetCounter(Counter counter, string db, string role, long value)
    {
        var child = counter.WithLabels(db, role);
        if (value < child.Value)
        {
            // The source restarted its count: a counter reset is a new series start, as Prometheus expects.
            counter.RemoveLabelled(db, role);
            child = counter.WithLabels(db, role);
        }
        child.IncTo(value);
    }

    private void Remove(string db, string role)
    {
        foreach (var g in new[] { _txid, _lagSeconds, _lagTxids, _walBytes, _healthy, _scrubSound, _scrubTimestamp })
            g.RemoveLabelled(db, role);
        foreach (var c in new[] { _transactions, _bytes, _resyncs, _checkpoints, _localWrites, _resyncBytes, _stalls })
            c.RemoveLabelled(db, role);
    }
}

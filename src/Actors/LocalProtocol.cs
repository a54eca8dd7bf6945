namespace Litecast.Actors;

// In-process messages between the host (HTTP, status) and the database actors. Never sent across the cluster.

/// <summary>Asks a database actor for its <see cref="DatabaseStatus"/>.</summary>
public sealed record GetDatabaseStatus
{
    public static readonly GetDatabaseStatus Instance = new();
}

/// <summary>One replica as the primary sees it.</summary>
/// <param name="Node">The replica's node identity.</param>
/// <param name="Txid">The last txid it reported applied.</param>
/// <param name="LagMs">Milliseconds between the primary publishing that txid and the replica reporting it applied,
/// both on the primary's clock; null before the first report.</param>
/// <param name="Resyncing">True while it resyncs.</param>
/// <param name="LastSeen">When its last report arrived (primary's clock).</param>
/// <param name="State">following, catching-up, resyncing or stalled (no report for a while, or behind without progress).</param>
/// <param name="Resyncs">The resync sessions it has started since it started, as it last reported (null: not reported).</param>
public sealed record ReplicaView(string Node, ulong Generation, ulong Txid, double? LagMs, bool Resyncing, DateTimeOffset LastSeen,
    string State = ReplicaStates.Following, long? Resyncs = null);

/// <summary>The states a replica reports in /status (replica side and, per replica, primary side).</summary>
public static class ReplicaStates
{
    /// <summary>At the primary's position, or applying what arrives as it arrives.</summary>
    public const string Following = "following";
    /// <summary>Behind the primary and advancing (a catch-up from the retained log, or a backlog being applied).</summary>
    public const string CatchingUp = "catching-up";
    /// <summary>A resync is in flight.</summary>
    public const string Resyncing = "resyncing";
    /// <summary>Behind the primary with no progress: Litecast escalates (catch-up again, then a resync) and says why.</summary>
    public const string Stalled = "stalled";
    /// <summary>The primary cannot be heard (no heartbeat, or unreachable in the cluster).</summary>
    public const string Disconnected = "disconnected";

    /// <summary>How a replica's problem starts while its last resync session failed (<c>litecast resync</c> watches
    /// for it).</summary>
    public const string ResyncFailedPrefix = "resync failed: ";
}

/// <summary>The state of one database on this node.</summary>
public sealed record DatabaseStatus(
    string Name,
    string Path,
    string Role,
    ulong Generation,
    ulong Txid,
    ulong Hash,
    double? LagMs,
    ulong? LagTxids,
    IReadOnlyList<ReplicaView> Replicas,
    bool Healthy,
    string? Problem,
    DatabaseCounters Counters,
    string? PrimarySqliteVersion,
    string? State = null,
    DateTimeOffset? StateSince = null,
    ResyncProgressView? Resync = null,
    ScrubView? LastScrub = null);

/// <summary>A node's last scrub of a database (the whole file hashed again and compared with the pages a replica applied
/// or the stream a primary published): when it ended, the txid it checked, the pages it read, and whether the file was
/// sound (false: a replica resyncs, a primary starts a new generation).</summary>
public sealed record ScrubView(DateTimeOffset At, ulong Txid, uint Pages, bool Sound);

/// <summary>A replica's resync in flight: pages (and their bytes) checked or fetched so far out of the database's, the
/// bytes that travelled, the rate of pages done and the time left at that rate (null until it is known).</summary>
public sealed record ResyncProgressView(uint PagesDone, uint PagesTotal, long BytesDone, long BytesTotal, long BytesReceived,
    DateTimeOffset StartedAt, double BytesPerSecond, double? SecondsLeft);

/// <summary>Monotonic counters exported as metrics.</summary>
public sealed record DatabaseCounters(
    long TransactionsReplicated,
    long BytesReplicated,
    long Resyncs,
    long Checkpoints,
    long WalBytes,
    long LocalWritesDetected,
    long ResyncBytes,
    long Stalls = 0);

/// <summary>Primary only: read the WAL to its end now and answer the txid that includes every commit made before.</summary>
public sealed record SyncWal
{
    public static readonly SyncWal Instance = new();
}

/// <summary>The answer to <see cref="SyncWal"/>.</summary>
public sealed record WalSynced(ulong Generation, ulong Txid);

/// <summary>Answers <see cref="TxidReached"/> once the local copy has reached <paramref name="Txid"/> (in
/// <paramref name="Generation"/> when given: a bookmark is a position in one generation), or
/// <see cref="WaitExpired"/> once <paramref name="Timeout"/> has passed (zero: at once, unless already reached).</summary>
public sealed record WaitForTxid(ulong Txid, TimeSpan Timeout, ulong? Generation = null);

/// <summary>A wait's timeout passed before what it waited for held.</summary>
public sealed record WaitExpired
{
    public static readonly WaitExpired Instance = new();

    private WaitExpired() { }
}

/// <summary>The local copy has reached (at least) the awaited txid.</summary>
public sealed record TxidReached(ulong Generation, ulong Txid);

/// <summary>Primary only: answers <see cref="ReplicasReached"/> once <paramref name="Replicas"/> replicas have reported
/// <paramref name="Txid"/> (or later) applied in the primary's current generation, asking them to report as soon as
/// they have it, or <see cref="WaitExpired"/> once <paramref name="Timeout"/> has passed. A replica answers
/// <see cref="DatabaseRequestRefused"/>.</summary>
public sealed record WaitForReplicas(ulong Txid, int Replicas, TimeSpan Timeout);

/// <summary>Enough replicas have applied the awaited txid of <paramref name="Generation"/>.</summary>
public sealed record ReplicasReached(ulong Generation, ulong Txid);

/// <summary>Replica only: resync from the primary now (operator request).</summary>
public sealed record RequestResync(string Reason);

/// <summary>The answer to <see cref="RequestResync"/>.</summary>
public sealed record ResyncStarted(bool Accepted, string Detail);

/// <summary>Primary only: the snapshot file of resync session <paramref name="Session"/>, for the admin endpoint that
/// serves its ranges to the replica over HTTP. The request reads bytes <paramref name="From"/>..<paramref name="To"/>
/// (inclusive, as HTTP's Range header; null: the whole file), counted as resync bytes sent. Answered with
/// <see cref="ResyncSnapshotFile"/>, or <see cref="DatabaseRequestRefused"/> when no such session is in flight.</summary>
public sealed record FindResyncSnapshot(Guid Session, long? From, long? To);

/// <summary>The answer to <see cref="FindResyncSnapshot"/>: page N of the snapshot is at offset (N-1) * page size of
/// <paramref name="Path"/>, which may still be being copied: serve the bytes asked for once <paramref name="Copied"/>
/// completes (it fails when the snapshot cannot be served). <paramref name="Length"/> is the snapshot's size once
/// copied, which the file reaches only then.</summary>
public sealed record ResyncSnapshotFile(string Path, Task Copied, long Length);

/// <summary>The answer to a request a database actor cannot serve (wrong role, not ready).</summary>
/// <param name="Transient">True when the same request can succeed if asked again shortly (the primary's tailer is
/// restarting after a failure).</param>
public sealed record DatabaseRequestRefused(string Reason, bool Transient = false);

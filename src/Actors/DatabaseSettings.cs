namespace Litecast.Actors;

/// <summary>Where a replica's database comes from: the primary node's identity and the database path there.</summary>
/// <param name="PrimaryNode">The primary's node identity (its cluster address), half of the topic key.</param>
/// <param name="PrimaryPath">The database's full path on the primary, the other half of the topic key.</param>
public sealed record UpstreamSettings(string PrimaryNode, string PrimaryPath);

/// <summary>Everything a <see cref="DatabaseActor"/> needs to know about one configured database.</summary>
public sealed record DatabaseSettings
{
    /// <summary>The database's name: its file name unless configured otherwise; used in URLs and metrics.</summary>
    public required string Name { get; init; }

    /// <summary>Full path of the local database file.</summary>
    public required string Path { get; init; }

    /// <summary>This node's identity (its cluster address); a primary publishes under it.</summary>
    public required string NodeId { get; init; }

    /// <summary>Set on replicas: where the database is replicated from. Null on the primary.</summary>
    public UpstreamSettings? Upstream { get; init; }

    public bool IsPrimary => Upstream is null;

    /// <summary>The primary runs a PASSIVE checkpoint once the WAL holds this many frames Litecast has read.</summary>
    public int CheckpointThresholdPages { get; init; } = 1000;

    /// <summary>Bytes of recent batches the primary keeps for catch-up, on disk (<see cref="RetainedLogDirectory"/>).</summary>
    public long RetainedLogBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>A replica further behind than this is unhealthy.</summary>
    public TimeSpan MaxLag { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the tailer rotates the guard, checkpoints and polls the WAL while it is changing (reads
    /// follow the WAL's change notices at once); one tick of the actor system's scheduler (hocon/akka.conf).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the whole file is hashed again (null: never): a replica compares it with the pages it applied,
    /// the primary with the stream it published; either way a difference means a page changed behind SQLite's back.</summary>
    public TimeSpan? ScrubInterval { get; init; }

    /// <summary>How often the primary publishes a heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Replica: after applied batches the position is reported to the primary at most this often (and on each
    /// heartbeat), unless the primary asked for a txid (<c>ReplicaReportWanted</c>): a report per batch would double
    /// the cluster messages of a busy stream.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Largest page payload of one cluster message; bigger transactions travel in parts. 64 KiB keeps every
    /// buffer a part goes through (the serialized message, Akka.Remote's copies of it) under .NET's large-object
    /// threshold of 85,000 bytes: parts of 256 KiB were each copied into fresh large-object arrays, which the kernel
    /// zeroes page by page, and a 100 MB transaction reached the replicas about a quarter slower.</summary>
    public int MaxPartBytes { get; init; } = 64 * 1024;

    /// <summary>Live batches a replica keeps while it catches up or resyncs; past this it catches up afterwards.</summary>
    public int MaxHeldBatches { get; init; } = 4096;

    /// <summary>Replicas: fetches whole ranges of a resync's snapshot from the primary outside the cluster's messages;
    /// null sends every page through the cluster.</summary>
    public Replica.ISnapshotFetcher? SnapshotFetcher { get; init; }

    /// <summary>What the primary's tailer needs from outside its files (WAL change notices; tests add faults).</summary>
    public Primary.ITailerEnvironment TailerEnvironment { get; init; } = Primary.TailerEnvironment.Default;

    /// <summary>The clocks the primary reads for its replicas: the wall clock only for when each was last seen, as
    /// /status shows it; the monotonic timestamp for every decision (silent, stalled, forgotten, lag), which a step of
    /// the wall clock must not change. Tests step the wall clock.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Replicas: told where the copy stands when the database actor stops (its node incarnation ended), so the
    /// node can answer for the file until the next incarnation's actor runs.</summary>
    public Action<ReplicaCopyAtStop>? Stopped { get; init; }

    /// <summary>The topic this database's batches and heartbeats travel on.</summary>
    public string Topic => Litecast.Messages.Topics.ForDatabase(Upstream?.PrimaryNode ?? NodeId, Upstream?.PrimaryPath ?? Path);

    /// <summary>Litecast's state directory for this database.</summary>
    public string StateDirectory => Storage.PositionFile.StateDirectory(Path);

    /// <summary>Where the primary keeps its retained log's segment files.</summary>
    public string RetainedLogDirectory => System.IO.Path.Combine(StateDirectory, "retained-log");

    /// <summary>Where a replica saves its position (<see cref="Storage.ReplicaPosition"/>).</summary>
    public string ReplicaPositionPath => ReplicaPositionPathOf(Path);

    /// <summary><see cref="ReplicaPositionPath"/> of the replica database at <paramref name="path"/>.</summary>
    public static string ReplicaPositionPathOf(string path) => System.IO.Path.Combine(Storage.PositionFile.StateDirectory(path), "replica.json");
}

/// <summary>Where a replica's copy stood when its actor stopped. Nothing changes the file until the next incarnation's
/// actor runs, so the copy still holds what this says.</summary>
/// <param name="Generation">The copy's generation (0: no data).</param>
/// <param name="Txid">The copy's last applied txid.</param>
/// <param name="Hash">The copy's hash at <paramref name="Txid"/>.</param>
/// <param name="PrimaryGeneration">The primary's generation as its last heartbeat gave it (0: never heard).</param>
/// <param name="CurrentAt">When the copy was last known current (a <see cref="System.Diagnostics.Stopwatch"/>
/// timestamp): its lag is the time since.</param>
/// <param name="DisconnectedSince">Since when the copy has been cut off from its primary: when the actor found it so,
/// or stopped; when a previous process's copy was found on disk, then.</param>
public sealed record ReplicaCopyAtStop(ulong Generation, ulong Txid, ulong Hash, ulong PrimaryGeneration, long CurrentAt,
    DateTimeOffset DisconnectedSince)
{
    /// <summary>The <see cref="System.Diagnostics.Stopwatch"/> timestamp of a moment <paramref name="utc"/> on the wall
    /// clock (a file's time), never later than now.</summary>
    public static long TimestampOf(DateTime utc) =>
        System.Diagnostics.Stopwatch.GetTimestamp()
        - (long)(Math.Max(0, (DateTime.UtcNow - utc).TotalSeconds) * System.Diagnostics.Stopwatch.Frequency);

    /// <summary>Whether a read-your-writes wait for <paramref name="txid"/> (of <paramref name="generation"/> when
    /// given) is answered by this copy, by the rule the running replica applies.</summary>
    public bool Reached(ulong txid, ulong? generation) => TxidWaiters.Answers(Generation, Txid, PrimaryGeneration, txid, generation);

    /// <summary>
    /// The copy a previous process left at <paramref name="path"/>, when its saved position describes it: the
    /// replica's own startup check (the file's hash is the position's; after a power loss the position can be ahead of
    /// the data). The primary's generation is taken as the copy's, the last this replica knew of it. Null when the
    /// file or the position is missing, unreadable or does not match. <paramref name="cancellation"/> stops the hash.
    /// </summary>
    public static ReplicaCopyAtStop? FromDisk(string path, CancellationToken cancellation = default)
    {
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length == 0) return null;
            var positionPath = DatabaseSettings.ReplicaPositionPathOf(path);
            if (Storage.PositionFile.Read<Storage.ReplicaPosition>(positionPath) is not { } position) return null;
            using var connection = Storage.SqliteConnections.OpenReadOnly(path);
            // As stale as its last save, as the replica's own startup counts it.
            return Storage.DatabaseHash.Compute(connection, cancellation).Value == position.Hash
                ? new ReplicaCopyAtStop(position.Generation, position.Txid, position.Hash, position.Generation,
                    TimestampOf(File.GetLastWriteTimeUtc(positionPath)), DateTimeOffset.UtcNow)
                : null;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                      or Microsoft.Data.Sqlite.SqliteException)
        {
            return null;
        }
    }
}

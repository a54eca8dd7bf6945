using System.Collections.Concurrent;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Node;

namespace Litecast.Host.Tests.Http;

/// <summary>An <see cref="ILitecastNode"/> with canned answers, recording the requests it receives.</summary>
internal sealed class FakeNode : ILitecastNode
{
    public const ulong Generation = 0x0123456789abcdef;
    public const ulong PrimaryHash = 0xfedcba9876543210;
    public const ulong ReplicaHash = 0x00000000deadbeef;
    public static readonly DateTimeOffset LastSeen = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static readonly DbConfig Primary = new() { Path = "/data/app.db", Name = "app" };
    public static readonly DbConfig Replica = new()
    {
        Path = "/data/replica/other.db",
        Name = "other.db",
        Upstream = new UpstreamConfig { Url = new Uri("http://primary:9090"), Path = "/data/other.db" },
    };

    public string NodeId { get; set; } = "akka.tcp://litecast@node1:4053";
    public IReadOnlyList<DbConfig> Databases { get; set; } = [Primary, Replica];
    public string? NodeProblem { get; set; }
    public IReadOnlyList<ClusterMember> Members { get; set; } = [new("akka.tcp://litecast@node1:4053", ["primary"], "up", true)];
    public Uri? ProxyUrl { get; set; }

    public TimeSpan? ProxyWaitTimeout { get; set; }

    /// <summary>Statuses by database name; replace to change what the node reports.</summary>
    public ConcurrentDictionary<string, DatabaseStatus> Statuses { get; } = new();

    /// <summary>Databases whose StatusAsync throws.</summary>
    public ConcurrentDictionary<string, string> StatusFailures { get; } = new();

    /// <summary>The txid a replica has reached (WaitAsync succeeds up to it, else times out).</summary>
    public ulong ReplicaReached { get; set; } = 90;

    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>When set, SyncAsync throws this unexpected exception.</summary>
    public Exception? SyncFailure { get; set; }

    public FakeNode()
    {
        Statuses[Primary.Name] = PrimaryStatus();
        Statuses[Replica.Name] = ReplicaStatus();
    }

    public static DatabaseStatus PrimaryStatus(long transactions = 100) => new(
        Primary.Name, Primary.Path, "primary", Generation, 100, PrimaryHash, null, null,
        [
            new ReplicaView("akka.tcp://litecast@r1:4053", Generation, 98, 12.5, false, LastSeen),
            new ReplicaView("akka.tcp://litecast@r2:4053", Generation, 95, 250, true, LastSeen, ReplicaStates.Resyncing),
        ],
        true, null,
        new DatabaseCounters(transactions, 409600, 2, 3, 8192, 0, 123456),
        "3.50.4");

    public static DatabaseStatus ReplicaStatus(bool healthy = true, double? lagMs = 1500, ulong? lagTxids = 10) => new(
        Replica.Name, Replica.Path, "replica", Generation, 90, ReplicaHash, lagMs, lagTxids,
        [], healthy, healthy ? null : "lag 15s exceeds max-lag 10s",
        new DatabaseCounters(90, 368640, 1, 4, 4096, 7, 65536, 2),
        "3.50.4", healthy ? ReplicaStates.Following : ReplicaStates.Stalled, LastSeen, LastScrub: new ScrubView(LastSeen, 80, 1234, Sound: true));

    public DbConfig? FindDatabase(string nameOrPath) =>
        Databases.FirstOrDefault(d => d.Name == nameOrPath || d.Path == nameOrPath || DbConfig.DefaultName(d.Path) == nameOrPath);

    public Task<DatabaseStatus> StatusAsync(DbConfig db, CancellationToken cancellation)
    {
        if (StatusFailures.TryGetValue(db.Name, out var failure))
            throw new InvalidOperationException(failure);
        return Task.FromResult(Statuses[db.Name]);
    }

    public Task<WalSynced> SyncAsync(DbConfig db, CancellationToken cancellation)
    {
        Requests.Enqueue($"sync {db.Name}");
        if (SyncFailure is not null)
            throw SyncFailure;
        if (db.Role != DbRole.Primary)
            throw new NodeRequestException($"'{db.Name}' is a replica here; sync on its primary");
        return Task.FromResult(new WalSynced(Generation, 101));
    }

    public async Task<TxidReached?> WaitAsync(DbConfig db, ulong txid, ulong? generation, TimeSpan timeout, CancellationToken cancellation)
    {
        Requests.Enqueue(generation is null ? $"wait {db.Name} {txid} {timeout.TotalMilliseconds}" : $"wait {db.Name} {txid} {timeout.TotalMilliseconds} {generation:x16}");
        ulong reached = db.Role == DbRole.Primary ? 100 : ReplicaReached;
        if (txid <= reached)
            return new TxidReached(Generation, reached);
        await Task.Delay(timeout, cancellation);
        return null;
    }

    /// <summary>True at once when enough replicas of <see cref="Statuses"/> have the txid, else false after the timeout.</summary>
    public async Task<bool> WaitForReplicasAsync(DbConfig db, ulong txid, int replicas, TimeSpan timeout, CancellationToken cancellation)
    {
        Requests.Enqueue($"wait-for-replicas {db.Name} {txid} {replicas}");
        var status = Statuses[db.Name];
        if (status.Replicas.Count(r => r.Generation == status.Generation && r.Txid >= txid) >= replicas) return true;
        await Task.Delay(timeout, cancellation);
        return false;
    }

    public Task<ResyncStarted> ResyncAsync(DbConfig db, CancellationToken cancellation)
    {
        Requests.Enqueue($"resync {db.Name}");
        if (db.Role == DbRole.Primary)
            throw new NodeRequestException($"'{db.Name}' is the primary here; only replicas resync");
        return Task.FromResult(new ResyncStarted(true, "resync from akka.tcp://litecast@primary:4053 started"));
    }

    /// <summary>Resync snapshot files by session, as a primary's resync sources would answer.</summary>
    public ConcurrentDictionary<Guid, string> ResyncSnapshots { get; } = new();

    /// <summary>The snapshots' size once copied: their files' unless a test says otherwise (a copy in progress).</summary>
    public long? ResyncSnapshotLength { get; set; }

    /// <summary>What the snapshot files' copies answer: done unless a test says otherwise.</summary>
    public Task ResyncSnapshotCopied { get; set; } = Task.CompletedTask;

    /// <summary>The byte counts the endpoint reported for each snapshot request (-1: the whole file).</summary>
    public ConcurrentQueue<long> ResyncSnapshotBytes { get; } = new();

    public Task<ResyncSnapshotFile?> ResyncSnapshotAsync(Guid session, long? from, long? to, CancellationToken cancellation)
    {
        Requests.Enqueue($"resync-snapshot {session:N}");
        if (!ResyncSnapshots.TryGetValue(session, out var path)) return Task.FromResult<ResyncSnapshotFile?>(null);
        ResyncSnapshotBytes.Enqueue(to - from + 1 ?? -1);
        return Task.FromResult<ResyncSnapshotFile?>(new ResyncSnapshotFile(path, ResyncSnapshotCopied, ResyncSnapshotLength ?? new FileInfo(path).Length));
    }
}

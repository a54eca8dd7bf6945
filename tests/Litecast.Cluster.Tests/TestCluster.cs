using Akka.Actor;
using Akka.Hosting;
using Akka.Cluster;
using Akka.Remote;
using Akka.Remote.Transport;
using Litecast.Actors;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NodeTestKit = Akka.TestKit.Xunit2.TestKit;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>One node of an in-process test cluster: an ActorSystem on loopback and its database actors.</summary>
public sealed class TestNode
{
    public required IHost Host { get; init; }
    public required ActorSystem System { get; init; }
    public required string NodeId { get; init; }
    public required Dictionary<string, IActorRef> Databases { get; init; }
    public required Address Address { get; init; }

    /// <summary>Akka.TestKit over this node's ActorSystem: AwaitConditionAsync/AwaitAssertAsync, EventFilter, probes.
    /// Never disposed: disposing a TestKit terminates its system, which <see cref="TestCluster"/> does itself.</summary>
    public required NodeTestKit Kit { get; init; }

    /// <summary>Every warning and error this node logged since it started.</summary>
    public required LogProbe Log { get; init; }

    public async Task<DatabaseStatus> StatusAsync(string name) =>
        await Databases[name].Ask<DatabaseStatus>(GetDatabaseStatus.Instance, TimeSpan.FromSeconds(10));
}

/// <summary>
/// A primary and replicas as separate ActorSystems joined into a real cluster over loopback (port 0), with timings
/// shortened for tests. The "application" writes the primary through the same native SQLite as Litecast.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    public const string TestOverrides = """
        akka.loglevel = WARNING
        akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]
        akka.cluster.split-brain-resolver.stable-after = 3s
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
        akka.cluster.failure-detector.heartbeat-interval = 200ms
        akka.cluster.gossip-interval = 200ms
        akka.cluster.pub-sub.gossip-interval = 100ms
        akka.remote.dot-netty.tcp.applied-adapters = [trttl, gremlin]
        """;

    public readonly string Directory;
    public readonly string PrimaryPath;
    private readonly ITestOutputHelper? _output;
    private readonly List<TestNode> _nodes = [];
    public TestNode Primary { get; private set; } = null!;

    /// <summary>How often the tests' AwaitConditionAsync/AwaitAssertAsync check again (TestKit's default interval is a
    /// tenth of the timeout: seconds here).</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    public List<TestNode> Replicas { get; } = [];
    public Func<DatabaseSettings, DatabaseSettings> Tune { get; init; } = s => s;

    /// <summary>HOCON that wins over <see cref="TestOverrides"/> (e.g. a longer stable-after for one test).</summary>
    public string ExtraHocon { get; init; } = "";

    public TestCluster(ITestOutputHelper? output = null)
    {
        _output = output;
        Directory = Path.Combine(Path.GetTempPath(), "litecast-cluster-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        PrimaryPath = Path.Combine(Directory, "primary", "app.db");
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(PrimaryPath)!);
    }

    /// <summary>Where the primary's tailer saves its position (<c>primary.json</c> in the state directory).</summary>
    public string PrimaryPositionPath => Path.Combine(PositionFile.StateDirectory(PrimaryPath), "primary.json");

    public string ReplicaPath(int index) => Path.Combine(Directory, $"replica{index}", "app.db");

    /// <summary>
    /// Opens the application's connection to the primary, creating the database in WAL mode: a plain connection through
    /// the same native SQLite, without Litecast's settings (closing the last one checkpoints and deletes the WAL).
    /// </summary>
    public SqliteConnection OpenApplication()
    {
        NativeSqlite.EnsureLoaded();
        var connection = new SqliteConnection($"Data Source={PrimaryPath};Pooling=False");
        connection.Open();
        connection.Execute("PRAGMA journal_mode = WAL");
        connection.Execute("PRAGMA busy_timeout = 5000");
        return connection;
    }

    /// <summary>Creates <c>t(id, payload)</c> with 4000 rows of 4000 random bytes: about 16 MB, four 4-MiB resync
    /// ranges, so a resync lasts through several demands.</summary>
    public static void CreateSixteenMegabytes(SqliteConnection app)
    {
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB)");
        app.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) INSERT INTO t(payload) SELECT randomblob(4000) FROM n");
    }

    /// <summary>Starts the primary; on a fixed <paramref name="port"/> its identity (and topic) survives a restart, and
    /// a restarted primary joins the cluster its replicas are still in.</summary>
    public async Task StartPrimaryAsync(int port = 0)
    {
        Primary = await StartNodeAsync(null, null, port, Replicas.Where(r => r is not null).Select(r => r.Address.ToString()).ToList());
    }

    /// <summary>Stops a node: gracefully (it leaves the cluster), or as a crash (blackholed first, then terminated).</summary>
    public async Task StopNodeAsync(TestNode node, bool crash = false)
    {
        if (crash)
        {
            await IsolateAsync(node);
            await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
        }
        else
        {
            await Akka.Actor.CoordinatedShutdown.Get(node.System).Run(Akka.Actor.CoordinatedShutdown.ClusterLeavingReason.Instance);
            await node.System.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
        }
        node.Host.Dispose();
        _nodes.Remove(node);
        var slot = Replicas.IndexOf(node);
        if (slot >= 0) Replicas[slot] = null!;
    }

    /// <summary>Starts replica <paramref name="index"/> (1-based); starting an index again after
    /// <see cref="CrashReplicaAsync"/> is a new incarnation of that replica on the same file.</summary>
    public async Task<TestNode> StartReplicaAsync(int index)
    {
        var replica = await StartNodeAsync(Primary, ReplicaPath(index));
        while (Replicas.Count < index) Replicas.Add(null!);
        Replicas[index - 1] = replica;
        return replica;
    }

    public TestNode Replica(int index) => Replicas[index - 1];

    /// <summary>Cuts every link between <paramref name="node"/> and the other live nodes (both directions, both
    /// sides), with the throttler's blackhole: messages are dropped silently, as on a real network partition.</summary>
    public Task IsolateAsync(TestNode node) => SetThrottleAsync(node, Blackhole.Instance);

    /// <summary>Heals what <see cref="IsolateAsync"/> cut.</summary>
    public Task HealAsync(TestNode node) => SetThrottleAsync(node, Unthrottled.Instance);

    /// <summary>Drops, silently, whatever <paramref name="from"/> sends to <paramref name="to"/>; the other direction
    /// still flows. <see cref="HealAsync"/> (of either node) restores it.</summary>
    public async Task CutOneWayAsync(TestNode from, TestNode to)
    {
        Assert.True(await Transport(from).ManagementCommand(
            new SetThrottle(to.Address, ThrottleTransportAdapter.Direction.Send, Blackhole.Instance)));
        Assert.True(await Transport(to).ManagementCommand(
            new SetThrottle(from.Address, ThrottleTransportAdapter.Direction.Receive, Blackhole.Instance)));
    }

    private async Task SetThrottleAsync(TestNode node, ThrottleMode mode)
    {
        foreach (var other in _nodes.Where(n => n != node && !n.System.WhenTerminated.IsCompleted))
        {
            Assert.True(await Transport(node).ManagementCommand(
                new SetThrottle(other.Address, ThrottleTransportAdapter.Direction.Both, mode)));
            Assert.True(await Transport(other).ManagementCommand(
                new SetThrottle(node.Address, ThrottleTransportAdapter.Direction.Both, mode)));
        }
    }

    private static RemoteTransport Transport(TestNode node) =>
        ((IRemoteActorRefProvider)((ExtendedActorSystem)node.System).Provider).Transport;

    /// <summary>Crashes replica <paramref name="index"/>: cut off first, so it cannot leave the cluster gracefully,
    /// then its ActorSystem is terminated. The survivors see it unreachable and the split-brain resolver downs it.</summary>
    public async Task CrashReplicaAsync(int index)
    {
        var node = Replica(index);
        await IsolateAsync(node);
        await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(60));
        Replicas[index - 1] = null!;
    }

    /// <summary>Starts a node the way the litecast host does (NodeHosting on an Akka.Hosting host), with the test
    /// overrides on top, and waits until its database actor runs (the node is Up).</summary>
    private async Task<TestNode> StartNodeAsync(TestNode? primary, string? replicaPath, int port = 0, List<string>? seedsForPrimary = null)
    {
        var seeds = primary is null ? seedsForPrimary ?? [] : [Akka.Cluster.Cluster.Get(primary.System).SelfAddress.ToString()];
        var endpoint = new ClusterEndpoint("127.0.0.1", port, "127.0.0.1", seeds, IsPrimary: replicaPath is null);
        NodeTestKit kit = null!;
        LogProbe log = null!;
        var host = new HostBuilder()
            .ConfigureServices(services => services.AddAkka(NodeHosting.SystemName, akka => akka
                // Before the node joins or starts its database: the log probe misses nothing it logs.
                .WithActors((system, _) =>
                {
                    kit = new NodeTestKit(system, _output);
                    log = new LogProbe(kit);
                })
                .WithLitecastNode(endpoint, nodeId =>
                [
                    Tune(new DatabaseSettings
                    {
                        Name = "app.db",
                        Path = replicaPath ?? PrimaryPath,
                        NodeId = nodeId,
                        Upstream = primary is null ? null : new UpstreamSettings(primary.NodeId, PrimaryPath),
                    }),
                ])
                .AddHocon(TestOverrides + "\n" + ExtraHocon, HoconAddMode.Prepend)))
            .Build();
        await host.StartAsync();
        var system = host.Services.GetRequiredService<ActorSystem>();
        NodeDatabases.Started started;
        try
        {
            var nodeDatabases = await host.Services.GetRequiredService<ActorRegistry>().NodeDatabasesAsync(TimeSpan.FromSeconds(30), CancellationToken.None)
                ?? throw new TimeoutException($"node {Akka.Cluster.Cluster.Get(system).SelfAddress} did not start its databases within 30 s");
            started = await nodeDatabases.Ask<NodeDatabases.Started>(NodeDatabases.GetDatabases.Instance, TimeSpan.FromSeconds(10));
        }
        catch
        {
            // A node left running would go on logging into the tests after this one; the start's failure is what
            // the test reports.
            try { await system.Terminate().WaitAsync(TimeSpan.FromSeconds(20)); }
            catch (TimeoutException) { }
            host.Dispose();
            throw;
        }
        var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
        var node = new TestNode
        {
            Host = host, System = system, NodeId = self.ToString(), Address = self, Databases = new(started.ByName), Kit = kit, Log = log,
        };
        _nodes.Add(node);
        return node;
    }

    /// <summary>
    /// The primary's bookmark. A sync caught by a tailer failure is answered with that failure, refused while the
    /// tailer restarts, or lost with the failed tailer's mailbox: it is asked again, as the HTTP layer does.
    /// </summary>
    public async Task<WalSynced> SyncAsync(TimeSpan timeout)
    {
        WalSynced? target = null;
        await Primary.Kit.AwaitConditionAsync(async () =>
        {
            try { target = await Primary.Databases["app.db"].Ask<object>(SyncWal.Instance, TimeSpan.FromSeconds(5)) as WalSynced; }
            catch (Exception) { target = null; }
            return target is not null;
        }, timeout, Poll, "the primary to answer a sync");
        return target!;
    }

    /// <summary>The primary's tailer of app.db, as it is now (a restarted tailer has another uid).</summary>
    public Task<IActorRef> PrimaryTailerAsync() =>
        Primary.System.ActorSelection(Primary.Databases["app.db"].Path / "tailer-supervisor" / "tailer").ResolveOne(TimeSpan.FromSeconds(5));

    /// <summary>Waits until every replica reports the primary's current txid and generation; on a timeout the failure
    /// says where the replica stands and why, so a failure in a loaded CI run can be understood from its log.</summary>
    public async Task WaitForReplicasAsync(TimeSpan? timeout = null)
    {
        var target = await SyncAsync(TimeSpan.FromSeconds(30));
        var max = timeout ?? TimeSpan.FromSeconds(60);
        foreach (var replica in Replicas.Where(r => r is not null))
        {
            await replica.Kit.AwaitAssertAsync(async () =>
            {
                var status = await replica.StatusAsync("app.db");
                Assert.True(status.Generation == target.Generation && status.Txid >= target.Txid,
                    $"replica {replica.NodeId} did not reach generation {target.Generation:x16} txid {target.Txid} in {max.TotalSeconds} s; " +
                    $"it is at generation {status.Generation:x16} txid {status.Txid}, state {status.State}, problem: {status.Problem}");
            }, max, Poll);
        }
        _output?.WriteLine($"replicas at generation {target.Generation:x16} txid {target.Txid}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes.AsEnumerable().Reverse())
        {
            try { await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(20)); }
            catch (TimeoutException) { }
            node.Host.Dispose();
        }
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}

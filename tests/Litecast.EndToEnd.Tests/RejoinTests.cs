using System.Diagnostics;
using Akka.Actor;
using Akka.Remote;
using Akka.Remote.Transport;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;
using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.EndToEnd.Tests;

/// <summary>A replica node downed by the split-brain resolver rejoins by itself, in the same process, with a new
/// ActorSystem incarnation, and converges.</summary>
public sealed class RejoinTests : IAsyncDisposable
{
    private const string Overrides = """
        akka.loglevel = WARNING
        akka.cluster.split-brain-resolver.stable-after = 2s
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
        akka.cluster.failure-detector.heartbeat-interval = 200ms
        akka.cluster.gossip-interval = 200ms
        akka.cluster.pub-sub.gossip-interval = 100ms
        akka.remote.dot-netty.tcp.applied-adapters = [trttl, gremlin]
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "litecast-rejoin-" + Guid.NewGuid().ToString("N"));
    private readonly List<IAsyncDisposable> _disposables = [];

    [Fact]
    public async Task DownedReplicaRejoinsWithANewIncarnationAndConverges()
    {
        var primaryPath = Path.Combine(_dir, "primary", "app.db");
        var replicaPath = Path.Combine(_dir, "replica", "app.db");
        Directory.CreateDirectory(Path.GetDirectoryName(primaryPath)!);
        NativeSqlite.EnsureLoaded();
        using var app = new SqliteConnection($"Data Source={primaryPath};Pooling=False");
        app.Open();
        app.Execute("PRAGMA journal_mode = WAL");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");

        var cluster = new ClusterConfig { Host = "127.0.0.1", Port = 0, PortIsExplicit = true, PublicHost = "127.0.0.1" };
        var primary = LitecastNode.Start(new LitecastConfig { Dbs = [new DbConfig { Path = primaryPath, Name = "app.db" }], Cluster = cluster },
            _ => { }, Overrides);
        _disposables.Add(primary);
        var server = AdminServer.Build(HttpAddress.TryParse("127.0.0.1:0", out _)!, primary);
        _disposables.Add(server);
        await server.StartAsync();
        var replica = LitecastNode.Start(new LitecastConfig
        {
            Dbs = [new DbConfig { Path = replicaPath, Name = "app.db", Upstream = new UpstreamConfig { Url = server.BaseUrl, Path = primaryPath } }],
            Cluster = cluster,
        }, _ => { }, Overrides);
        _disposables.Add(replica);

        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('before {i}')");
        await Converged(primary, replica);
        var firstIncarnation = replica.NodeId;

        // Cut the replica off: the primary's side downs it; the replica must come back by itself.
        var system = replica.CurrentSystem!;
        var transport = ((IRemoteActorRefProvider)((ExtendedActorSystem)system).Provider).Transport;
        var primaryAddress = Akka.Actor.Address.Parse(primary.NodeId);
        await transport.ManagementCommand(new SetThrottle(primaryAddress, ThrottleTransportAdapter.Direction.Both, Blackhole.Instance));
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('while cut off {i}')");
        // A reader waits on the cut-off replica for what was just written: the wait must survive the downing and be
        // answered by the next incarnation once it has the rows (issue 11, failure 3).
        var bookmark = await primary.SyncAsync(primary.Databases[0], CancellationToken.None);
        var wait = replica.WaitAsync(replica.Databases[0], bookmark.Txid, bookmark.Generation, TimeSpan.FromSeconds(90), CancellationToken.None);
        await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(wait.IsCompleted, "the wait was answered before the replica could have the rows");

        await Eventually(() => replica.NodeId.Length > 0 && replica.NodeId != firstIncarnation, "a new incarnation to join");
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('after {i}')");
        await Converged(primary, replica);
        var reached = await wait.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(reached);
        Assert.True(reached.Txid >= bookmark.Txid);
        Pages.AssertIdentical(primaryPath, replicaPath);
    }

    private static async Task Converged(LitecastNode primary, LitecastNode replica)
    {
        var watch = Stopwatch.StartNew();
        Litecast.Actors.WalSynced? synced = null;
        while (synced is null)
        {
            try { synced = await primary.SyncAsync(primary.Databases[0], CancellationToken.None); }
            catch (NodeRequestException) when (watch.Elapsed < TimeSpan.FromSeconds(30)) { await Task.Delay(100); }
        }
        while (true)
        {
            var status = await replica.StatusAsync(replica.Databases[0], CancellationToken.None);
            if (status.Generation == synced.Generation && status.Txid >= synced.Txid) return;
            if (watch.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"replica at {status.Txid} ({status.Problem}), primary at {synced.Txid}");
            await Task.Delay(100);
        }
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables)) await disposable.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}

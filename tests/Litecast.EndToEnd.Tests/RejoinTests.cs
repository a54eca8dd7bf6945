using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;
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
public sealed class RejoinTests(ITestOutputHelper output) : IAsyncDisposable
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
        var (primaryPath, replicaPath) = (PrimaryPath, ReplicaPath);
        using var app = OpenPrimaryApplication();

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
        // The node, not an incarnation, holds its database: a second node on it is still refused after the rejoin.
        var refused = Assert.Throws<IOException>(() =>
            LitecastNode.Start(new LitecastConfig { Dbs = [new DbConfig { Path = replicaPath, Name = "app.db" }], Cluster = cluster }, _ => { }));
        Assert.StartsWith($"{replicaPath} is already run by this process", refused.Message);
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('after {i}')");
        await Converged(primary, replica);
        var reached = await wait.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(reached);
        Assert.True(reached.Txid >= bookmark.Txid);
        Pages.AssertIdentical(primaryPath, replicaPath);
    }

    /// <summary>
    /// The chaos harness caught a restarted replica whose incarnation never joined: its InitJoin reached the primary every
    /// 5 s and every answer was lost, for as long as that incarnation lived. Here the primary's cluster port sits behind
    /// a relay that swallows everything until the replica's first incarnation has given up; the node must then start a
    /// new incarnation (new connections, a new UID) that joins and converges.
    /// </summary>
    [Fact]
    public async Task AJoinThatIsNeverAnsweredIsAbandonedAndANewIncarnationJoins()
    {
        var (primaryPath, replicaPath) = (PrimaryPath, ReplicaPath);
        using var app = OpenPrimaryApplication();

        var primaryPort = Ports.Free();
        using var relay = new SwallowingRelay(primaryPort);
        var primary = LitecastNode.Start(new LitecastConfig
        {
            Dbs = [new DbConfig { Path = primaryPath, Name = "app.db" }],
            Cluster = new ClusterConfig { Host = "127.0.0.1", Port = primaryPort, PortIsExplicit = true, PublicHost = "127.0.0.1", PublicPort = relay.Port },
        }, _ => { }, "akka.loglevel = WARNING");
        _disposables.Add(primary);
        await primary.Joined.WaitAsync(TimeSpan.FromSeconds(60));
        var server = AdminServer.Build(HttpAddress.TryParse("127.0.0.1:0", out _)!, primary);
        _disposables.Add(server);
        await server.StartAsync();

        var replicaLog = new ConcurrentQueue<string>();
        var watch = Stopwatch.StartNew();
        var replica = LitecastNode.Start(new LitecastConfig
        {
            Dbs = [new DbConfig { Path = replicaPath, Name = "app.db", Upstream = new UpstreamConfig { Url = server.BaseUrl, Path = primaryPath } }],
            Cluster = new ClusterConfig { Host = "127.0.0.1", Port = 0, PortIsExplicit = true, PublicHost = "127.0.0.1" },
        }, replicaLog.Enqueue, "akka.loglevel = WARNING");
        _disposables.Add(replica);
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('while unanswered {i}')");

        await Eventually(() => replicaLog.Any(line => line.Contains("could not join the cluster", StringComparison.Ordinal)),
            "the first incarnation to give up its join");
        var gaveUpAfter = watch.Elapsed;
        Assert.Equal("", replica.NodeId);
        Assert.True(relay.Swallowed > 0, "the replica never reached the primary's cluster port");
        relay.StartForwarding();

        await Eventually(() => replica.NodeId.Length > 0, "a new incarnation to join");
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('after {i}')");
        await Converged(primary, replica);
        using (var read = new SqliteConnection($"Data Source={replicaPath};Mode=ReadOnly;Pooling=False"))
        {
            read.Open();
            using var count = read.CreateCommand();
            count.CommandText = "SELECT count(*) FROM t";
            Assert.Equal(40L, (long)count.ExecuteScalar()!);
        }
        Pages.AssertIdentical(primaryPath, replicaPath);
        output.WriteLine($"first incarnation gave up after {gaveUpAfter.TotalSeconds:0.0} s, joined at {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private string PrimaryPath => Path.Combine(_dir, "primary", "app.db");

    private string ReplicaPath => Path.Combine(_dir, "replica", "app.db");

    /// <summary>The application's connection to a new primary database in WAL mode, with an empty table t.</summary>
    private SqliteConnection OpenPrimaryApplication()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(PrimaryPath)!);
        NativeSqlite.EnsureLoaded();
        var app = new SqliteConnection($"Data Source={PrimaryPath};Pooling=False");
        app.Open();
        app.Execute("PRAGMA journal_mode = WAL");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        return app;
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

    /// <summary>A TCP relay in front of a cluster port that accepts connections and swallows what they send (no answer,
    /// no close) until <see cref="StartForwarding"/>; from then on it relays new connections and closes the swallowed
    /// ones.</summary>
    private sealed class SwallowingRelay : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _targetPort;
        private readonly List<Socket> _held = [];
        private readonly CancellationTokenSource _stop = new();
        private volatile bool _forwarding;
        private long _swallowed;

        public SwallowingRelay(int targetPort)
        {
            _targetPort = targetPort;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>Bytes received and dropped while swallowing.</summary>
        public long Swallowed => Interlocked.Read(ref _swallowed);

        public void StartForwarding()
        {
            _forwarding = true;
            lock (_held)
                foreach (var socket in _held) socket.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try { client = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
                _ = Task.Run(() => _forwarding ? ForwardAsync(client) : SwallowAsync(client));
            }
        }

        private async Task SwallowAsync(Socket client)
        {
            lock (_held) _held.Add(client);
            var buffer = new byte[4096];
            try
            {
                int read;
                while ((read = await client.ReceiveAsync(buffer, _stop.Token)) > 0) Interlocked.Add(ref _swallowed, read);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { }
        }

        private async Task ForwardAsync(Socket client)
        {
            using var target = new Socket(SocketType.Stream, ProtocolType.Tcp);
            using (client)
            {
                try
                {
                    await target.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                    await Task.WhenAny(Pump(client, target), Pump(target, client));
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { }
            }
        }

        private async Task Pump(Socket from, Socket to)
        {
            var buffer = new byte[65536];
            int read;
            while ((read = await from.ReceiveAsync(buffer, _stop.Token)) > 0) await to.SendAsync(buffer.AsMemory(0, read), _stop.Token);
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            StartForwarding();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables)) await disposable.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}

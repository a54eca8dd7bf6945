using System.Diagnostics;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>A replica cut off from the cluster, or crashed and restarted, resumes from where it stopped — from the
/// primary's retained log, without a resync — and ends identical to the primary.</summary>
public class PartitionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ReplicaCutOffByShortBlackholeCatchesUpFromTheRetainedLogWithoutResync()
    {
        // The blackhole lasts longer than failure detection (the node becomes unreachable) but the split-brain
        // resolver's stable-after is long enough that nobody is downed: a short network glitch, not a partition.
        await using var cluster = new TestCluster(output) { ExtraHocon = "akka.cluster.split-brain-resolver.stable-after = 60s" };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        Write(app, 100);
        await cluster.WaitForReplicasAsync();
        var cutOff = cluster.Replica(1);
        var before = await cutOff.StatusAsync("app.db");

        await cluster.IsolateAsync(cutOff);
        var watch = Stopwatch.StartNew();
        var written = 0;
        // Paced, so the commits of the blackhole stay well inside the primary's 64 MiB retained log whatever this
        // machine's commit rate: at full speed 4 s of commits outgrow it, and a resync is then the right outcome.
        while (watch.Elapsed < TimeSpan.FromSeconds(4))
        {
            written += Write(app, 10);
            await Task.Delay(10);
        }
        var primary = await cluster.Primary.StatusAsync("app.db");
        var during = await cutOff.StatusAsync("app.db");
        output.WriteLine($"blackhole {watch.ElapsedMilliseconds} ms: {written} commits; primary at txid {primary.Txid}, cut-off replica at {during.Txid}");
        Assert.True(primary.Txid > during.Txid + 100, $"the cut-off replica kept up ({during.Txid} of {primary.Txid}): the blackhole did not cut it off");

        await cluster.HealAsync(cutOff);
        Write(app, 20);
        await cluster.WaitForReplicasAsync();

        var after = await cutOff.StatusAsync("app.db");
        Assert.Equal(before.Generation, after.Generation);
        Assert.Equal(before.Counters.Resyncs, after.Counters.Resyncs);
        Assert.Equal(0, after.Counters.LocalWritesDetected);
        for (var r = 1; r <= 2; r++) AssertSameRows(app, cluster.ReplicaPath(r));
    }

    [Fact]
    public async Task CrashedReplicaRestartsFromItsPersistedPositionWithoutResync()
    {
        // A crashed node cannot leave: do not let its Terminate wait out the default leave timeouts.
        await using var cluster = new TestCluster(output)
        {
            ExtraHocon = """
                akka.coordinated-shutdown.phases.cluster-leave.timeout = 1s
                akka.coordinated-shutdown.phases.cluster-exiting.timeout = 1s
                """,
        };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        Write(app, 200);
        await cluster.WaitForReplicasAsync();
        var generation = (await cluster.Replica(1).StatusAsync("app.db")).Generation;

        // Crash it in the middle of a stream of commits, and keep writing while it is down.
        using var stop = new CancellationTokenSource();
        var writing = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            var count = 0;
            while (!stop.IsCancellationRequested) count += Write(connection, 5);
            return count;
        }, TaskCreationOptions.LongRunning);
        await cluster.Replica(1).Kit.AwaitConditionAsync(async () => (await cluster.Replica(1).StatusAsync("app.db")).Txid > 300,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 1 to follow the stream");
        var watch = Stopwatch.StartNew();
        await cluster.CrashReplicaAsync(1);
        output.WriteLine($"replica 1 crashed in {watch.ElapsedMilliseconds} ms");
        // The stream stops before the commits made while the replica is down: unpaced, it starved those 300 of the write
        // lock for seconds and outgrew the primary's 64 MiB retained log (19015 commits in one full-suite run), and a
        // resync was then the right outcome, not what this test is about.
        stop.Cancel();
        output.WriteLine($"{await writing} commits written around the crash");
        Write(app, 300);
        var persisted = PositionFile.Read<ReplicaPosition>(Path.Combine(PositionFile.StateDirectory(cluster.ReplicaPath(1)), "replica.json"));
        Assert.NotNull(persisted);
        var primaryTxid = (await cluster.Primary.StatusAsync("app.db")).Txid;
        output.WriteLine($"persisted position of the crashed replica: txid {persisted.Txid}; primary at {primaryTxid}");
        Assert.True(persisted.Txid < primaryTxid, "the crashed replica was not behind");

        watch.Restart();
        var restarted = await cluster.StartReplicaAsync(1);
        output.WriteLine($"new incarnation of replica 1 up after {watch.ElapsedMilliseconds} ms");
        Write(app, 50);
        await cluster.WaitForReplicasAsync();

        var status = await restarted.StatusAsync("app.db");
        Assert.Equal(generation, status.Generation);
        Assert.Equal(0, status.Counters.Resyncs);
        // Everything the new incarnation applied came after the persisted txid, each txid exactly once: it started at
        // the persisted position, not at 0 and not from a snapshot.
        Assert.Equal((long)(status.Txid - persisted.Txid), status.Counters.TransactionsReplicated);
        for (var r = 1; r <= 2; r++) AssertSameRows(app, cluster.ReplicaPath(r));
    }

    /// <summary>The application's table t with 100 rows, on a started primary with replicas 1..<paramref name="replicas"/>
    /// caught up; the application's connection.</summary>
    internal static async Task<SqliteConnection> StartWithRowsAsync(TestCluster cluster, int replicas = 1)
    {
        var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        Write(app, 100);
        await cluster.StartPrimaryAsync();
        for (var r = 1; r <= replicas; r++) await cluster.StartReplicaAsync(r);
        await cluster.WaitForReplicasAsync();
        return app;
    }

    /// <summary>Commits <paramref name="count"/> single-row transactions; returns the count.</summary>
    internal static int Write(SqliteConnection connection, int count)
    {
        for (var i = 0; i < count; i++) connection.Execute($"INSERT INTO t(v) VALUES (randomblob({200 + i % 7 * 300}))");
        return count;
    }

    internal static void AssertSameRows(SqliteConnection app, string replicaPath)
    {
        Pages.AssertIdentical(app.DataSource, replicaPath);
        using var replica = SqliteConnections.OpenReadOnly(replicaPath);
        const string summary = "SELECT count(*) || ':' || coalesce(min(id), 0) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(id), 0) FROM t";
        Assert.Equal(app.Scalar<string>(summary), replica.Scalar<string>(summary));
    }
}

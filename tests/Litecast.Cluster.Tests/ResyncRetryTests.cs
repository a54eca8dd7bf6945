using Akka.Actor;
using Litecast.Actors;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": a resync that ends without a result (the replica aborts it: ResyncAborted; the primary
/// fails it: ResyncFailed) is reported and retried until it succeeds, and the replica then equals the primary.
/// </summary>
public class ResyncRetryTests(ITestOutputHelper output)
{
    /// <summary>
    /// A replica file made with page_size 8192 for a 4096-byte primary: the applier aborts every resync without
    /// touching the file, /status says why and what to do, and once the operator moves the file away the next retry
    /// builds a new file that matches the primary (the moved copy is left as it was).
    /// </summary>
    [Fact]
    public async Task ReplicaFileOfAnotherPageSizeIsReportedLeftAloneAndResyncedOnceMovedAway()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        app.Execute("INSERT INTO t(v) VALUES ('from the primary')");
        var replicaPath = cluster.ReplicaPath(1);
        Directory.CreateDirectory(Path.GetDirectoryName(replicaPath)!);
        NativeSqlite.EnsureLoaded();
        using (var other = new SqliteConnection($"Data Source={replicaPath};Pooling=False"))
        {
            other.Open();
            other.Execute("PRAGMA page_size = 8192");
            other.Execute("CREATE TABLE operators_copy(x TEXT)");
            other.Execute("INSERT INTO operators_copy VALUES ('keep me')");
        }

        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        DatabaseStatus status = null!;
        await replica.Log.WaitForCountAsync("resync failed", 2, TimeSpan.FromSeconds(60), "the resync to fail and be retried");
        await replica.Kit.AwaitConditionAsync(async () => (status = await replica.StatusAsync("app.db")).Problem?.Contains("page size 8192") == true,
            TimeSpan.FromSeconds(60), TestCluster.Poll, "the page-size mismatch to be reported");
        output.WriteLine($"problem: {status.Problem}");
        Assert.False(status.Healthy);
        Assert.Contains("4096", status.Problem);
        Assert.Contains($"move {replicaPath} away", status.Problem);
        AssertOperatorsCopy(replicaPath);

        // A failure that does not go away is retried less and less often (it was about three sessions a second, each
        // a copy and hash of the whole database on the primary), and each given-up session's snapshot goes at once.
        var sessions = replica.Log.Count("resyncing from the primary");
        await Task.Delay(TimeSpan.FromSeconds(6));
        var inWindow = replica.Log.Count("resyncing from the primary") - sessions;
        output.WriteLine($"sessions in 6 s after the first two failures: {inWindow}");
        Assert.InRange(inWindow, 0, 3);
        Assert.Contains("retrying in 00:00:0", replica.Log.All);
        var snapshots = Directory.GetFiles(PositionFile.StateDirectory(cluster.PrimaryPath), "snapshot-*");
        Assert.True(snapshots.Length <= 1, $"snapshots left on the primary: {string.Join(", ", snapshots)}");

        // The operator asking for a resync does not wait out the delay.
        var asked = replica.Log.Count("resyncing from the primary");
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);
        await replica.Log.WaitForCountAsync("resyncing from the primary", asked + 1, TimeSpan.FromSeconds(5), "the operator's resync to start");

        var moved = Path.Combine(cluster.Directory, "moved-away");
        Directory.CreateDirectory(moved);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            if (File.Exists(replicaPath + suffix)) File.Move(replicaPath + suffix, Path.Combine(moved, "app.db" + suffix));
        await cluster.WaitForReplicasAsync();

        status = await replica.StatusAsync("app.db");
        Assert.True(status.Healthy, status.Problem);
        Pages.AssertIdentical(cluster.PrimaryPath, replicaPath);
        AssertOperatorsCopy(Path.Combine(moved, "app.db"));
    }

    /// <summary>
    /// A replica that followed the primary, whose database is then replaced by one of another page size (a new
    /// generation the replica's file cannot take): its lag grows on both sides while its resyncs fail, instead of
    /// showing 0 on the replica and the last value on the primary (found by a black-box review).
    /// </summary>
    [Fact]
    public async Task AReplicaStuckInAnOlderGenerationShowsItsLagGrowing()
    {
        await using var cluster = new TestCluster(output);
        using (var app = cluster.OpenApplication())
        {
            app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
            app.Execute("INSERT INTO t(v) VALUES ('first generation')");
        }
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();

        var other = Path.Combine(cluster.Directory, "other.db");
        using (var eightK = new SqliteConnection($"Data Source={other};Pooling=False"))
        {
            eightK.Open();
            eightK.Execute("PRAGMA page_size = 8192");
            eightK.Execute("PRAGMA journal_mode = WAL");
            eightK.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
            eightK.Execute("INSERT INTO t(v) VALUES ('second generation')");
        }
        File.Move(other, cluster.PrimaryPath, overwrite: true);
        using (var app = cluster.OpenApplication()) app.Execute("INSERT INTO t(v) VALUES ('more')");
        await replica.Kit.AwaitConditionAsync(async () => (await replica.StatusAsync("app.db")).Problem?.Contains("page size 4096") == true,
            TimeSpan.FromSeconds(60), TestCluster.Poll, "the page-size mismatch to be reported");

        var first = await replica.StatusAsync("app.db");
        var firstOnPrimary = (await cluster.Primary.StatusAsync("app.db")).Replicas.Single();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var second = await replica.StatusAsync("app.db");
        var secondOnPrimary = (await cluster.Primary.StatusAsync("app.db")).Replicas.Single();
        output.WriteLine($"replica lag {first.LagMs} -> {second.LagMs} ms; on the primary {firstOnPrimary.LagMs} -> {secondOnPrimary.LagMs} ms");
        Assert.False(second.Healthy);
        Assert.True(second.LagMs >= first.LagMs + 2500, $"the replica's lag went from {first.LagMs} to {second.LagMs} ms in 3 s");
        Assert.True(secondOnPrimary.LagMs >= firstOnPrimary.LagMs + 2500,
            $"the primary's lag for the replica went from {firstOnPrimary.LagMs} to {secondOnPrimary.LagMs} ms in 3 s");
    }

    private static void AssertOperatorsCopy(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        Assert.Equal(8192, connection.Scalar<long>("PRAGMA page_size"));
        Assert.Equal("keep me", connection.Scalar<string>("SELECT x FROM operators_copy"));
    }

    /// <summary>
    /// The primary fails a resync in flight (its resync source gets a demand it cannot serve and answers ResyncFailed):
    /// the replica reports it, retries on its next tick, and converges. What the primary sends the replica is dropped
    /// until the source has started, so its offer never arrives and the source is certainly still waiting for the
    /// replica's first demand when the failure is injected; the link is healed at once (a second or so, well inside
    /// failure detection), before the failure is sent.
    /// </summary>
    [Fact]
    public async Task ResyncThePrimaryFailsIsRetriedAndConverges()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        // About 16 MB: four 4-MiB ranges, so the source lives through several demands.
        TestCluster.CreateSixteenMegabytes(app);
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var before = (await replica.StatusAsync("app.db")).Counters.Resyncs;

        await cluster.CutOneWayAsync(cluster.Primary, replica);
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);
        IActorRef? source = null;
        await cluster.Primary.Kit.AwaitConditionAsync(async () => (source = await FindResyncSource(cluster.Primary)) is not null,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "the primary's resync source to start");
        await cluster.HealAsync(replica);
        Assert.Equal(ReplicaStates.Resyncing, (await replica.StatusAsync("app.db")).State);
        // A demand for a range that was never offered: the source fails the session (ResyncSource.Fail).
        var failing = source!;
        failing.Tell(new ResyncDemand(Guid.ParseExact(failing.Path.Name["resync-".Length..], "N"), uint.MaxValue, []));
        await replica.Log.WaitForCountAsync("the primary failed the resync", 1, TimeSpan.FromSeconds(30), "the replica to hear of the failure");
        var failedStatus = await replica.StatusAsync("app.db");
        Assert.False(failedStatus.Healthy);
        Assert.Contains("resync failed: the primary failed the resync", failedStatus.Problem);

        // Retried on the replica's next tick, and this time it completes.
        await replica.Kit.AwaitConditionAsync(async () => (await replica.StatusAsync("app.db")) is { State: ReplicaStates.Following, Healthy: true },
            TimeSpan.FromSeconds(60), TestCluster.Poll, "the replica to follow again, healthy");
        Assert.Equal(before + 2, (await replica.StatusAsync("app.db")).Counters.Resyncs);
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        app.Execute("INSERT INTO t(payload) VALUES (x'01')");
        await cluster.WaitForReplicasAsync();
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
    }

    private static async Task<IActorRef?> FindResyncSource(TestNode primary)
    {
        try
        {
            var identity = await primary.System.ActorSelection($"/user/databases/{NodeDatabases.ActorName("app.db")}/resync-*").Ask<ActorIdentity>(new Identify(null), TimeSpan.FromMilliseconds(300));
            return identity.Subject;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException) { return null; }
    }
}

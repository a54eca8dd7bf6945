using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": while a replica resyncs, live batches are held back, at most MaxHeldBatches of them;
/// past that they are dropped and the replica catches up from the primary's retained log once the resync is done.
/// </summary>
public class HeldBatchOverflowTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BatchesHeldPastTheBoundDuringAResyncAreDroppedAndCaughtUpAfterwards()
    {
        // A bound of 2: a resync of an unchanged replica no longer re-reads the file after its (empty) apply and keeps
        // several ranges in flight, and is over before 8 live batches arrive (10 resyncs in a row without an overflow).
        await using var cluster = new TestCluster(output) { Tune = s => s with { MaxHeldBatches = 2 } };
        using var app = cluster.OpenApplication();
        // About 16 MB, so a resync lasts long enough for more than 2 live batches to arrive during it.
        TestCluster.CreateSixteenMegabytes(app);
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();

        using var stop = new CancellationTokenSource();
        // The application: one small commit every few ms, so batches keep arriving one by one.
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            // No fsync per commit: on a busy shared disk a synchronous commit took 50-100 ms, too few batches per resync.
            connection.Execute("PRAGMA synchronous = NORMAL");
            var commits = 0;
            while (!stop.IsCancellationRequested)
            {
                connection.Execute("INSERT INTO t(payload) VALUES (randomblob(50))");
                commits++;
                Thread.Sleep(2);
            }
            return commits;
        }, TaskCreationOptions.LongRunning);

        const string dropped = "batches held back; dropping";
        for (var attempt = 1; replica.Log.Count(dropped) == 0; attempt++)
        {
            Assert.True(attempt <= 10, "the held batches never overflowed in 10 resyncs");
            var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
            Assert.True(started.Accepted, started.Detail);
            await replica.Kit.AwaitConditionAsync(async () => (await replica.StatusAsync("app.db")).State != ReplicaStates.Resyncing,
                TimeSpan.FromSeconds(60), TestCluster.Poll, $"resync {attempt} to end");
            output.WriteLine($"resync {attempt}: {replica.Log.Count(dropped)} overflows");
        }
        stop.Cancel();
        var commits = await writer;

        await cluster.WaitForReplicasAsync();
        var status = await replica.StatusAsync("app.db");
        Assert.True(status.Healthy, status.Problem);
        output.WriteLine($"{commits} commits during the test; replica at txid {status.Txid}, {status.Counters.Resyncs} resyncs");
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        using var check = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(app.Scalar<long>("SELECT count(*) FROM t"), check.Scalar<long>("SELECT count(*) FROM t"));
    }

    /// <summary>
    /// A catch-up reply bigger than the bound: a replica restarted 100 separately published commits behind, with
    /// MaxHeldBatches 4. The reply overflows the bound; the replica must still converge without a resync (the batches
    /// are retained), in rounds, instead of losing the reply's head each time and asking again every 5 s.
    /// </summary>
    [Fact]
    public async Task CatchUpReplyBiggerThanTheBoundConvergesWithoutAResync()
    {
        await using var cluster = new TestCluster(output) { Tune = s => s with { MaxHeldBatches = 4 } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var resyncs = (await replica.StatusAsync("app.db")).Counters.Resyncs;
        await cluster.StopNodeAsync(replica);

        // One commit at a time, each synced, so each is its own batch in the retained log.
        for (var i = 0; i < 100; i++)
        {
            app.Execute($"INSERT INTO t(v) VALUES ('row {i}')");
            Assert.IsType<WalSynced>(await cluster.Primary.Databases["app.db"].Ask<object>(SyncWal.Instance, TimeSpan.FromSeconds(30)));
        }
        replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync(TimeSpan.FromSeconds(30));

        // Logged by the new incarnation, whose log probe listened from its start.
        Assert.True(replica.Log.Count("batches held back; dropping") >= 1, "the catch-up reply should have overflowed the bound");
        // Each round asks for the dropped batches at once; none waits for the catch-up timeout (it did, held batches
        // from an earlier reply past the gap kept the replica waiting 5 s a round).
        Assert.Equal(0, replica.Log.Count("did not complete within"));
        var status = await replica.StatusAsync("app.db");
        Assert.Equal(0, status.Counters.Resyncs);   // a new incarnation: its count starts at 0, and no resync was needed
        output.WriteLine($"resyncs before the restart {resyncs}, after {status.Counters.Resyncs}");
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
    }
}

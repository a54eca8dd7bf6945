using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Storage;
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
        LogCapture.Clear();
        await using var cluster = new TestCluster(output) { ExtraHocon = LogCapture.Hocon, Tune = s => s with { MaxHeldBatches = 8 } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB)");
        // About 16 MB, so a resync lasts long enough for more than 8 live batches to arrive during it.
        app.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) INSERT INTO t(payload) SELECT randomblob(4000) FROM n");
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();

        using var stop = new CancellationTokenSource();
        // The application: one small commit every few ms, so batches keep arriving one by one.
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            var commits = 0;
            while (!stop.IsCancellationRequested)
            {
                connection.Execute("INSERT INTO t(payload) VALUES (randomblob(50))");
                commits++;
                Thread.Sleep(2);
            }
            return commits;
        }, TaskCreationOptions.LongRunning);

        const string dropped = "batches held back; dropping them";
        for (var attempt = 1; LogCapture.Count(dropped) == 0; attempt++)
        {
            Assert.True(attempt <= 10, "the held batches never overflowed in 10 resyncs");
            var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
            Assert.True(started.Accepted, started.Detail);
            await TestCluster.Eventually(async () => (await replica.StatusAsync("app.db")).State != ReplicaStates.Resyncing,
                TimeSpan.FromSeconds(60), $"resync {attempt} to end");
            output.WriteLine($"resync {attempt}: {LogCapture.Count(dropped)} overflows");
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
}

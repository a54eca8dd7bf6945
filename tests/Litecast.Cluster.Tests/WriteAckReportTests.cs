using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Write acknowledgement (<c>proxy.write-ack</c>) waits for replicas to report a txid applied. A replica reports at
/// most every 100 ms after applies (and on each heartbeat), so an acknowledged write waited for the next report: 88 ms
/// at the median where the same write without write-ack took 20 ms (`proxy --smoke`). The primary now asks the replicas
/// short of the txid to report as soon as they have it.
/// </summary>
public class WriteAckReportTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AWaitForReplicasIsAnsweredByTheReplicasReportOfTheApplyNotByItsNextScheduledReport()
    {
        // The replica's own reports are made rare: its throttle at 10 minutes and the primary's heartbeats (each
        // answered with a report) 30 s apart. Only a report asked for can answer the wait within its 10 s.
        await using var cluster = new TestCluster(output)
        {
            Tune = s => s.Upstream is null
                ? s with { HeartbeatInterval = TimeSpan.FromSeconds(30) }
                : s with { ReportInterval = TimeSpan.FromMinutes(10) },
        };
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var primary = cluster.Primary.Databases["app.db"];
        await cluster.Primary.Kit.AwaitConditionAsync(async () => (await cluster.Primary.StatusAsync("app.db")).Replicas.Count == 1,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "the primary to hear of its replica");

        app.Execute("INSERT INTO t(v) VALUES ('acknowledged')");
        var synced = await cluster.SyncAsync(TimeSpan.FromSeconds(10));
        var reached = await primary.Ask<object>(new WaitForReplicas(synced.Txid, 1, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(10));

        // "Applied" is true: the row is in the replica's file when the answer comes.
        Assert.Equal(new ReplicasReached(synced.Generation, synced.Txid), reached);
        using (var reader = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1)))
            Assert.Equal(1, reader.Scalar<long>("SELECT count(*) FROM t WHERE v = 'acknowledged'"));

        // Already applied: answered at once. More replicas than there are: never answered.
        Assert.Equal(new ReplicasReached(synced.Generation, synced.Txid),
            await primary.Ask<object>(new WaitForReplicas(synced.Txid, 1, TimeSpan.FromSeconds(5)), TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<AskTimeoutException>(() =>
            primary.Ask<object>(new WaitForReplicas(synced.Txid, 2, TimeSpan.FromSeconds(2)), TimeSpan.FromSeconds(2)));
    }
}

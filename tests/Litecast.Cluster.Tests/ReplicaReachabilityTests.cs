using Litecast.Actors;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A replica calls the primary unreachable by its own failure detector. The cluster's reachability is the union of
/// every member's observations: with only the link between the primary and replica 2 cut, replica 1 was told the
/// primary was unreachable and reported itself disconnected and unhealthy while it heard every heartbeat and applied
/// every batch.
/// </summary>
public class ReplicaReachabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AReplicaThatStillHearsThePrimaryStaysFollowingWhileAnotherReplicasLinkToThePrimaryIsCut()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster, replicas: 2);
        var (hearing, cutOff) = (cluster.Replica(1), cluster.Replica(2));

        await cluster.CutOneWayAsync(cluster.Primary, cutOff);
        await cluster.CutOneWayAsync(cutOff, cluster.Primary);
        try
        {
            // Replica 1's view of the cluster now holds the primary unreachable: observed by replica 2, not by itself.
            var hearingCluster = Akka.Cluster.Cluster.Get(hearing.System);
            await hearing.Kit.AwaitConditionAsync(
                () => Task.FromResult(hearingCluster.State.Unreachable.Any(member => member.Address.Equals(cluster.Primary.Address))),
                TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 1's cluster state to hold the primary unreachable");
            Assert.True(hearingCluster.FailureDetector.IsAvailable(cluster.Primary.Address), "replica 1's own link to the primary was cut");

            PartitionTests.Write(app, 10);
            var synced = await cluster.SyncAsync(TimeSpan.FromSeconds(10));
            await hearing.Kit.AwaitAssertAsync(async () => Assert.True((await hearing.StatusAsync("app.db")).Txid >= synced.Txid),
                TimeSpan.FromSeconds(10), TestCluster.Poll);
            var status = await hearing.StatusAsync("app.db");
            Assert.Equal(ReplicaStates.Following, status.State);
            Assert.Null(status.Problem);
            PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        }
        finally
        {
            await cluster.HealAsync(cutOff);
        }
    }

    /// <summary>The other side of the same rule: a replica whose own link to the primary is cut says so, by its own
    /// failure detector, well before the heartbeats' silence passes max-lag (10 s), and before the split-brain resolver
    /// downs it.</summary>
    [Fact]
    public async Task AReplicaCutOffFromThePrimaryReportsItDisconnectedByItsOwnFailureDetector()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var replica = cluster.Replica(1);
        Assert.Equal(ReplicaStates.Following, (await replica.StatusAsync("app.db")).State);

        await cluster.CutOneWayAsync(cluster.Primary, replica);
        await cluster.CutOneWayAsync(replica, cluster.Primary);
        try
        {
            await replica.Kit.AwaitAssertAsync(async () =>
            {
                var status = await replica.StatusAsync("app.db");
                Assert.Equal(ReplicaStates.Disconnected, status.State);
                Assert.Contains("the primary is unreachable", status.Problem);
                Assert.False(status.Healthy);
            }, TimeSpan.FromSeconds(8), TestCluster.Poll);
        }
        finally
        {
            await cluster.HealAsync(replica);
        }
    }
}

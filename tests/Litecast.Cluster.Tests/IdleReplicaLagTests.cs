using System.Diagnostics;
using Litecast.Actors;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// After an idle spell the primary misjudged replicas by how old the last commit was (found by a black-box review):
/// a replica that resynced 25 s after the last commit showed 25 s of lag while it held every txid (an alert on
/// <c>litecast_lag_seconds</c> would fire on a healthy cluster), and a replica that had been current all along showed
/// <c>stalled</c> the moment the next commit was published.
/// </summary>
public class IdleReplicaLagTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(11);

    [Fact]
    public async Task AfterAnIdleSpellANewReplicaShowsNoLagAndACurrentOneIsNotStalledByTheNextCommit()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);

        // Nothing is written for longer than a replica may go without progress before it counts as stalled (10 s).
        await Task.Delay(Idle);

        var fresh = await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();
        ReplicaView? view = null;
        await cluster.Primary.Kit.AwaitAssertAsync(async () =>
        {
            view = Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas, r => r.Node == fresh.NodeId);
            Assert.NotNull(view.LagMs);
        }, TimeSpan.FromSeconds(10), TestCluster.Poll);
        Assert.NotNull(view);
        output.WriteLine($"the new replica: {view.State}, lag {view.LagMs:F0} ms");
        Assert.Equal(ReplicaStates.Following, view.State);
        Assert.True(view.LagMs < 1000, $"a replica holding every txid shows {view.LagMs:F0} ms of lag");

        // Replica 1 cannot apply the next commit: it is behind, but not for 10 s, so not stalled.
        await cluster.IsolateAsync(cluster.Replica(1));
        try
        {
            PartitionTests.Write(app, 1);
            var written = Stopwatch.StartNew();
            while (written.Elapsed < TimeSpan.FromSeconds(3))
            {
                var behind = Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas, r => r.Node == cluster.Replica(1).NodeId);
                Assert.NotEqual(ReplicaStates.Stalled, behind.State);
                await Task.Delay(TestCluster.Poll);
            }
        }
        finally
        {
            await cluster.HealAsync(cluster.Replica(1));
        }
        await cluster.WaitForReplicasAsync();
    }
}

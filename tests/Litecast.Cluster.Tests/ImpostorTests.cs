using Akka.Actor;
using Litecast.Actors;
using Litecast.Messages;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Only the primary speaks for a database. Any cluster member can send a replica's database actor the primary's
/// messages: a heartbeat from another member made that member the replica's primary (a heartbeat of a new generation
/// sent the replica's resync request, and so the whole database, to the impostor: seen in this test without the
/// check), and a batch announced txids the primary never published, so the replica counted itself behind.
/// </summary>
public class ImpostorTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TheHeartbeatAndTheBatchOfAMemberThatIsNotThePrimaryAreDropped()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster, replicas: 2);
        var (target, impostor) = (cluster.Replica(1), cluster.Replica(2));
        var at = await target.StatusAsync("app.db");
        var pageCount = (uint)Pages.Read(cluster.ReplicaPath(1)).Count;
        var targetPath = new RootActorPath(target.Address) / target.Databases["app.db"].Path.Elements;
        var targetFromImpostor = await impostor.System.ActorSelection(targetPath).ResolveOne(TimeSpan.FromSeconds(10));
        var impostorEar = impostor.Kit.CreateTestProbe("impostor");

        // Taken, this batch would tell the replica the primary is 100 txids ahead.
        targetFromImpostor.Tell(new PageBatch("app.db", at.Generation, at.Txid + 1, at.Txid + 100, 4096, pageCount, at.Hash, at.Hash, 0, 1, []),
            impostorEar.Ref);
        // Taken, this heartbeat of a new generation would make the replica ask the impostor for a resync.
        targetFromImpostor.Tell(new Heartbeat("app.db", impostor.NodeId, at.Generation + 1, 1, 0, 4096, pageCount, "3.50.4"), impostorEar.Ref);

        await target.Log.WaitForCountAsync($"dropped a PageBatch from {impostor.Address}", 1, TimeSpan.FromSeconds(10), "the impostor's batch to be dropped");
        await target.Log.WaitForCountAsync($"dropped a Heartbeat from {impostor.Address}", 1, TimeSpan.FromSeconds(10), "the impostor's heartbeat to be dropped");
        var after = await target.StatusAsync("app.db");
        Assert.Equal((at.Generation, at.Txid, at.Hash), (after.Generation, after.Txid, after.Hash));
        Assert.Equal(0UL, after.LagTxids);
        Assert.Equal(ReplicaStates.Following, after.State);
        await impostorEar.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));

        PartitionTests.Write(app, 5);
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        Assert.Equal(at.Generation, (await target.StatusAsync("app.db")).Generation);
    }
}

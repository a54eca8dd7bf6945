using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Litecast.Storage;
using Litecast.Messages;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The database's topic as a replica node receives it: a TestProbe subscribed through that node's DistributedPubSub
/// mediator, beside the replica's own database actor, sees exactly what the primary publishes.
/// </summary>
public class TopicTests(ITestOutputHelper output)
{
    private const int SmallBefore = 100;
    private const int SmallAfter = 20;
    private const int BigBytes = 1_500_000;   // about 370 pages: several parts of MaxPartBytes (64 KiB)

    /// <summary>
    /// N commits (small ones, and a big one that travels in parts) arrive as batches whose txid ranges are contiguous,
    /// in order and cover every commit exactly once; the parts of a batch come in order with its range; each batch starts
    /// from the hash the previous one ended at. The replica, fed by the same topic, holds every row.
    /// </summary>
    [Fact]
    public async Task BatchesOnTheTopicAreContiguousInOrderAndCoverEveryCommit()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var start = await cluster.SyncAsync(TimeSpan.FromSeconds(30));

        var probe = replica.Kit.CreateTestProbe("topic-subscriber");
        // Named as DatabaseSettings.Topic names it: the primary's identity and its path of the database.
        var topic = Topics.ForDatabase(cluster.Primary.NodeId, cluster.PrimaryPath);
        // Sent as the probe: the acknowledgement goes to the sender of the Subscribe.
        DistributedPubSub.Get(replica.System).Mediator.Tell(new Subscribe(topic, probe.Ref), probe.Ref);
        // The replica's own subscription already brings the topic to this node, so a heartbeat may come before the
        // acknowledgement; nothing else can (nothing was committed since the sync).
        await probe.FishForMessageAsync<SubscribeAck>(_ => true, TimeSpan.FromSeconds(10), "the subscription");
        // The next heartbeat stands where the sync did: every batch from here on is a commit made below.
        var heartbeat = await probe.ExpectMsgAsync<Heartbeat>(TimeSpan.FromSeconds(30));
        Assert.Equal((start.Generation, start.Txid), (heartbeat.Generation, heartbeat.Txid));

        for (var i = 0; i < SmallBefore; i++) app.Execute($"INSERT INTO t(v) VALUES (randomblob({100 + i % 7 * 50}))");
        app.Execute($"INSERT INTO t(v) VALUES (randomblob({BigBytes}))");
        for (var i = 0; i < SmallAfter; i++) app.Execute("INSERT INTO t(v) VALUES (randomblob(100))");
        const int commits = SmallBefore + 1 + SmallAfter;
        var end = await cluster.SyncAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(start.Generation, end.Generation);
        Assert.Equal(start.Txid + commits, end.Txid);

        var next = start.Txid + 1;
        var hash = heartbeat.Hash;
        var (batches, multiPart) = (0, 0);
        while (next <= end.Txid)
        {
            // Heartbeats interleave with the batches: fish past them.
            var first = await probe.FishForMessageAsync<PageBatch>(_ => true, TimeSpan.FromSeconds(30), $"the batch starting at txid {next}");
            Assert.Equal(start.Generation, first.Generation);
            Assert.Equal(next, first.FirstTxid);
            Assert.True(first.LastTxid >= first.FirstTxid && first.LastTxid <= end.Txid, $"batch {first.FirstTxid}..{first.LastTxid}");
            Assert.Equal(0, first.Part);
            Assert.Equal(hash, first.PreHash);
            var last = first;
            for (var part = 1; part < first.PartCount; part++)
            {
                last = await probe.FishForMessageAsync<PageBatch>(_ => true, TimeSpan.FromSeconds(30), $"part {part} of batch {first.FirstTxid}..{first.LastTxid}");
                Assert.Equal((first.FirstTxid, first.LastTxid, part, first.PartCount), (last.FirstTxid, last.LastTxid, last.Part, last.PartCount));
            }
            hash = last.PostHash;
            next = first.LastTxid + 1;
            batches++;
            if (first.PartCount > 1) multiPart++;
        }
        output.WriteLine($"{commits} commits arrived as {batches} batches ({multiPart} in parts), txids {start.Txid + 1}..{end.Txid}");
        Assert.True(multiPart >= 1, "the big transaction should have travelled in parts");

        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        using var read = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(commits, read.Scalar<long>("SELECT count(*) FROM t"));
        Assert.Equal(BigBytes, read.Scalar<long>($"SELECT length(v) FROM t WHERE id = {SmallBefore + 1}"));
        // The last batch's post-hash is the replica file's hash, read back from SQLite.
        Assert.Equal(hash, DatabaseHash.Compute(read).Value);
    }
}

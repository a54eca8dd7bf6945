using Akka.Actor;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": a batch that continues the replica's txids but not its hash reaches the applier (nothing
/// earlier can see it: data_version and the startup check only watch the file). The replica must refuse it, resync,
/// and end equal to the primary; its readers never see the batch's pages.
/// </summary>
public class ApplyTimeHashMismatchTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("pre")]
    [InlineData("post")]
    public async Task BatchThatDoesNotFitTheReplicasHashIsNeverAppliedAndTheReplicaResyncs(string wrong)
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        for (var i = 0; i < 20; i++) app.Execute($"INSERT INTO t(v) VALUES ('row {i}')");
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var status = await replica.StatusAsync("app.db");
        var pageCount = (uint)Pages.Read(cluster.ReplicaPath(1)).Count;

        // The next txid of the replica's generation, in the database's page size and size, from "the primary": page 2
        // overwritten with a pattern that would make the file malformed if it were ever committed. With the wrong
        // pre-hash the applier must not write it; with the right pre-hash and a wrong post-hash it must roll it back.
        var poison = new PageImage(2, Enumerable.Repeat((byte)0x5a, 4096).ToArray());
        var pre = wrong == "pre" ? status.Hash ^ 0x1 : status.Hash;
        var batch = new PageBatch("app.db", status.Generation, status.Txid + 1, status.Txid + 1, 4096, pageCount, pre, 0x1234_5678_9abc_def0, 0, 1, [poison]);
        // The applier refuses it once, saying why, and the replica resyncs once for that reason (the database actor's
        // warning repeats the applier's reason, so each filter tells them apart by source).
        var refusal = wrong == "pre" ? "matches neither side" : "would leave hash";
        var kit = replica.Kit;
        await kit.EventFilter.Custom<Warning>(w => w.LogSource.EndsWith("/applier") && $"{w.Message}".Contains(refusal)).ExpectOneAsync(TimeSpan.FromSeconds(30), () =>
            kit.EventFilter.Custom<Warning>(w => $"{w.Message}".StartsWith("app.db: resyncing from the primary (") && $"{w.Message}".Contains(refusal))
                .ExpectOneAsync(TimeSpan.FromSeconds(30), async () =>
                {
                    replica.Databases["app.db"].Tell(batch);
                    await kit.AwaitConditionAsync(async () => (await replica.StatusAsync("app.db")).Counters.Resyncs > status.Counters.Resyncs,
                        TimeSpan.FromSeconds(30), TestCluster.Poll, "the replica to resync after the rejected batch");
                }));
        // The primary never published txid + 1: the replica's position comes from the resync, not from the batch.
        await cluster.WaitForReplicasAsync();
        Assert.Equal(status.Txid, (await replica.StatusAsync("app.db")).Txid);
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));

        // And replication goes on from there.
        app.Execute("INSERT INTO t(v) VALUES ('after the rejected batch')");
        await cluster.WaitForReplicasAsync();
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        using var check = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(21, check.Scalar<long>("SELECT count(*) FROM t"));
    }
}

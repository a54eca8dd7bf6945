using System.Diagnostics;
using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Primary;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": the tailer dies after publishing the first part of a multi-part batch (the fault hook
/// <see cref="TailerFaults"/> at <see cref="TailerPoint.PartPublished"/>). Replicas hold half a transaction in an open apply; the
/// restarted tailer re-establishes from the saved position and publishes the transaction again, whole. Nothing may be
/// lost, duplicated or half-applied.
/// </summary>
public class TailerMidPublishCrashTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TailerKilledAfterTheFirstPartOfABatchIsRestartedAndReplicasConverge()
    {
        var faults = new TailerFaults();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = faults } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB)");
        // Committed before Litecast starts: commits racing the replicas' first resyncs can fail a snapshot (a pre-existing
        // issue, seen once: "could not pin a snapshot where the tailer stopped"), which is not what this test is about.
        for (var i = 0; i < 10; i++) app.Execute("INSERT INTO t(payload) VALUES (randomblob(100))");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();
        var before = await cluster.Primary.StatusAsync("app.db");
        var replicasBefore = await Task.WhenAll(cluster.Replicas.Select(r => r.StatusAsync("app.db")));
        // The position is saved lazily (at most once a second): wait until it is saved where the replicas are, so the
        // restarted tailer resumes from exactly there and republishes only the crashed transaction.
        var saved = cluster.PrimaryPositionPath;
        await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(PositionFile.Read<PrimaryPosition>(saved)?.Txid == before.Txid),
            TimeSpan.FromSeconds(30), TestCluster.Poll, "the primary to save its position");

        var database = cluster.Primary.Databases["app.db"];
        var tailerPath = database.Path / "tailer-supervisor" / "tailer";
        var tailer = await cluster.Primary.System.ActorSelection(tailerPath).ResolveOne(TimeSpan.FromSeconds(10));
        faults.Arm(TailerPoint.PartPublished, "crash mid-publish");

        // 3 MB in one transaction: about 735 pages, 12 parts of 64 pages.
        app.Execute("INSERT INTO t(payload) VALUES (randomblob(3000000))");
        await cluster.Primary.Kit.AwaitConditionAsync(async () =>
        {
            try { return (await cluster.Primary.System.ActorSelection(tailerPath).ResolveOne(TimeSpan.FromSeconds(2))).Path.Uid != tailer.Path.Uid; }
            catch (ActorNotFoundException) { return false; }
        }, TimeSpan.FromSeconds(30), TestCluster.Poll, "a new tailer incarnation after the crash");
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) app.Execute("INSERT INTO t(payload) VALUES (randomblob(100))");
        await cluster.WaitForReplicasAsync(TimeSpan.FromSeconds(90));
        output.WriteLine($"replicas converged {watch.Elapsed.TotalSeconds:F1} s after the new tailer started");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"converging took {watch.Elapsed.TotalSeconds:F1} s: as long as a stall");

        var after = await cluster.Primary.StatusAsync("app.db");
        // The WAL continued from the saved position: same generation, every commit exactly one txid.
        Assert.Equal(before.Generation, after.Generation);
        Assert.Equal(before.Txid + 6, after.Txid);
        for (var r = 1; r <= 2; r++)
        {
            var status = await cluster.Replica(r).StatusAsync("app.db");
            output.WriteLine($"replica {r}: resyncs {replicasBefore[r - 1].Counters.Resyncs} -> {status.Counters.Resyncs}, stalls {status.Counters.Stalls}");
            Assert.True(status.Healthy, status.Problem);
            // The republished batch replaces the half one at once: no stall (the replica used to wait 10 s for parts
            // that never came, reported a stall, and resynced after 20 s), no resync.
            Assert.Equal(replicasBefore[r - 1].Counters.Stalls, status.Counters.Stalls);
            Assert.Equal(replicasBefore[r - 1].Counters.Resyncs, status.Counters.Resyncs);
            Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(r));
            using var check = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(r));
            Assert.Equal(16, check.Scalar<long>("SELECT count(*) FROM t"));
        }
    }
}

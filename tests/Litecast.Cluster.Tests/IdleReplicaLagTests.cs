using System.Diagnostics;
using Litecast.Actors;
using Litecast.Storage;
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

/// <summary>
/// A replica whose applier is restarted (here a stall leads to a resync: another connection holds the replica's write
/// lock, as a reader that wrongly opened it for writing would) counted its lag from its position file's last save, that
/// is from the last batch it applied, even when the primary had been idle since and the replica current all along: its
/// lag jumped by the idle time (found by a black-box review: 8.6 s to 57.8 s in 3 s). It counts from when it was last
/// current.
/// </summary>
public class ApplierRestartLagTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(15);

    /// <summary>Past the stall (10 s) and the resync it leads to (20 s), as long as the review held its lock.</summary>
    private static readonly TimeSpan Locked = TimeSpan.FromSeconds(24);

    [Fact]
    public async Task AnApplierRestartDoesNotAddThePrimarysIdleTimeToTheLag()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        await Task.Delay(Idle);

        double worst = 0;
        var episode = Stopwatch.StartNew();
        using (var locker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={cluster.ReplicaPath(1)};Pooling=False"))
        {
            locker.Open();
            locker.Execute("BEGIN IMMEDIATE");
            while (episode.Elapsed < Locked)
            {
                PartitionTests.Write(app, 1);
                var status = await cluster.Replica(1).StatusAsync("app.db");
                output.WriteLine($"{episode.Elapsed.TotalSeconds:F1} s: {status.State}, lag {status.LagMs:F0} ms");
                worst = Math.Max(worst, status.LagMs ?? 0);
                await Task.Delay(250);
            }
            locker.Execute("ROLLBACK");
        }
        await cluster.WaitForReplicasAsync();
        output.WriteLine($"worst lag {worst:F0} ms in an episode of {episode.Elapsed.TotalMilliseconds:F0} ms after {Idle.TotalSeconds} s idle");
        Assert.True(worst <= episode.Elapsed.TotalMilliseconds + 2000,
            $"the replica showed {worst:F0} ms of lag within {episode.Elapsed.TotalMilliseconds:F0} ms of falling behind");
    }
}

/// <summary>A replica's own counters: its WAL's size and the bytes its resyncs received were always 0 (found by a
/// black-box review), so <c>litecast_wal_bytes</c> and <c>litecast_resync_bytes_total</c> said nothing on replicas.</summary>
public class ReplicaCountersTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AReplicaCountsItsResyncBytesAndItsWalSize()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var replica = cluster.Replica(1);
        var pageBytes = new FileInfo(cluster.ReplicaPath(1)).Length;

        // The replica started empty: its first resync received every page of the copy.
        var counters = (await replica.StatusAsync("app.db")).Counters;
        Assert.Equal(1, counters.Resyncs);
        Assert.True(counters.ResyncBytes >= pageBytes, $"{counters.ResyncBytes} resync bytes for a {pageBytes}-byte copy");

        // Each round writes, so the replica's WAL holds frames; its size is compared when it did not change around the ask.
        var wal = cluster.ReplicaPath(1) + "-wal";
        await replica.Kit.AwaitAssertAsync(async () =>
        {
            PartitionTests.Write(app, 5);
            await cluster.WaitForReplicasAsync();
            var before = File.Exists(wal) ? new FileInfo(wal).Length : 0;
            var reported = (await replica.StatusAsync("app.db")).Counters.WalBytes;
            var after = File.Exists(wal) ? new FileInfo(wal).Length : 0;
            Assert.True(before == after && reported == after && after > 0, $"reported {reported}, the WAL is {before} then {after} bytes");
        }, TimeSpan.FromSeconds(30), TestCluster.Poll);
    }
}

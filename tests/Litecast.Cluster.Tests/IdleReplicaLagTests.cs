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

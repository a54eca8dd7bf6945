using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Primary;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A resync's snapshot is copied on a thread of its own: while one replica's copy is under way (1.6-2.5 s for 1.1 GiB
/// when it ran on the tailer), the tailer keeps publishing to every other replica and answering /sync. Here the copy is
/// held at its start until the test lets it go.
/// </summary>
public class SnapshotCopyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task OtherReplicasKeepFollowingWhileAResyncSnapshotIsCopied()
    {
        var copies = new HeldSnapshotCopies();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = copies } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();

        copies.Hold();
        var resyncsBefore = (await cluster.Replica(2).StatusAsync("app.db")).Counters.Resyncs;
        await cluster.Replica(2).Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(copies.CopyStarted.Wait(TimeSpan.FromSeconds(30)), "the resync's snapshot copy never started");

        PartitionTests.Write(app, 50);
        var synced = await cluster.SyncAsync(TimeSpan.FromSeconds(10));
        await cluster.Replica(1).Kit.AwaitConditionAsync(async () => (await cluster.Replica(1).StatusAsync("app.db")).Txid >= synced.Txid,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 1 to follow while replica 2's snapshot copy is held");
        Assert.True(copies.Holding, "the copy was let go before replica 1 caught up");
        Assert.Equal(ReplicaStates.Resyncing, (await cluster.Replica(2).StatusAsync("app.db")).State);
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));

        copies.Release();
        await cluster.Replica(2).Kit.AwaitConditionAsync(async () =>
        {
            var status = await cluster.Replica(2).StatusAsync("app.db");
            return status.Counters.Resyncs > resyncsBefore && status.State != ReplicaStates.Resyncing;
        }, TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 2's resync to complete");
        PartitionTests.Write(app, 10);
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(2));
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(2));
    }

    /// <summary>Holds every snapshot copy at its start while <see cref="Holding"/>; otherwise the production
    /// environment.</summary>
    private sealed class HeldSnapshotCopies : ITailerEnvironment
    {
        private readonly ManualResetEventSlim _go = new(true);

        /// <summary>Set once a copy reached its start while held.</summary>
        public ManualResetEventSlim CopyStarted { get; } = new(false);

        public bool Holding => !_go.IsSet;

        public void Hold() => _go.Reset();

        public void Release() => _go.Set();

        public IDisposable? WatchWal(string walPath, Action changed) => TailerEnvironment.Default.WatchWal(walPath, changed);

        public void Reached(TailerPoint point)
        {
            if (point != TailerPoint.SnapshotCopying || !Holding) return;
            CopyStarted.Set();
            if (!_go.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the test never let the snapshot copy go");
        }
    }
}

using System.Diagnostics;
using System.Runtime;
using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Primary;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A resync's snapshot is copied on a thread of its own: while one replica's copy is under way (1.6-2.5 s for 1.1 GiB
/// when it ran on the tailer), the tailer keeps publishing to every other replica and answering /sync, and the replica
/// being resynced is offered its ranges while the copy runs. Here the copy is held at its start until the test lets it
/// go, or fails.
/// </summary>
public class SnapshotCopyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task OtherReplicasKeepFollowingWhileAResyncSnapshotIsCopied()
    {
        var copies = new HeldSnapshotCopies();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = copies } };
        using var app = await PartitionTests.StartWithRowsAsync(cluster, replicas: 2);

        copies.Hold();
        var resyncsBefore = (await cluster.Replica(2).StatusAsync("app.db")).Counters.Resyncs;
        // A local write, so that the resync needs pages from the snapshot (a replica whose pages all match the offered
        // hashes is done without them).
        using (var rogue = SqliteConnections.OpenExisting(cluster.ReplicaPath(2)))
            rogue.Execute("UPDATE t SET v = zeroblob(100) WHERE id = 1");
        Assert.True(copies.CopyStarted.Wait(TimeSpan.FromSeconds(30)), "the resync's snapshot copy never started");

        PartitionTests.Write(app, 50);
        var synced = await cluster.SyncAsync(TimeSpan.FromSeconds(10));
        await cluster.Replica(1).Kit.AwaitConditionAsync(async () => (await cluster.Replica(1).StatusAsync("app.db")).Txid >= synced.Txid,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 1 to follow while replica 2's snapshot copy is held");
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        // The offers do not wait for the copy: replica 2 knows the snapshot's size while the copy has not begun.
        await cluster.Replica(2).Kit.AwaitConditionAsync(async () => (await cluster.Replica(2).StatusAsync("app.db")).Resync is { PagesTotal: > 0 },
            TimeSpan.FromSeconds(30), TestCluster.Poll, "replica 2 to be offered the snapshot's ranges");
        Assert.True(copies.Holding, "the copy was let go before the checks above");
        Assert.Equal(ReplicaStates.Resyncing, (await cluster.Replica(2).StatusAsync("app.db")).State);

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

    [Fact]
    public async Task AResyncWhoseSnapshotCopyFailsIsAskedForAgainAndEndsIdenticalToThePrimary()
    {
        var copies = new HeldSnapshotCopies();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = copies } };
        using var app = await PartitionTests.StartWithRowsAsync(cluster);

        copies.FailNext();
        var resyncsBefore = (await cluster.Replica(1).StatusAsync("app.db")).Counters.Resyncs;
        await cluster.Replica(1).Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        await cluster.Primary.Log.WaitForCountAsync(HeldSnapshotCopies.Failure, 1, TimeSpan.FromSeconds(30),
            "the primary to log the failed snapshot copy");
        PartitionTests.Write(app, 20);

        await cluster.Replica(1).Kit.AwaitConditionAsync(async () =>
        {
            var status = await cluster.Replica(1).StatusAsync("app.db");
            return status.Counters.Resyncs > resyncsBefore && status.State != ReplicaStates.Resyncing;
        }, TimeSpan.FromSeconds(60), TestCluster.Poll, "replica 1's resync to complete after the failed copy");
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// A snapshot that fails after it was pinned (here its file cannot be created) leaves no read transaction open
    /// behind it: the application's own TRUNCATE checkpoint still completes, which a pinned read of the old WAL would
    /// block for as long as it stayed open. A connection left open is closed by its finalizer at some garbage
    /// collection, which in this busy test process comes within seconds: the check runs in a region without one.
    /// </summary>
    [Fact]
    public async Task ASnapshotWhoseFileCannotBeCreatedLeavesNoReadPinned()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var tailer = await cluster.PrimaryTailerAsync();
        var unwritable = Path.Combine(cluster.Directory, "no-such-directory", "snapshot.pages");

        using var checkpointer = cluster.OpenApplication();
        checkpointer.Execute("PRAGMA busy_timeout = 100");

        Assert.True(GC.TryStartNoGCRegion(200_000_000), "could not suspend garbage collection");
        try
        {
            var failure = await Assert.ThrowsAnyAsync<IOException>(() => tailer.Ask<object>(new WalTailer.TakeSnapshot(unwritable), TimeSpan.FromSeconds(10)));
            Assert.Contains("no-such-directory", failure.Message);
            PartitionTests.Write(app, 50);
            var truncated = false;
            for (var watch = Stopwatch.StartNew(); !truncated && watch.Elapsed < TimeSpan.FromSeconds(3); Thread.Sleep(10))
                truncated = checkpointer.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)") == 0;
            Assert.True(truncated, "the application's TRUNCATE checkpoint stayed busy after the failed snapshot");
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode); // no collection closed a leaked connection meanwhile
        }
        finally
        {
            if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
        Assert.Equal(0, new FileInfo(WalFormat.WalPath(cluster.PrimaryPath)).Length);
        PartitionTests.Write(app, 10);
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// The tailer copies one snapshot at a time; a request queued behind a copy until its requester stopped waiting
    /// (the primary's Ask timed out) is refused, and its file is never created. Taken after all, that file was left
    /// behind until the next start, a whole copy of the database, and the tailer spent the copy on nobody.
    /// </summary>
    [Fact]
    public async Task ASnapshotRequestStillQueuedWhenItsRequesterGaveUpIsRefusedAndCreatesNoFile()
    {
        var copies = new HeldSnapshotCopies();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = copies } };
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var tailer = await cluster.PrimaryTailerAsync();
        var first = Path.Combine(cluster.Directory, "first.pages");
        var queued = Path.Combine(cluster.Directory, "queued.pages");

        copies.Hold();
        var taken = await tailer.Ask<WalTailer.SnapshotTaken>(new WalTailer.TakeSnapshot(first), TimeSpan.FromSeconds(10));
        Assert.True(copies.CopyStarted.Wait(TimeSpan.FromSeconds(30)), "the first snapshot's copy never started");
        var answerWithin = TimeSpan.FromMilliseconds(200);
        var asked = Stopwatch.StartNew();
        var refused = tailer.Ask<object>(new WalTailer.TakeSnapshot(queued, answerWithin), TimeSpan.FromSeconds(30));
        // The first copy is held until the queued request has waited longer than its requester would.
        await Task.Delay(answerWithin - asked.Elapsed + TimeSpan.FromMilliseconds(50));
        Assert.False(refused.IsCompleted, "the queued request was answered while the first copy was held");
        copies.Release();

        var failure = await Assert.ThrowsAsync<TimeoutException>(() => refused);
        Assert.Contains("queued.pages", failure.Message);
        await taken.Copy.WhenCopied(taken.Copy.Length);
        Assert.False(File.Exists(queued), "the refused snapshot's file was created");
        Assert.Equal(taken.Copy.Length, new FileInfo(first).Length);
    }

    /// <summary>Holds every snapshot copy at its start while <see cref="Holding"/>, or fails the next one; otherwise the
    /// production environment.</summary>
    private sealed class HeldSnapshotCopies : ITailerEnvironment
    {
        private readonly ManualResetEventSlim _go = new(true);

        /// <summary>Set once a copy reached its start while held.</summary>
        public ManualResetEventSlim CopyStarted { get; } = new(false);

        public bool Holding => !_go.IsSet;

        public void Hold() => _go.Reset();

        public void Release() => _go.Set();

        /// <summary>What the failed copy throws, and so what the primary logs.</summary>
        public const string Failure = "test: the snapshot copy failed";

        private int _failNext;

        public void FailNext() => Volatile.Write(ref _failNext, 1);

        public IDisposable? WatchWal(string walPath, Action changed) => TailerEnvironment.Default.WatchWal(walPath, changed);

        public void Reached(TailerPoint point)
        {
            if (point != TailerPoint.SnapshotCopying) return;
            if (Interlocked.Exchange(ref _failNext, 0) == 1) throw new IOException(Failure);
            if (!Holding) return;
            CopyStarted.Set();
            if (!_go.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the test never let the snapshot copy go");
        }
    }
}

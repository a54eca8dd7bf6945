using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The tailer keeps the database's hash from the stream of pages it publishes, and hashes the file again where it
/// stands for each resync's snapshot and at each scrub. When the two disagree, the file was changed by something other
/// than SQLite's WAL (a tool writing the file in place, a restore over it, a bad disk): the snapshot is not served as a
/// continuation of the stream it contradicts; the tailer starts a new generation from the file, and every replica
/// follows it.
/// </summary>
public class StreamHashMismatchTests(ITestOutputHelper output)
{
    private const string Contradicted = "differs from the stream's";

    [Fact]
    public async Task APageChangedBehindSqlitesBackIsFoundAtTheNextSnapshotAndStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output);
        using var app = await Needle.StartClusterAsync(cluster);
        var replica = cluster.Replica(1);
        var before = await replica.StatusAsync("app.db");

        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Needle.Original, Needle.Rewritten);
        PartitionTests.Write(app, 10);
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);

        await cluster.Primary.Log.WaitForCountAsync(Contradicted, 1, TimeSpan.FromSeconds(30),
            "the primary to find that its file and its stream disagree");
        await AssertNewGenerationFromTheFileAsync(cluster, app, before);
    }

    [Fact]
    public async Task APageChangedBehindSqlitesBackIsFoundByThePrimarysScrubAndStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output)
        {
            // Info, so that the log probe sees each scrub that found the file sound.
            ExtraHocon = "akka.loglevel = INFO",
            Tune = s => s.IsPrimary ? s with { ScrubInterval = TimeSpan.FromSeconds(1) } : s,
        };
        using var app = await Needle.StartClusterAsync(cluster);
        var primary = cluster.Primary;
        var before = await cluster.Replica(1).StatusAsync("app.db");

        // Sound while the application writes: three scrubs in a row agree with the stream.
        await Needle.WriteThroughThreeScrubsAsync(cluster, primary, output);
        Assert.Equal(0, primary.Log.Count(Contradicted));
        Assert.True((await primary.StatusAsync("app.db")).LastScrub is { Sound: true, Pages: > 0 });

        // No resync asks for a snapshot: the next scrub finds the rewritten page.
        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Needle.Original, Needle.Rewritten);
        await primary.Log.WaitForCountAsync(Contradicted, 1, TimeSpan.FromSeconds(30), "the primary's scrub to find that its file and its stream disagree");
        await AssertNewGenerationFromTheFileAsync(cluster, app, before);
        await primary.Log.WaitForCountAsync(Needle.ScrubVerified, primary.Log.Count(Needle.ScrubVerified) + 1, TimeSpan.FromSeconds(30),
            "a scrub of the new generation");
        Assert.True((await primary.StatusAsync("app.db")).LastScrub is { Sound: true });
    }

    /// <summary>
    /// The position is saved at most once a second, so while the application writes, the WAL holds commits after the
    /// saved position and proves that it continues from there. The saved hash came from the stream the file contradicts:
    /// a new generation starts all the same. The tailer used to continue the saved generation then (the scrub test above
    /// failed about one run in ten), and the replica kept the generation of a stream that was not the database's.
    /// </summary>
    [Fact]
    public async Task AContradictionFoundWhileTheWalContinuesTheSavedPositionStillStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output);
        using var app = await Needle.StartClusterAsync(cluster);
        var replica = cluster.Replica(1);
        var before = await replica.StatusAsync("app.db");
        var saved = cluster.PrimaryPositionPath;
        var savedAtStart = PositionFile.Read<PrimaryPosition>(saved)!.Txid;

        using var stop = new CancellationTokenSource();
        // Slow enough that no checkpoint restarts the WAL before the snapshot (a commit writes two pages).
        var writer = Needle.WriteUntilStopped(cluster, TimeSpan.FromMilliseconds(20), stop.Token);
        // A position saved inside the WAL the application is writing.
        await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(PositionFile.Read<PrimaryPosition>(saved)!.Txid > savedAtStart),
            TimeSpan.FromSeconds(30), TestCluster.Poll, "the primary to save a position in the WAL being written");

        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Needle.Original, Needle.Rewritten);
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);
        await cluster.Primary.Log.WaitForCountAsync(Contradicted, 1, TimeSpan.FromSeconds(30),
            "the primary to find that its file and its stream disagree");
        await stop.CancelAsync();
        await writer;
        await AssertNewGenerationFromTheFileAsync(cluster, app, before);
    }

    /// <summary>The replica followed a new generation taken from the primary's file as it is: it reads the rewritten
    /// row and is page-for-page the primary.</summary>
    private static async Task AssertNewGenerationFromTheFileAsync(TestCluster cluster, SqliteConnection app, DatabaseStatus before)
    {
        await cluster.WaitForReplicasAsync();
        var after = await cluster.Replica(1).StatusAsync("app.db");
        Assert.NotEqual(before.Generation, after.Generation);
        Assert.Equal(Needle.Rewritten, Needle.Read(cluster.ReplicaPath(1)));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }
}

using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A replica checks each batch against the primary's hash, but only through the pages the batch writes: a page of the
/// replica's file changed behind SQLite's back (a tool editing it in place, a restore over it, a bad disk) would be
/// served to its readers until some batch overwrote it. The scrub hashes the whole file again every
/// <c>scrub-interval</c>, compares it with the pages applied, and resyncs when they differ; while the file is sound it
/// finds nothing, batches arriving meanwhile included.
/// </summary>
public class ReplicaScrubTests(ITestOutputHelper output)
{
    private const string Damaged = "behind SQLite's back";
    private const string ResyncStarted = "resyncing from the primary";

    [Fact]
    public async Task AScrubFindsNothingWhileBatchesArriveAndResyncsAPageChangedBehindSqlitesBack()
    {
        await using var cluster = new TestCluster(output)
        {
            // Info, so that the log probes see each scrub that found the file sound.
            ExtraHocon = "akka.loglevel = INFO",
            Tune = s => s.IsPrimary ? s : s with { ScrubInterval = TimeSpan.FromSeconds(1) },
        };
        using var app = await Needle.StartClusterAsync(cluster);
        var replica = cluster.Replica(1);
        var resyncsAtStart = replica.Log.Count(ResyncStarted);

        // 1. Sound file, batches arriving all along: three scrubs in a row verify it, none resyncs.
        await Needle.WriteThroughThreeScrubsAsync(cluster, replica, output);
        Assert.Equal(0, replica.Log.Count(Damaged));
        Assert.Equal(resyncsAtStart, replica.Log.Count(ResyncStarted));
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: true, Pages: > 0 });
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));

        // 2. The needle's page is in the replica's database file and no batch wrote it since: the rewrite is the only
        // copy its readers see. The next scrub finds it and the replica resyncs that page from the primary.
        var before = await replica.StatusAsync("app.db");
        RawFileEdit.RewriteInPlace(cluster.ReplicaPath(1), Needle.Original, Needle.Rewritten);
        Assert.Equal(Needle.Rewritten, Needle.Read(cluster.ReplicaPath(1)));
        await replica.Log.WaitForCountAsync(Damaged, 1, TimeSpan.FromSeconds(30), "a scrub to find the page changed behind SQLite's back");
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: false }, "the status shows the damaged scrub");
        await replica.Log.WaitForCountAsync(ResyncStarted, resyncsAtStart + 1, TimeSpan.FromSeconds(30), "the replica to resync");
        PartitionTests.Write(app, 10);
        await cluster.WaitForReplicasAsync();
        var after = await replica.StatusAsync("app.db");
        Assert.Equal(before.Generation, after.Generation);
        Assert.Null(after.Problem);
        Assert.Equal(Needle.Original, Needle.Read(cluster.ReplicaPath(1)));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        // The resynced file is sound again at the next scrub.
        await replica.Log.WaitForCountAsync(Needle.ScrubVerified, replica.Log.Count(Needle.ScrubVerified) + 1, TimeSpan.FromSeconds(30),
            "a scrub after the resync");
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: true });
    }
}

using Litecast.Storage;
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
    private const string Original = "needle-aaaaaaaaaaaaaaaaaaaaaaaa";
    private const string Rewritten = "needle-bbbbbbbbbbbbbbbbbbbbbbbb";
    private const string Verified = "scrub verified";
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
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE needle(v TEXT)");
        app.Execute($"INSERT INTO needle(v) VALUES ('{Original}')");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var resyncsAtStart = replica.Log.Count(ResyncStarted);

        // 1. Sound file, batches arriving all along: three scrubs in a row verify it, none resyncs.
        using (var stop = new CancellationTokenSource())
        {
            var writer = Task.Run(() =>
            {
                using var connection = cluster.OpenApplication();
                var commits = 0;
                while (!stop.IsCancellationRequested) commits += PartitionTests.Write(connection, 1);
                return commits;
            });
            await replica.Log.WaitForCountAsync(Verified, replica.Log.Count(Verified) + 3, TimeSpan.FromSeconds(30),
                "three scrubs while the application writes");
            await stop.CancelAsync();
            output.WriteLine($"{await writer} commits during the scrubs");
        }
        Assert.Equal(0, replica.Log.Count(Damaged));
        Assert.Equal(resyncsAtStart, replica.Log.Count(ResyncStarted));
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: true, Pages: > 0 });
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));

        // 2. The needle's page was installed in the replica's database file and no batch wrote it since: the rewrite is
        // the only copy its readers see. The next scrub finds it and the replica resyncs that page from the primary.
        var before = await replica.StatusAsync("app.db");
        RawFileEdit.RewriteInPlace(cluster.ReplicaPath(1), Original, Rewritten);
        Assert.Equal(Rewritten, StreamHashMismatchTests.ReadNeedle(cluster.ReplicaPath(1)));
        await replica.Log.WaitForCountAsync(Damaged, 1, TimeSpan.FromSeconds(30), "a scrub to find the page changed behind SQLite's back");
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: false }, "the status shows the damaged scrub");
        await replica.Log.WaitForCountAsync(ResyncStarted, resyncsAtStart + 1, TimeSpan.FromSeconds(30), "the replica to resync");
        PartitionTests.Write(app, 10);
        await cluster.WaitForReplicasAsync();
        var after = await replica.StatusAsync("app.db");
        Assert.Equal(before.Generation, after.Generation);
        Assert.Null(after.Problem);
        Assert.Equal(Original, StreamHashMismatchTests.ReadNeedle(cluster.ReplicaPath(1)));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        // The resynced file is sound again at the next scrub.
        await replica.Log.WaitForCountAsync(Verified, replica.Log.Count(Verified) + 1, TimeSpan.FromSeconds(30), "a scrub after the resync");
        Assert.True((await replica.StatusAsync("app.db")).LastScrub is { Sound: true });
    }
}

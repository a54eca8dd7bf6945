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
    private const string Original = "needle-aaaaaaaaaaaaaaaaaaaaaaaa";
    private const string Rewritten = "needle-bbbbbbbbbbbbbbbbbbbbbbbb";
    private const string Contradicted = "differs from the stream's";
    private const string Verified = "scrub verified";

    [Fact]
    public async Task APageChangedBehindSqlitesBackIsFoundAtTheNextSnapshotAndStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output);
        using var app = await StartAsync(cluster);
        var replica = cluster.Replica(1);
        var before = await replica.StatusAsync("app.db");

        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Original, Rewritten);
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
        using var app = await StartAsync(cluster);
        var primary = cluster.Primary;
        var before = await cluster.Replica(1).StatusAsync("app.db");

        // Sound while the application writes: three scrubs in a row agree with the stream.
        using (var stop = new CancellationTokenSource())
        {
            var writer = Task.Run(() =>
            {
                using var connection = cluster.OpenApplication();
                var commits = 0;
                while (!stop.IsCancellationRequested) commits += PartitionTests.Write(connection, 1);
                return commits;
            });
            await primary.Log.WaitForCountAsync(Verified, primary.Log.Count(Verified) + 3, TimeSpan.FromSeconds(30),
                "three scrubs while the application writes");
            await stop.CancelAsync();
            output.WriteLine($"{await writer} commits during the scrubs");
        }
        Assert.Equal(0, primary.Log.Count(Contradicted));
        Assert.True((await primary.StatusAsync("app.db")).LastScrub is { Sound: true, Pages: > 0 });

        // No resync asks for a snapshot: the next scrub finds the rewritten page.
        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Original, Rewritten);
        await primary.Log.WaitForCountAsync(Contradicted, 1, TimeSpan.FromSeconds(30), "the primary's scrub to find that its file and its stream disagree");
        await AssertNewGenerationFromTheFileAsync(cluster, app, before);
        await primary.Log.WaitForCountAsync(Verified, primary.Log.Count(Verified) + 1, TimeSpan.FromSeconds(30), "a scrub of the new generation");
        Assert.True((await primary.StatusAsync("app.db")).LastScrub is { Sound: true });
    }

    /// <summary>A primary and a replica in sync on a database whose every page is in the database file and none in the
    /// WAL, so that a rewrite of the needle's bytes is the only copy of its page.</summary>
    private static async Task<SqliteConnection> StartAsync(TestCluster cluster)
    {
        var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE needle(v TEXT)");
        app.Execute($"INSERT INTO needle(v) VALUES ('{Original}')");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        Assert.Equal(0L, app.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)"));
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        Assert.Equal(Original, ReadNeedle(cluster.ReplicaPath(1)));
        return app;
    }

    /// <summary>The replica followed a new generation taken from the primary's file as it is: it reads the rewritten
    /// row and is page-for-page the primary.</summary>
    private static async Task AssertNewGenerationFromTheFileAsync(TestCluster cluster, SqliteConnection app, DatabaseStatus before)
    {
        await cluster.WaitForReplicasAsync();
        var after = await cluster.Replica(1).StatusAsync("app.db");
        Assert.NotEqual(before.Generation, after.Generation);
        Assert.Equal(Rewritten, ReadNeedle(cluster.ReplicaPath(1)));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    internal static string ReadNeedle(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<string>("SELECT v FROM needle")!;
    }
}

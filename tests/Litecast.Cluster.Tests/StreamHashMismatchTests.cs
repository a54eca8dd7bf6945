using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The tailer keeps the database's hash from the stream of pages it publishes, and hashes a resync's snapshot again
/// from the file as it copies it. When the two disagree, the file was changed by something other than SQLite's WAL (a
/// tool writing the file in place, a restore over it, a bad disk): the snapshot is not served as a continuation of the
/// stream it contradicts; the tailer starts a new generation from the file, and every replica follows it.
/// </summary>
public class StreamHashMismatchTests(ITestOutputHelper output)
{
    private const string Original = "needle-aaaaaaaaaaaaaaaaaaaaaaaa";
    private const string Rewritten = "needle-bbbbbbbbbbbbbbbbbbbbbbbb";

    [Fact]
    public async Task APageChangedBehindSqlitesBackIsFoundAtTheNextSnapshotAndStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE needle(v TEXT)");
        app.Execute($"INSERT INTO needle(v) VALUES ('{Original}')");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        // Every page in the database file and none in the WAL, so that the rewrite below is the only copy of its page.
        Assert.Equal(0L, app.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)"));
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var before = await replica.StatusAsync("app.db");
        Assert.Equal(Original, ReadNeedle(cluster.ReplicaPath(1)));

        RawFileEdit.RewriteInPlace(cluster.PrimaryPath, Original, Rewritten);
        PartitionTests.Write(app, 10);
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);

        await cluster.Primary.Log.WaitForCountAsync("differs from the stream's", 1, TimeSpan.FromSeconds(30),
            "the primary to find that its file and its stream disagree");
        await cluster.WaitForReplicasAsync();
        var after = await replica.StatusAsync("app.db");
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

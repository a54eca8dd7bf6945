using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": /wait on a replica that still holds the old generation. A bookmark is a txid of the
/// primary's current generation; a replica whose old generation already passed that number must not answer it until it
/// holds the new generation at that txid (read-your-writes would otherwise answer without the write).
/// </summary>
public class WaitAcrossGenerationsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BookmarkOfTheNewGenerationIsNeverAnsweredFromTheOldOne()
    {
        await using var cluster = new TestCluster(output);
        var (app, port, replica, old) = await StartOnTheOldGenerationAsync(cluster);

        // The operator starts the primary over from scratch while Litecast is down: database and Litecast's state
        // directory (so the txid ceiling too) deleted. The new generation's txids start low again, below the ones the
        // replica holds: only the generation tells a new bookmark from an old position. The new database has another
        // page size, so the replica cannot resync until its file is moved away: it stays on the old generation, having
        // heard of the new one, for as long as the test needs.
        await cluster.StopNodeAsync(cluster.Primary);
        app.Dispose();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(cluster.PrimaryPath + suffix);
        Directory.Delete(PositionFile.StateDirectory(cluster.PrimaryPath), recursive: true);
        NativeSqlite.EnsureLoaded();
        using (var create = new SqliteConnection($"Data Source={cluster.PrimaryPath};Pooling=False"))
        {
            create.Open();
            create.Execute("PRAGMA page_size = 8192");
            create.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
            create.Execute("PRAGMA journal_mode = WAL");
        }
        app = cluster.OpenApplication();
        await cluster.StartPrimaryAsync(port);
        app.Execute("INSERT INTO t(v) VALUES ('the write to read back')");
        var bookmark = await cluster.SyncAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"old generation {old.Generation:x16} at txid {old.Txid}; bookmark {bookmark.Generation:x16} txid {bookmark.Txid}");
        Assert.NotEqual(old.Generation, bookmark.Generation);
        Assert.True(bookmark.Txid <= old.Txid, "the test needs a bookmark the old generation's txid already passed");

        await replica.Kit.AwaitConditionAsync(async () => (await replica.StatusAsync("app.db")).Problem?.Contains("page size 4096") == true,
            TimeSpan.FromSeconds(60), TestCluster.Poll, "the replica to hear of the new generation and fail to resync");
        var stuck = await replica.StatusAsync("app.db");
        Assert.Equal(old.Generation, stuck.Generation);
        Assert.True(stuck.Txid >= bookmark.Txid);

        var wait = replica.Databases["app.db"].Ask<TxidReached>(new WaitForTxid(bookmark.Txid, TimeSpan.FromSeconds(120)), TimeSpan.FromSeconds(120));
        // Every resync retry is a replica tick, and every tick answers the waiters it can: three retries later, this
        // one must still be waiting.
        var retries = replica.Log.Count("resync failed");
        await replica.Log.WaitForCountAsync("resync failed", retries + 3, TimeSpan.FromSeconds(30), "three more resync retries");
        if (wait.IsCompleted) Assert.Fail($"answered from the old generation: {await wait}");

        var moved = Path.Combine(cluster.Directory, "moved-away");
        Directory.CreateDirectory(moved);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            if (File.Exists(cluster.ReplicaPath(1) + suffix)) File.Move(cluster.ReplicaPath(1) + suffix, Path.Combine(moved, "app.db" + suffix));
        var reached = await wait.WaitAsync(TimeSpan.FromSeconds(60));
        // Answered: the write is there for the reader at once.
        using (var reader = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1)))
            Assert.Equal(1, reader.Scalar<long>("SELECT count(*) FROM t WHERE v = 'the write to read back'"));
        Assert.Equal(bookmark.Generation, reached.Generation);
        Assert.True(reached.Txid >= bookmark.Txid);
        await cluster.WaitForReplicasAsync();
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        app.Dispose();
    }

    /// <summary>
    /// The same bookmark, asked of a replica restarted on the old generation before it has heard the primary's first
    /// heartbeat: CurrentGeneration() used to fall back to the replica's own position until a heartbeat arrived, so
    /// for about a second it compared its generation with itself and answered from the old one (48 and 50 of 100 waits
    /// sent in the replica's first 2 s, two runs). Only a primary that lost its txid ceiling (its state directory)
    /// hands out such bookmarks. A replica now answers no wait before the primary's first heartbeat.
    /// </summary>
    [Fact]
    public async Task BookmarkOfTheNewGenerationIsNotAnsweredBeforeTheReplicaHearsThePrimary()
    {
        await using var cluster = new TestCluster(output);
        var (app, port, replica, old) = await StartOnTheOldGenerationAsync(cluster);
        await cluster.StopNodeAsync(replica);

        // The primary started over from scratch (database and state directory deleted): its txids restart at 1.
        await cluster.StopNodeAsync(cluster.Primary);
        app.Dispose();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(cluster.PrimaryPath + suffix);
        Directory.Delete(PositionFile.StateDirectory(cluster.PrimaryPath), recursive: true);
        app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await cluster.StartPrimaryAsync(port);
        app.Execute("INSERT INTO t(v) VALUES ('the write to read back')");
        var bookmark = await cluster.SyncAsync(TimeSpan.FromSeconds(60));
        Assert.True(bookmark.Txid <= old.Txid, "the test needs a bookmark the old generation's txid already passed");

        // Waits sent while the restarted replica starts, every 20 ms for 2 s: each must end in the new generation.
        var restarted = await cluster.StartReplicaAsync(1);
        var waits = new List<Task<TxidReached>>();
        for (var i = 0; i < 100; i++)
        {
            waits.Add(restarted.Databases["app.db"].Ask<TxidReached>(new WaitForTxid(bookmark.Txid, TimeSpan.FromSeconds(60)), TimeSpan.FromSeconds(60)));
            await Task.Delay(20);
        }
        var answers = await Task.WhenAll(waits);
        output.WriteLine($"{answers.Count(a => a.Generation != bookmark.Generation)} of {answers.Length} waits answered from the old generation");
        Assert.All(answers, a => Assert.Equal(bookmark.Generation, a.Generation));
        app.Dispose();
    }

    /// <summary>A primary on a fixed port (its identity survives a restart) with 110 rows, and a replica holding them:
    /// the old generation. 100 rows are committed before Litecast starts, not while the replica's first resync runs (see
    /// TailerMidPublishCrashTests); they are all in the generation's first txid. The last 10 are committed once the
    /// replica follows, so the old generation is at txid 11 at least: a new generation's first bookmarks are below it
    /// (the new primary's first commit can be its txid 2, when its tailer starts before the commit).</summary>
    private static async Task<(SqliteConnection App, int Port, TestNode Replica, DatabaseStatus Old)> StartOnTheOldGenerationAsync(TestCluster cluster)
    {
        var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        for (var i = 0; i < 100; i++) app.Execute($"INSERT INTO t(v) VALUES ('old {i}')");
        var port = TestPorts.Free();
        await cluster.StartPrimaryAsync(port);
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        for (var i = 0; i < 10; i++) app.Execute($"INSERT INTO t(v) VALUES ('old, replicated {i}')");
        await cluster.WaitForReplicasAsync();
        var old = await replica.StatusAsync("app.db");
        Assert.True(old.Txid >= 11, $"the old generation is at txid {old.Txid}");
        return (app, port, replica, old);
    }
}

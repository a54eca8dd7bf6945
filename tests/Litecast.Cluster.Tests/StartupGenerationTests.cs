using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": what the primary finds at startup decides whether it continues its generation or starts
/// a new one. An unreadable saved position, a VACUUM while Litecast was down, a database deleted and recreated: each
/// must end with replicas holding exactly the primary's pages, and a new generation's txids above the old ones.
/// </summary>
public class StartupGenerationTests(ITestOutputHelper output)
{
    private static string StateFile(string database, string name) => Path.Combine(PositionFile.StateDirectory(database), name);

    private static void Insert(SqliteConnection app, int transactions, int blobBytes = 100)
    {
        for (var i = 0; i < transactions; i++) app.Execute($"INSERT INTO t(payload) VALUES (randomblob({blobBytes}))");
    }

    /// <summary>A primary and one replica converged on a table t, the primary on a fixed port so it can restart.</summary>
    private async Task<(TestCluster Cluster, SqliteConnection App, int Port, Actors.DatabaseStatus Before)> ConvergedAsync(int rows = 30)
    {
        var cluster = new TestCluster(output);
        var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB)");
        // Committed before Litecast starts, not while the replica's first resync runs (see TailerMidPublishCrashTests).
        Insert(app, rows);
        var port = TestPorts.Free();
        await cluster.StartPrimaryAsync(port);
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        return (cluster, app, port, await cluster.Primary.StatusAsync("app.db"));
    }

    /// <summary>
    /// primary.json torn by a crash or overwritten with junk: the read used to throw inside the tailer's PreStart, so
    /// the backoff supervisor restarted it forever and nothing was ever published. Now it is ignored (logged), a new
    /// generation starts above the durable txid ceiling, and the replica converges to it.
    /// </summary>
    [Theory]
    [InlineData("torn")]
    [InlineData("junk")]
    [InlineData("empty")]
    public async Task UnreadableSavedPositionStartsANewGenerationAndReplicasConverge(string damage)
    {
        var (cluster, app, port, before) = await ConvergedAsync();
        await using var _ = cluster;
        using var __ = app;
        await cluster.StopNodeAsync(cluster.Primary);

        var saved = cluster.PrimaryPositionPath;
        Assert.NotNull(PositionFile.Read<PrimaryPosition>(saved));   // a graceful stop saved it: the damage is the only reason to ignore it
        var bytes = File.ReadAllBytes(saved);
        File.WriteAllBytes(saved, damage switch
        {
            "torn" => bytes[..(bytes.Length / 2)],
            "junk" => [0xff, 0xfe, 0x00, 0x7b, 0x22, 0x9c],
            _ => [],
        });
        Assert.Throws<InvalidDataException>(() => PositionFile.Read<PrimaryPosition>(saved));
        Insert(app, 5);

        await cluster.StartPrimaryAsync(port);
        await cluster.WaitForReplicasAsync();

        var after = await cluster.Primary.StatusAsync("app.db");
        Assert.True(after.Healthy, after.Problem);
        Assert.NotEqual(before.Generation, after.Generation);
        Assert.True(after.Txid > before.Txid, $"new generation at txid {after.Txid}, the old one reached {before.Txid}");
        await cluster.Primary.Log.WaitForCountAsync("ignoring the saved position", 1, TimeSpan.FromSeconds(10), "the damaged position to be logged");
        Assert.Equal(1, cluster.Primary.Log.Count("ignoring the saved position"));
        // The new generation's position replaced the damaged file.
        Assert.Equal(after.Generation, PositionFile.Read<PrimaryPosition>(saved)!.Generation);
        Assert.True((await cluster.Replica(1).StatusAsync("app.db")).Counters.Resyncs >= 2, "the replica resynced to the new generation");
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// VACUUM while Litecast is down, with the application's connection (and so the WAL) kept. When the VACUUM is the
    /// last transaction, its final page images are the whole truth and the generation continues (one resumed batch).
    /// When later commits grow the database back, the final images of the run would keep stale content in the pages
    /// the VACUUM dropped, so the tailer must start a new generation ("a VACUUM shrank the database").
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task VacuumWhileLitecastIsDownConvergesAndShrinkThenGrowStartsANewGeneration(bool growAfter)
    {
        var (cluster, app, port, before) = await ConvergedAsync(rows: 0);
        await using var _ = cluster;
        using var __ = app;
        // One transaction of 150 rows of 2 KB (~80 pages): small enough that no autocheckpoint of the application
        // (1000 frames) runs while Litecast is down, which would restart the WAL and end continuity another way.
        app.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) INSERT INTO t(payload) SELECT randomblob(2000) FROM n");
        await cluster.WaitForReplicasAsync();
        before = await cluster.Primary.StatusAsync("app.db");
        var replicaResyncs = (await cluster.Replica(1).StatusAsync("app.db")).Counters.Resyncs;
        await cluster.StopNodeAsync(cluster.Primary);

        var pagesBefore = app.Scalar<long>("PRAGMA page_count");
        app.Execute("DELETE FROM t WHERE id % 3 <> 0");
        app.Execute("VACUUM");
        var vacuumed = app.Scalar<long>("PRAGMA page_count");
        Assert.True(vacuumed < pagesBefore / 2, $"VACUUM left {vacuumed} of {pagesBefore} pages");
        var transactions = 2UL;
        if (growAfter)
        {
            for (var i = 0; i < 10; i++) app.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) INSERT INTO t(payload) SELECT randomblob(2000) FROM n");
            transactions += 10;
            Assert.True(app.Scalar<long>("PRAGMA page_count") > vacuumed + 20, "the database grew back into the pages the VACUUM dropped");
        }
        Assert.True(File.Exists(cluster.PrimaryPath + "-wal") && new FileInfo(cluster.PrimaryPath + "-wal").Length > 0, "the WAL must still hold the commits");

        await cluster.StartPrimaryAsync(port);
        await cluster.WaitForReplicasAsync();

        var after = await cluster.Primary.StatusAsync("app.db");
        var replica = await cluster.Replica(1).StatusAsync("app.db");
        if (growAfter)
        {
            Assert.NotEqual(before.Generation, after.Generation);
            Assert.True(after.Txid > before.Txid, $"new generation at txid {after.Txid}, the old one reached {before.Txid}");
            Assert.True(replica.Counters.Resyncs > replicaResyncs, "the replica resynced to the new generation");
        }
        else
        {
            Assert.Equal(before.Generation, after.Generation);
            Assert.Equal(before.Txid + transactions, after.Txid);
            Assert.Equal(replicaResyncs, replica.Counters.Resyncs);
        }
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        using var check = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(app.Scalar<long>("SELECT count(*) FROM t"), check.Scalar<long>("SELECT count(*) FROM t"));
    }

    /// <summary>
    /// The database deleted (with its WAL) and created again while Litecast is down: another file, so a new generation;
    /// the replica ends up with the new content only. With the saved position deleted too, only the durable txid
    /// ceiling (txid-ceiling.json) keeps the new generation's txids above the old ones.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DatabaseDeletedAndRecreatedWhileLitecastIsDownStartsANewGenerationAboveTheOldTxids(bool positionDeletedToo)
    {
        var (cluster, app, port, before) = await ConvergedAsync(rows: 40);
        await using var _ = cluster;
        await cluster.StopNodeAsync(cluster.Primary);

        app.Dispose();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(cluster.PrimaryPath + suffix);
        if (positionDeletedToo) File.Delete(cluster.PrimaryPositionPath);
        Assert.True(File.Exists(StateFile(cluster.PrimaryPath, "txid-ceiling.json")));
        using var recreated = cluster.OpenApplication();
        recreated.Execute("CREATE TABLE other(x TEXT)");
        recreated.Execute("INSERT INTO other VALUES ('the new database')");

        await cluster.StartPrimaryAsync(port);
        await cluster.WaitForReplicasAsync();

        var after = await cluster.Primary.StatusAsync("app.db");
        Assert.NotEqual(before.Generation, after.Generation);
        Assert.True(after.Txid > before.Txid, $"new generation at txid {after.Txid}, the old one reached {before.Txid}");
        var ceiling = PositionFile.Read<TxidCeiling>(StateFile(cluster.PrimaryPath, "txid-ceiling.json"))!.Ceiling;
        Assert.True(ceiling > after.Txid, $"ceiling {ceiling} must stay above the published txid {after.Txid}");
        Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(1));
        using var check = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal("the new database", check.Scalar<string>("SELECT x FROM other"));
        Assert.Equal(0, check.Scalar<long>("SELECT count(*) FROM sqlite_schema WHERE name = 't'"));
    }
}

internal static class TestPorts
{
    public static int Free()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

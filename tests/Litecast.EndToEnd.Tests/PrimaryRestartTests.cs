namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 11, failure 2: the primary's position is saved lazily, so after a kill -9 it can be older than what replicas
/// hold. A new generation that started at the saved txid + 1 handed out bookmarks a replica still on the old
/// generation already "held", and read-your-writes answered without the row. New generations start above a durable
/// ceiling instead.
/// </summary>
public sealed class PrimaryRestartTests
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task NewGenerationAfterAKillStartsAboveEveryTxidAReplicaHolds()
    {
        using var cluster = new EndToEndCluster();
        cluster.App("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')");
        cluster.StartPrimary();
        await cluster.WaitHealthyAsync($"{cluster.PrimaryUrl}/healthz", Converge, () => cluster.Primary!.Output);
        cluster.StartReplica(0);
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);

        // Commits published and applied within the last second, then kill -9: the saved position lags them.
        cluster.App("""
            for i in range(300):
                db.execute("INSERT INTO t(v) VALUES (?)", ('before %d' % i,))
            """);
        var before = await cluster.SyncAsync();
        await cluster.WaitForReplicasAsync(before, Converge);
        cluster.Primary!.Kill();

        // While Litecast is down the application checkpoints its WAL away and commits: no continuity, a new generation.
        cluster.App("""
            db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            db.execute("INSERT INTO t(v) VALUES ('after the restart')")
            """);
        cluster.StartPrimary();
        await cluster.WaitHealthyAsync($"{cluster.PrimaryUrl}/healthz", Converge, () => cluster.Primary!.Output);
        var after = await cluster.SyncAsync();
        Assert.True(after > before, $"the new generation's bookmark {after} is not above the {before} the replica already holds\n{cluster.Primary.Output}");

        // Read-your-writes: once /wait answers for the new bookmark, the row is there.
        await cluster.WaitForReplicasAsync(after, Converge);
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t WHERE v = 'after the restart'"));
        Assert.Equal("301", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
    }
}

using Litecast.Storage;

namespace Litecast.Storage.Tests;

public class RoundTripTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void MixedWorkloadReplicatesPageForPage(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB)");
        h.Commit("CREATE INDEX t_name ON t(name)");
        h.Commit("WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 500) " +
                 "INSERT INTO t(name, payload) SELECT 'row' || value, randomblob(100) FROM n");
        h.Commit("UPDATE t SET name = name || '-x' WHERE id % 3 = 0");
        h.Commit("DELETE FROM t WHERE id % 5 = 0");
        h.Commit("INSERT INTO t(name, payload) VALUES ('big', randomblob(300000))");
        h.Commit("CREATE TABLE u AS SELECT * FROM t WHERE id < 100");
        h.Commit("DROP TABLE u");
        h.Commit("BEGIN; INSERT INTO t(name) VALUES ('rolled back'); ROLLBACK");
        h.Commit("DELETE FROM t WHERE id > 50");
        h.Commit("VACUUM");
        h.App.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        h.Commit("INSERT INTO t(name) VALUES ('after checkpoint')");
        Assert.True(h.TransactionsApplied >= 10, $"only {h.TransactionsApplied} transactions applied");
        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal(h.App.Scalar<long>("SELECT count(*) FROM t"), replica.Scalar<long>("SELECT count(*) FROM t"));
        Assert.Equal(h.App.Scalar<string>("SELECT group_concat(name) FROM t"), replica.Scalar<string>("SELECT group_concat(name) FROM t"));
    }

    [Fact]
    public void WalRestartAfterCheckpointIsFollowed()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(x)");
        for (var i = 0; i < 5; i++)
        {
            h.Commit($"INSERT INTO t VALUES ({i})");
            // The application's TRUNCATE checkpoint waits for the guard; rotating the guard lets it through.
            h.CheckpointWhileRotating("TRUNCATE");
            h.Commit($"INSERT INTO t VALUES ({i + 100})");
        }
        Assert.True(h.Restarts >= 1, "the WAL never restarted");
        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal(10, replica.Scalar<long>("SELECT count(*) FROM t"));
    }
}

using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

public class LiveReplicationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task MixedWorkloadReachesBothReplicasPageForPage()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB)");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();

        for (var i = 0; i < 200; i++) app.Execute($"INSERT INTO t(name, payload) VALUES ('row{i}', randomblob({i * 37 % 3000}))");
        app.Execute("CREATE INDEX t_name ON t(name)");
        app.Execute("UPDATE t SET name = name || '!' WHERE id % 3 = 0");
        app.Execute("BEGIN; INSERT INTO t(name) VALUES ('never'); ROLLBACK;");
        app.Execute("INSERT INTO t(name, payload) VALUES ('big', randomblob(2000000))");
        app.Execute("DELETE FROM t WHERE id % 2 = 0");
        app.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        app.Execute("VACUUM");
        app.Execute("INSERT INTO t(name) VALUES ('last')");
        await cluster.WaitForReplicasAsync();

        for (var r = 1; r <= 2; r++)
        {
            Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(r));
            using var replica = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(r));
            Assert.Equal(app.Scalar<long>("SELECT count(*) FROM t"), replica.Scalar<long>("SELECT count(*) FROM t"));
            Assert.Equal(0, replica.Scalar<long>("SELECT count(*) FROM t WHERE name = 'never'"));
        }
    }
}

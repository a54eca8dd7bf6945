using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

public class GuideReplicationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task PrimaryAndTwoReplicasConvergeAndSurviveKillMinus9()
    {
        using var cluster = new EndToEndCluster();
        cluster.StartPrimary();
        cluster.App("db.execute('CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT, amount INTEGER)')");
        await cluster.WaitHealthyAsync($"{cluster.PrimaryUrl}/healthz", Converge, () => cluster.Primary!.Output);
        cluster.StartReplica(0);
        cluster.StartReplica(1);

        cluster.App("""
            for i in range(200):
                db.execute('BEGIN')
                for j in range(5):
                    db.execute('INSERT INTO orders(item, amount) VALUES (?, ?)', ('item%d' % i, j))
                db.execute('COMMIT')
            """);
        var txid = await cluster.SyncAsync();
        Assert.True(txid >= 200, $"bookmark {txid} should count the 200 commits");
        await cluster.WaitForReplicasAsync(txid, Converge);
        AssertConverged(cluster, 1000);

        // The admin endpoint reports the truth.
        var primaryStatus = await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status");
        var primaryDb = primaryStatus.GetProperty("dbs")[0];
        Assert.Equal("primary", primaryDb.GetProperty("role").GetString());
        Assert.True(primaryDb.GetProperty("txid").GetInt64() >= txid);
        for (var i = 0; i < 2; i++)
        {
            var replicaDb = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(i)}/status")).GetProperty("dbs")[0];
            Assert.Equal("replica", replicaDb.GetProperty("role").GetString());
            Assert.Equal(primaryDb.GetProperty("generation").GetString(), replicaDb.GetProperty("generation").GetString());
            Assert.True(replicaDb.GetProperty("txid").GetInt64() >= txid);
            await cluster.WaitHealthyAsync($"{cluster.ReplicaUrl(i)}/healthz", Converge, () => cluster.Replicas[i]!.Output);
            var metrics = await cluster.Http.GetStringAsync($"{cluster.ReplicaUrl(i)}/metrics");
            Assert.Contains("litecast_txid", metrics);
        }

        // kill -9 a replica, keep writing, restart it: it resumes and converges.
        cluster.Replicas[0]!.Kill();
        cluster.App("""
            for i in range(50):
                db.execute('INSERT INTO orders(item, amount) VALUES (?, ?)', ('while-replica-down', i))
            """);
        cluster.StartReplica(0);
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        AssertConverged(cluster, 1050);

        // kill -9 the primary, write while it is down, restart it: nothing is lost.
        cluster.Primary!.Kill();
        cluster.App("""
            for i in range(30):
                db.execute('INSERT INTO orders(item, amount) VALUES (?, ?)', ('while-primary-down', i))
            """);
        cluster.StartPrimary();
        await cluster.WaitHealthyAsync($"{cluster.PrimaryUrl}/healthz", Converge, () => cluster.Primary!.Output);
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        try
        {
            AssertConverged(cluster, 1080);
        }
        finally
        {
            output.WriteLine("--- primary ---\n" + cluster.Primary.Output);
            output.WriteLine("--- replica 1 ---\n" + cluster.Replicas[0]!.Output);
        }
    }

    private static void AssertConverged(EndToEndCluster cluster, int rows)
    {
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(rows.ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(i), "SELECT count(*) FROM orders"));
            Assert.Equal(EndToEndCluster.ReadOnlyQuery(cluster.PrimaryDb, "SELECT sum(amount) || ':' || max(id) FROM orders"),
                EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(i), "SELECT sum(amount) || ':' || max(id) FROM orders"));
            Pages.AssertIdentical(cluster.PrimaryDb, cluster.ReplicaDb(i));
        }
    }
}

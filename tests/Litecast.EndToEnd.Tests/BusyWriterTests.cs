using System.Diagnostics;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 10's scenario: an application committing back-to-back write transactions, a forced resync on one replica
/// and a kill -9 of the other. Litecast used to take the write lock for the resync's snapshot; the writer starved it,
/// the tailer crashed on SQLITE_BUSY, and neither replica advanced again (2 runs in 6). Both must converge.
/// </summary>
public sealed class BusyWriterTests(ITestOutputHelper output)
{
    private const int Accounts = 100;
    private const int Balance = 1000;
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ResyncAndAReplicaCrashUnderABusyWriterConverge()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync($"""
            db.execute('CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)')
            db.execute('CREATE TABLE version(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)')
            db.execute('INSERT INTO version VALUES (1, 0)')
            db.executemany('INSERT INTO accounts VALUES (?, {Balance})', [(i,) for i in range({Accounts})])
            """, replicas: 2, Converge);

        // The application: money moved between accounts in BEGIN IMMEDIATE transactions back to back (1-50 updates
        // each), a version counter bumped in each.
        using var writer = PythonWriter.Start(cluster.PrimaryDb, "rng = random.Random(10)", $"""
            db.execute('BEGIN IMMEDIATE')
            for _ in range(rng.randint(1, 50)):
                a, b = rng.randrange({Accounts}), rng.randrange({Accounts})
                db.execute('UPDATE accounts SET balance = balance - 1 WHERE id = ?', (a,))
                db.execute('UPDATE accounts SET balance = balance + 1 WHERE id = ?', (b,))
            db.execute('UPDATE version SET n = n + 1')
            db.execute('COMMIT')
            """);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var resync = await cluster.Http.PostAsync($"{cluster.ReplicaUrl(0)}/dbs/db/resync", null);
        Assert.True(resync.IsSuccessStatusCode, $"resync: {(int)resync.StatusCode}");
        await Task.Delay(TimeSpan.FromSeconds(2));
        cluster.Replicas[1]!.Kill();
        await Task.Delay(TimeSpan.FromSeconds(1));
        cluster.StartReplica(1);
        await Task.Delay(TimeSpan.FromSeconds(4));

        // The replicas converge while the writer keeps committing: a bookmark taken now is reached on both.
        var clock = Stopwatch.StartNew();
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        output.WriteLine($"both replicas reached the bookmark {clock.Elapsed.TotalSeconds:F1} s after the last fault");
        var commits = writer.Stop();
        output.WriteLine($"the application committed {commits} transactions");
        Assert.True(commits > 500, $"the application committed only {commits} transactions");

        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal((Accounts * Balance).ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(i), "SELECT sum(balance) FROM accounts"));
            Assert.Equal(commits.ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(i), "SELECT n FROM version"));
            Pages.AssertIdentical(cluster.PrimaryDb, cluster.ReplicaDb(i));
            var status = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(i)}/status")).GetProperty("dbs")[0];
            Assert.Equal("following", status.GetProperty("state").GetString());
            Assert.Equal(0UL, status.GetProperty("lagTxids").GetUInt64());
        }
        var primary = (await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status")).GetProperty("dbs")[0];
        Assert.Contains(primary.GetProperty("replicas").EnumerateArray(), r => r.GetProperty("state").GetString() == "following");
    }
}

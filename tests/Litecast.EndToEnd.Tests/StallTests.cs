using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Stalls are visible (issue 10, item 3): a replica that cannot apply (here a local program holds the replica's
/// write lock, as a .NET reader that calls BeginTransaction() without deferred does) says so in /status, /healthz and
/// /metrics, names what it waits for, and converges by itself once the lock is gone.
/// </summary>
public sealed class StallTests
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ReplicaThatCannotApplyIsReportedStalledThenConverges()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')", replicas: 1, Converge);

        // A local program takes the replica's write lock and keeps it until its release file appears.
        var release = cluster.ReplicaDb(0) + ".release";
        using var holder = Process.Start(new ProcessStartInfo("python3")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        holder.StandardInput.Write($"""
            import os, sqlite3, sys, time
            db = sqlite3.connect({JsonSerializer.Serialize(cluster.ReplicaDb(0))}, isolation_level=None, timeout=10)
            db.execute('BEGIN IMMEDIATE')
            print('locked', flush=True)
            while not os.path.exists({JsonSerializer.Serialize(release)}): time.sleep(0.05)
            db.execute('ROLLBACK')
            """);
        holder.StandardInput.Close();
        Assert.Equal("locked", holder.StandardOutput.ReadLine());

        cluster.App("""
            for i in range(20):
                db.execute("INSERT INTO t(v) VALUES (?)", ('while locked %d' % i,))
            """);
        var bookmark = await cluster.SyncAsync();

        var status = await EventuallyAsync(cluster, db => db.GetProperty("state").GetString() == "stalled", "the replica to report a stall");
        Assert.False(status.GetProperty("healthy").GetBoolean());
        Assert.Contains("stalled", status.GetProperty("problem").GetString());
        Assert.True(status.GetProperty("lagTxids").GetUInt64() > 0);
        Assert.True(status.GetProperty("lagMs").GetDouble() >= 10_000, $"lagMs {status.GetProperty("lagMs")}");
        var health = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains("stalled", await health.Content.ReadAsStringAsync());
        var metrics = await cluster.Http.GetStringAsync($"{cluster.ReplicaUrl(0)}/metrics");
        Assert.Contains("litecast_stalls_total{db=\"db\",role=\"replica\"} 1", metrics);
        Assert.Contains("stalled at txid", cluster.Replicas[0]!.Output);

        File.WriteAllText(release, "");
        holder.WaitForExit();
        await cluster.WaitForReplicasAsync(bookmark, Converge);
        await EventuallyAsync(cluster, db => db.GetProperty("state").GetString() == "following" && db.GetProperty("healthy").GetBoolean(),
            "the replica to follow again");
        Assert.Equal("20", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
        Pages.AssertIdentical(cluster.PrimaryDb, cluster.ReplicaDb(0));
    }

    private static async Task<JsonElement> EventuallyAsync(EndToEndCluster cluster, Func<JsonElement, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var db = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0];
            if (condition(db)) return db;
            if (clock.Elapsed > Converge) throw new TimeoutException($"timed out waiting for {what}: {db}\n{cluster.Replicas[0]!.Output}");
            await Task.Delay(200);
        }
    }
}

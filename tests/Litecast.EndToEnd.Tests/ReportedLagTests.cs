using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 15: the lag a primary reports for its replicas (`/status`, and so `litecast_lag_seconds`) is the time from
/// publishing a commit to the replica applying it, not inflated by how seldom a replica reports (at most every
/// 100 ms); the lag of a replica that stopped reporting grows, and falls back to 0 once it holds every commit again.
/// </summary>
public class ReportedLagTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AtTwentyCommitsASecondTheReportedLagIsTheApplyLag()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)')", replicas: 1, Converge);
        // An application committing one row every 50 ms: between two of its commits a replica reports once at most, so
        // a lag measured up to the report would be tens of milliseconds; the rows themselves arrive within a few.
        using var writer = PythonWriter.Start(cluster.PrimaryDb, "", """
            db.execute('INSERT INTO t(v) VALUES (randomblob(100))')
            time.sleep(0.05)
            """);
        var lags = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(6))
        {
            var status = await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status");
            var replica = status.GetProperty("dbs")[0].GetProperty("replicas")[0];
            if (clock.Elapsed > TimeSpan.FromSeconds(1) && replica.GetProperty("lagMs").ValueKind == JsonValueKind.Number)
                lags.Add(replica.GetProperty("lagMs").GetDouble());
            await Task.Delay(37);
        }
        var committed = writer.Stop();
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        Assert.Equal((committed).ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));

        lags.Sort();
        output.WriteLine($"{lags.Count} samples; reported lag p50 {lags[lags.Count / 2]:F2} ms, p90 {lags[lags.Count * 9 / 10]:F2} ms, max {lags[^1]:F2} ms");
        Assert.True(lags.Count >= 50, $"only {lags.Count} lag samples");
        Assert.True(lags[lags.Count / 2] < 10, $"median reported lag {lags[lags.Count / 2]:F2} ms: inflated by the report interval");
    }

    [Fact]
    public async Task TheLagOfAReplicaThatStoppedReportingGrows()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)')", replicas: 1, Converge);
        cluster.Replicas[0]!.Signal("STOP");
        try
        {
            cluster.App("db.execute('INSERT INTO t(v) VALUES (randomblob(100))')");
            var written = Stopwatch.StartNew();
            await cluster.SyncAsync();
            double lag;
            do
            {
                await Task.Delay(200);
                var status = await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status");
                var reported = status.GetProperty("dbs")[0].GetProperty("replicas")[0].GetProperty("lagMs");
                lag = reported.ValueKind == JsonValueKind.Number ? reported.GetDouble() : 0;
            }
            while (lag < 3000 && written.Elapsed < TimeSpan.FromSeconds(8));
            output.WriteLine($"reported lag {lag:F0} ms, {written.Elapsed.TotalMilliseconds:F0} ms after the commit");
            Assert.True(lag >= 3000, $"the frozen replica's reported lag stayed at {lag:F0} ms");
            Assert.True(lag <= written.Elapsed.TotalMilliseconds + 1000, $"reported lag {lag:F0} ms, more than the time since the commit");
        }
        finally
        {
            cluster.Replicas[0]!.Signal("CONT");
        }
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));

        // Caught up, with nothing more committed: the pause is shown for a moment, then the lag is 0 again (it stayed
        // at the pause's length for as long as the database was idle, found by a black-box review).
        var caughtUp = Stopwatch.StartNew();
        double after;
        do
        {
            await Task.Delay(200);
            var replica = (await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status")).GetProperty("dbs")[0].GetProperty("replicas")[0];
            after = replica.GetProperty("lagMs").ValueKind == JsonValueKind.Number ? replica.GetProperty("lagMs").GetDouble() : 0;
        }
        while (after > 0 && caughtUp.Elapsed < TimeSpan.FromSeconds(10));
        output.WriteLine($"reported lag {after:F0} ms, {caughtUp.Elapsed.TotalMilliseconds:F0} ms after the replica caught up");
        Assert.Equal(0, after);
    }
}

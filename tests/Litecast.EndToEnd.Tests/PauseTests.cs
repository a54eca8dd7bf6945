using System.Diagnostics;
using System.Text.Json;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 11, failure 6: a replica resumed after SIGSTOP (a frozen VM, a long GC) said healthy, lag 0, for 10 s while
/// far behind. Its data is as old as the pause: every status it gives after resuming either says so (unhealthy) or
/// comes with the data caught up.
/// </summary>
public sealed class PauseTests
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ReplicaResumedAfterAPauseNeverClaimsHealthWhileBehind()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')", replicas: 1, Converge);
        await cluster.WaitHealthyAsync($"{cluster.ReplicaUrl(0)}/healthz", Converge, () => cluster.Replicas[0]!.Output);

        // Paused for longer than max-lag (10 s by default) and than the primary takes to down it (failure detection plus
        // the split-brain resolver's 10 s), while the application writes: it resumes, learns it was downed and rejoins.
        cluster.Replicas[0]!.Signal("STOP");
        var clock = Stopwatch.StartNew();
        var written = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(25))
        {
            cluster.App("db.execute(\"INSERT INTO t(v) VALUES ('while paused')\")");
            written++;
        }
        var bookmark = await cluster.SyncAsync();
        cluster.Replicas[0]!.Signal("CONT");

        // Every answer after the pause: healthy only with the data that was written during it.
        var samples = 0;
        var unhealthy = 0;
        clock.Restart();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            var db = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0];
            samples++;
            if (!db.GetProperty("healthy").GetBoolean()) unhealthy++;
            else Assert.True(db.GetProperty("txid").GetUInt64() >= (ulong)bookmark,
                $"the replica claims to be healthy at txid {db.GetProperty("txid")} while the primary is at {bookmark}: {db}");
            await Task.Delay(50);
        }
        Assert.True(samples > 10, $"only {samples} status answers in 5 s");

        await cluster.WaitForReplicasAsync(bookmark, Converge);
        await cluster.WaitHealthyAsync($"{cluster.ReplicaUrl(0)}/healthz", Converge, () => cluster.Replicas[0]!.Output);
        Assert.Equal(written.ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
    }
}

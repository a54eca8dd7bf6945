using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// A replica whose primary died is downed by the split-brain resolver about 15-20 s later, and its next incarnation
/// cannot join while the primary is down. Until then no database actor ran, and the node answered as if it held
/// nothing (found by a black-box review): <c>/status</c> showed txid 0 and generation 0, and <c>/wait</c> for txids
/// already in the file timed out, so reads carrying a bookmark were sent to the dead primary. The node now answers for
/// the copy as its last incarnation left it. Its lag, the time since the copy was last known current, went null there
/// (<c>litecast_lag_seconds</c> NaN), the one moment an operator's alert needs it (a later review).
/// </summary>
public class PrimaryDownTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AReplicaDownedWhileThePrimaryIsDownStillAnswersForItsCopy()
    {
        using var cluster = new EndToEndCluster();
        var txid = await StartWithFiftyRowsAsync(cluster);

        var killedAt = DateTimeOffset.UtcNow;
        cluster.Primary!.Kill();
        var clock = Stopwatch.StartNew();
        while (!cluster.Replicas[0]!.Output.Contains("rejoining with a new incarnation"))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"the replica was never downed\n{cluster.Replicas[0]!.Output}");
            await Task.Delay(200);
        }
        output.WriteLine($"downed {clock.Elapsed.TotalSeconds:F1} s after the primary was killed");

        // From now on no incarnation runs (it cannot join without the primary); the file still holds txid `txid`.
        for (var round = 0; round < 5; round++)
        {
            var db = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0];
            Assert.True(db.GetProperty("txid").GetInt64() >= txid, $"/status shows txid {db.GetProperty("txid")}, the file holds {txid}");
            Assert.Equal("disconnected", db.GetProperty("state").GetString());
            // Disconnected since the primary went, give or take the failure detector: not null (a black-box review).
            var since = DateTimeOffset.Parse(db.GetProperty("stateSince").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(since, killedAt, DateTimeOffset.UtcNow);
            AssertLagAtLeast(db, clock.Elapsed - TimeSpan.FromSeconds(2));
            var wait = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=1s");
            Assert.Equal(HttpStatusCode.OK, wait.StatusCode);
            await Task.Delay(500);
        }
        Assert.Equal("50", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));

        // A file deleted meanwhile holds nothing: no wait is answered from it.
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(cluster.ReplicaDb(0) + suffix);
        var gone = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=1s");
        Assert.Equal(HttpStatusCode.GatewayTimeout, gone.StatusCode);
        Assert.Equal(0, (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0].GetProperty("txid").GetInt64());
    }

    /// <summary>
    /// The same after a restart (found by a second black-box review): a replica process started while its primary is
    /// down never runs a database actor, and answered txid 0 and a 504 for data its file held. It now answers for the
    /// copy its previous process left, once the file's hash matches the saved position.
    /// </summary>
    [Fact]
    public async Task AReplicaRestartedWhileThePrimaryIsDownAnswersForTheCopyOnDisk()
    {
        using var cluster = new EndToEndCluster();
        var txid = await StartWithFiftyRowsAsync(cluster);
        var generation = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0].GetProperty("generation").GetString();
        // A wait of zero asks about the copy as it is now: reached or not, it is answered at once.
        var reached = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=0s");
        Assert.Equal(HttpStatusCode.OK, reached.StatusCode);
        var watch = Stopwatch.StartNew();
        var notYet = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid + 1000}&timeout=0s");
        Assert.Equal(HttpStatusCode.GatewayTimeout, notYet.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a wait of zero took {watch.Elapsed}");

        cluster.Primary!.Kill();
        cluster.Replicas[0]!.Kill();
        var killed = Stopwatch.StartNew();
        var restartedAt = DateTimeOffset.UtcNow;
        cluster.StartReplica(0);

        var clock = Stopwatch.StartNew();
        while (await TryStatusAsync(cluster) is null)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the restarted replica's admin endpoint never answered\n{cluster.Replicas[0]!.Output}");
            await Task.Delay(100);
        }
        // From its start on: the copy is checked at once, not after 5 s of trying to join (a black-box review's wait
        // for a txid the file held got a 504 then).
        var first = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=3s");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        JsonElement? db;
        while ((db = await TryStatusAsync(cluster)) is not { } found || found.GetProperty("txid").GetInt64() == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the restarted replica never answered for its copy\n{cluster.Replicas[0]!.Output}");
            await Task.Delay(200);
        }
        Assert.Equal(txid, db.Value.GetProperty("txid").GetInt64());
        Assert.Equal(generation, db.Value.GetProperty("generation").GetString());
        Assert.Equal("disconnected", db.Value.GetProperty("state").GetString());
        Assert.InRange(DateTimeOffset.Parse(db.Value.GetProperty("stateSince").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            restartedAt, DateTimeOffset.UtcNow);
        // The copy was last known current no later than its last save, before the kill.
        AssertLagAtLeast(db.Value, killed.Elapsed);
        var wait = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=1s");
        Assert.Equal(HttpStatusCode.OK, wait.StatusCode);
        var now = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid}&timeout=0s");
        Assert.Equal(HttpStatusCode.OK, now.StatusCode);
        var later = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={txid + 1}&timeout=1s");
        Assert.Equal(HttpStatusCode.GatewayTimeout, later.StatusCode);
    }

    /// <summary>A primary and one replica holding 50 rows; the txid the replica has applied.</summary>
    private static async Task<long> StartWithFiftyRowsAsync(EndToEndCluster cluster)
    {
        await cluster.StartAsync("""
            db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
            for i in range(50): db.execute("INSERT INTO t(v) VALUES ('row')")
            """, replicas: 1, Converge);
        var txid = await cluster.SyncAsync();
        await cluster.WaitForReplicasAsync(txid, Converge);
        return txid;
    }

    private static void AssertLagAtLeast(JsonElement db, TimeSpan atLeast)
    {
        var lag = db.GetProperty("lagMs");
        Assert.True(lag.ValueKind == JsonValueKind.Number, $"the replica's lag is {lag}, not the time since its copy was current");
        Assert.True(lag.GetDouble() >= atLeast.TotalMilliseconds, $"the replica's lag {lag} ms is below {atLeast.TotalMilliseconds:F0} ms");
    }

    private static async Task<JsonElement?> TryStatusAsync(EndToEndCluster cluster)
    {
        try
        {
            return (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0];
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}

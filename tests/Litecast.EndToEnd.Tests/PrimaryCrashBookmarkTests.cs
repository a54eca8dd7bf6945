using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Found by the chaos harness (tests/Litecast.Chaos, <c>--seed 5 --faults kill</c>) and in issue 11 (failure 2):
/// after a <c>kill -9</c> of the primary's litecast while the application commits, the restarted primary started a
/// new generation at the txid it last saved plus one. The position is saved at most once a second, so that txid could
/// be below what replicas already applied from the old generation, and a replica still on the old generation answered
/// <c>/wait</c> for the new bookmark at once, without the commits made while Litecast was down. New generations now
/// start above a durable txid ceiling (WalTailer.ReserveTxids).
/// </summary>
public class PrimaryCrashBookmarkTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task BookmarkAfterAPrimaryCrashIsNeverReachedByAReplicaOnTheOldGeneration()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')", replicas: 2, Converge);

        // The application commits continuously; the primary's litecast is killed in the middle of it, so txids were
        // published after its last saved position.
        using var writer = Process.Start(new ProcessStartInfo("python3") { RedirectStandardInput = true })!;
        writer.StandardInput.Write($$"""
            import sqlite3, time
            db = sqlite3.connect({{JsonSerializer.Serialize(cluster.PrimaryDb)}}, isolation_level=None, timeout=10)
            db.execute("PRAGMA busy_timeout = 5000")
            end = time.monotonic() + 4
            while time.monotonic() < end:
                db.execute("INSERT INTO t(v) VALUES ('x')")
            """);
        writer.StandardInput.Close();
        await Task.Delay(2500);
        cluster.Primary!.Kill();
        Assert.True(writer.WaitForExit(30_000));
        await Task.Delay(1000);
        var replicaTxid = (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("dbs")[0].GetProperty("txid").GetInt64();

        // While Litecast is down the application checkpoints and writes on: the WAL restarts with new salts, so the
        // restarted primary cannot continue the old generation.
        cluster.App("""
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for i in range(10):
                db.execute("INSERT INTO t(v) VALUES ('while litecast was down')")
            """);
        var rows = long.Parse(cluster.App("print(db.execute('SELECT count(*) FROM t').fetchone()[0])"));
        cluster.Primary.Dispose();
        cluster.StartPrimary();
        await cluster.WaitHealthyAsync($"{cluster.PrimaryUrl}/healthz", Converge, () => cluster.Primary!.Output);
        var bookmark = await cluster.SyncAsync();
        output.WriteLine($"replica 1 at txid {replicaTxid} before the restart; the restarted primary's bookmark is {bookmark}");

        Assert.True(bookmark > replicaTxid,
            $"the restarted primary's bookmark {bookmark} is not above txid {replicaTxid} that replica 1 applied from the old generation\n" +
            $"--- primary output ---\n{cluster.Primary!.Output}");
        // And read-your-writes: once a replica says it reached the bookmark, it holds every row committed before it.
        using var response = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={bookmark}&timeout=30s");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(rows.ToString(), EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
    }
}

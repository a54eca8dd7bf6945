using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Found by a black-box review (8 of 8 attempts): an application killed with <c>kill -9</c> in the middle of a commit
/// leaves that commit's frames in the WAL, checksums and commit mark intact, but SQLite never counted it (the
/// wal-index was not updated), and the next writer overwrites those frames. The tailer read to the end of the file and
/// published such a commit: the replicas held a row the primary never committed, answered <c>/wait</c> for rows they
/// lacked, and the primary's tailer stalled on the overwritten frames while every node looked healthy. The tailer now
/// reads no further than the wal-index says is committed.
/// </summary>
public class KilledWriterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AWriterKilledMidCommitLeavesItsUncountedCommitOffEveryReplica()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)')", replicas: 1, Converge);
        var random = new Random(20261203);
        for (var round = 1; round <= 4; round++)
        {
            // Python's default synchronous=FULL: most of a commit is its fsync, after the frames are written and before
            // SQLite counts them, so a kill at a random moment usually lands there.
            using (var writer = Process.Start(new ProcessStartInfo("python3") { RedirectStandardInput = true })!)
            {
                writer.StandardInput.Write($$"""
                    import sqlite3
                    db = sqlite3.connect({{JsonSerializer.Serialize(cluster.PrimaryDb)}}, isolation_level=None, timeout=10)
                    while True:
                        db.execute("INSERT INTO t(v) VALUES (randomblob(3000))")
                    """);
                writer.StandardInput.Close();
                await Task.Delay(random.Next(150, 700));
                writer.Kill();
                Assert.True(writer.WaitForExit(10_000));
            }
            cluster.App($"db.execute(\"INSERT INTO t(v) VALUES (x'{round:x2}')\")");
            var bookmark = await cluster.SyncAsync();
            using var response = await cluster.Http.GetAsync($"{cluster.ReplicaUrl(0)}/dbs/db/wait?txid={bookmark}&timeout=30s");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            var primary = ContentDigest(cluster.PrimaryDb);
            var replica = ContentDigest(cluster.ReplicaDb(0));
            output.WriteLine($"round {round}: bookmark {bookmark}, primary {primary}, replica {replica}");
            Assert.True(primary == replica,
                $"round {round}: the replica answered /wait for txid {bookmark} but holds other rows than the primary\n" +
                $"primary {primary}\nreplica {replica}\n--- primary output ---\n{cluster.Primary!.Output}\n--- replica output ---\n{cluster.Replicas[0]!.Output}");
        }
        var status = await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status");
        Assert.Equal(JsonValueKind.Null, status.GetProperty("dbs")[0].GetProperty("problem").ValueKind);
    }

    /// <summary>The rows' count and a SHA-256 of every row, read as an application reads (read-only, Python's SQLite),
    /// with the database's integrity check.</summary>
    private static string ContentDigest(string path) => EndToEndCluster.Python($"""
        import hashlib, sqlite3
        db = sqlite3.connect("file:" + {JsonSerializer.Serialize(path)} + "?mode=ro", uri=True)
        digest = hashlib.sha256()
        rows = 0
        for row in db.execute("SELECT id, v FROM t ORDER BY id"):
            digest.update(repr(row).encode())
            rows += 1
        print(rows, digest.hexdigest()[:16], db.execute("PRAGMA integrity_check").fetchone()[0])
        """);
}

using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Storage.Tests;

/// <summary>
/// A database larger than 1 GiB: the page holding file offset 2^30 (the lock-byte page, 262145 at 4 KiB pages) never
/// holds data. The primary is snapshotted just below it, then grows across it through the WAL; the replica must
/// follow exactly, and a snapshot of the grown primary must hash like the replica.
/// </summary>
[Trait("Category", "Large")]
public sealed class LargeDatabaseTests(ITestOutputHelper output) : IDisposable
{
    private const int PageSize = 4096;
    private const int RowBytes = 1_000_000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-large-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void DatabaseCrossingTheLockBytePageReplicatesExactly()
    {
        Directory.CreateDirectory(_directory);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var primaryPath = Path.Combine(_directory, "primary.db");
        var replicaPath = Path.Combine(_directory, "replica.db");
        var stagingPath = Path.Combine(_directory, "snapshot.pages");
        var lockPage = DatabaseHash.LockBytePage(PageSize);
        Assert.Equal(262145u, lockPage);

        using var app = SqliteConnections.OpenOrCreate(primaryPath);
        app.Execute($"PRAGMA page_size = {PageSize}");
        // Built without a journal (one pass over the disk), then switched to WAL as the application would run it.
        app.Execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
        app.Execute("CREATE TABLE big(id INTEGER PRIMARY KEY, data BLOB)");
        app.Execute("BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1030) " +
                    $"INSERT INTO big SELECT i, randomblob({RowBytes}) FROM n; COMMIT");
        Assert.Equal("wal", app.Scalar<string>("PRAGMA journal_mode = WAL"));
        app.Execute("PRAGMA wal_autocheckpoint = 0");
        var builtPages = app.Scalar<long>("PRAGMA page_count");
        Assert.InRange(builtPages, lockPage - 20000, lockPage - 1000); // just below the lock-byte page
        output.WriteLine($"built {builtPages} pages in {clock.Elapsed.TotalSeconds:F1} s");

        // Snapshot at a known position and apply it to a new replica, streamed from the staging file in parts.
        using var reader = new WalReader(WalFormat.WalPath(primaryPath));
        using var guard = new WalGuard(primaryPath);
        guard.BeginRotation();
        Assert.Empty(reader.Read(visible: guard.NextVisibleEnd).Transactions);
        guard.CompleteRotation();
        SnapshotInfo info;
        using (var snapshot = PrimarySnapshot.TryPin(primaryPath, guard))
            info = Assert.IsType<PrimarySnapshot>(snapshot).CopyTo(stagingPath);
        Assert.Equal((uint)builtPages, info.PageCount);
        var replicaHash = new DatabaseHash(PageSize);
        using var applier = ReplicaPageWriter.Open(replicaPath, PageSize);
        applier.Begin();
        using (var staging = new FileStream(stagingPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            const int partPages = 1024;
            for (var first = 1u; first <= info.PageCount; first += partPages)
            {
                var part = new List<PageImage>(partPages);
                for (var p = first; p < first + partPages && p <= info.PageCount; p++)
                {
                    var data = new byte[PageSize];
                    staging.ReadExactly(data);
                    part.Add(new PageImage(p, data));
                }
                applier.Write(part);
                foreach (var page in part) replicaHash.SetPage(page.PageNumber, page.Data);
            }
        }
        applier.Commit(info.PageCount);
        replicaHash.SetPageCount(info.PageCount);
        File.Delete(stagingPath);
        Assert.Equal(info.Hash.Value, replicaHash.Value);
        output.WriteLine($"snapshot copied and applied at {clock.Elapsed.TotalSeconds:F1} s");

        // The application grows the database across the lock-byte page and rewrites rows on both sides of it.
        app.Execute("BEGIN; WITH RECURSIVE n(i) AS (SELECT 2001 UNION ALL SELECT i + 1 FROM n WHERE i < 2080) " +
                    $"INSERT INTO big SELECT i, randomblob({RowBytes}) FROM n; COMMIT");
        app.Execute($"UPDATE big SET data = randomblob({RowBytes / 2}) WHERE id IN (1, 500, 1029, 2030, 2059)");
        app.Execute("INSERT INTO big VALUES (3000, zeroblob(10))");
        var finalPages = app.Scalar<long>("PRAGMA page_count");
        Assert.True(finalPages > lockPage + 5000, $"the database did not cross the lock-byte page: {finalPages} pages");

        var result = reader.Read();
        Assert.Equal(WalStop.EndOfFile, result.Stop);
        Assert.Equal(3, result.Transactions.Count);
        var grow = result.Transactions[0];
        Assert.Contains(grow.Pages, p => p.PageNumber == lockPage - 1);
        Assert.Contains(grow.Pages, p => p.PageNumber == lockPage + 1);
        Assert.DoesNotContain(result.Transactions.SelectMany(t => t.Pages), p => p.PageNumber == lockPage);
        foreach (var tx in result.Transactions)
        {
            applier.Begin();
            foreach (var part in reader.ReadPageParts(tx, 4 << 20))
            {
                applier.Write(part);
                foreach (var page in part) replicaHash.SetPage(page.PageNumber, page.Data);
            }
            applier.Commit(tx.PageCount);
            replicaHash.SetPageCount(tx.PageCount);
        }
        output.WriteLine($"tail applied at {clock.Elapsed.TotalSeconds:F1} s");

        // A fresh snapshot of the grown primary (across the lock-byte page), the replica recomputed from its file,
        // and the hash kept from the stream all agree.
        guard.BeginRotation();
        guard.CompleteRotation();
        SnapshotInfo grown;
        using (var snapshot = PrimarySnapshot.TryPin(primaryPath, guard))
            grown = Assert.IsType<PrimarySnapshot>(snapshot).CopyTo(null);
        guard.Release();
        using var replica = SqliteConnections.OpenReadOnly(replicaPath);
        var recomputed = DatabaseHash.Compute(replica);
        Assert.Equal((uint)finalPages, grown.PageCount);
        Assert.Equal((uint)finalPages, recomputed.PageCount);
        Assert.Equal(grown.Hash.Value, recomputed.Value);
        Assert.Equal(replicaHash.Value, recomputed.Value);
        Assert.Equal(0ul, recomputed.PageHashAt(lockPage));
        Assert.Equal(finalPages, replica.Scalar<long>("PRAGMA page_count"));
        output.WriteLine($"hashes compared at {clock.Elapsed.TotalSeconds:F1} s");

        // Spot checks: the pages around the lock-byte page, byte for byte, and the rows' content.
        using var primary = SqliteConnections.OpenReadOnly(primaryPath);
        for (var p = lockPage - 8; p <= lockPage + 8; p++)
        {
            var expected = Page(primary, p);
            var actual = Page(replica, p);
            Assert.Equal(PageSize, actual.Length);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"page {p} differs");
            if (p == lockPage) Assert.All(actual, b => Assert.Equal(0, b));
        }
        foreach (var id in new[] { 1, 1030, 2001, 2030, 2059, 2080, 3000 })
        {
            var sql = $"SELECT data FROM big WHERE id = {id}";
            Assert.Equal((byte[])new SqliteCommand(sql, primary).ExecuteScalar()!, (byte[])new SqliteCommand(sql, replica).ExecuteScalar()!);
        }
        Assert.Equal(1030 + 80 + 1, replica.Scalar<long>("SELECT count(*) FROM big"));
        Assert.Equal("ok", replica.Scalar<string>("PRAGMA quick_check"));
        output.WriteLine($"done at {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static byte[] Page(SqliteConnection connection, uint pageNumber)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT data FROM sqlite_dbpage WHERE pgno = @p";
        command.Parameters.AddWithValue("@p", (long)pageNumber);
        return (byte[])command.ExecuteScalar()!;
    }
}

using System.Buffers.Binary;
using System.IO.Hashing;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Storage.Tests;

public class DatabaseHashTests
{
    private static byte[] RandomPage(int seed, int size = 4096)
    {
        var page = new byte[size];
        new Random(seed).NextBytes(page);
        return page;
    }

    /// <summary>The linear alternative: XOR over pages of CRC-64(page number ‖ page).</summary>
    private static ulong CrcXor(IEnumerable<(uint PageNumber, byte[] Data)> pages)
    {
        ulong total = 0;
        foreach (var (pageNumber, data) in pages)
        {
            var input = new byte[4 + data.Length];
            BinaryPrimitives.WriteUInt32BigEndian(input, pageNumber);
            data.CopyTo(input, 4);
            total ^= Crc64.HashToUInt64(input);
        }
        return total;
    }

    [Fact]
    public void SwappedPageContentsChangeTheHashButNotACrcXor()
    {
        var a = RandomPage(1);
        var b = RandomPage(2);
        var c = RandomPage(3);
        var original = new DatabaseHash(4096);
        original.Apply([new PageImage(1, c), new PageImage(2, a), new PageImage(3, b)], 3);
        var swapped = new DatabaseHash(4096);
        swapped.Apply([new PageImage(1, c), new PageImage(2, b), new PageImage(3, a)], 3);
        Assert.NotEqual(original.Value, swapped.Value);

        // CRC is affine, so crc(2‖a) ^ crc(3‖b) == crc(2‖b) ^ crc(3‖a) for equal lengths: the swap is invisible to it.
        Assert.Equal(CrcXor([(1, c), (2, a), (3, b)]), CrcXor([(1, c), (2, b), (3, a)]));
    }

    [Fact]
    public void SwappingTwoPagesOfARealReplicaIsDetected()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.Commit("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) INSERT INTO t SELECT i, randomblob(3000) FROM n");
        var pages = ReplicationHarness.ReadPages(h.ReplicaPath);
        var before = h.ReplicaHash!.Value;
        const int x = 5, y = 9;
        Assert.False(pages[x - 1].AsSpan().SequenceEqual(pages[y - 1]));

        // The likeliest applier bug: right pages, wrong places.
        using (var applier = ReplicaPageWriter.Open(h.ReplicaPath, 4096))
            applier.Apply([new PageImage(x, pages[y - 1]), new PageImage(y, pages[x - 1])], (uint)pages.Count);

        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        var recomputed = DatabaseHash.Compute(replica);
        Assert.NotEqual(before, recomputed.Value);
        Assert.NotEqual(h.ReplicaHash.PageHashAt(x), recomputed.PageHashAt(x));
        // Page 1 left out: the apply rewrote its change counter.
        var all = ReplicationHarness.ReadPages(h.ReplicaPath).Select((p, i) => ((uint)(i + 1), p)).Skip(1).ToList();
        var original = pages.Select((p, i) => ((uint)(i + 1), p)).Skip(1).ToList();
        Assert.Equal(CrcXor(original), CrcXor(all));
    }

    [Fact]
    public void PageOneHeaderBytesThatEachSqliteRewritesAreIgnored()
    {
        var page = RandomPage(7);
        var baseline = DatabaseHash.PageHash(1, page);
        foreach (var index in new[] { 24, 25, 26, 27, 92, 95, 96, 99 })
        {
            var changed = (byte[])page.Clone();
            changed[index] ^= 0xff;
            Assert.Equal(baseline, DatabaseHash.PageHash(1, changed));
        }
        foreach (var index in new[] { 0, 18, 23, 28, 31, 91, 100, 4095 })
        {
            var changed = (byte[])page.Clone();
            changed[index] ^= 0xff;
            Assert.NotEqual(baseline, DatabaseHash.PageHash(1, changed));
        }
        // Only page 1 is normalised.
        var other = (byte[])page.Clone();
        other[24] ^= 0xff;
        Assert.NotEqual(DatabaseHash.PageHash(2, page), DatabaseHash.PageHash(2, other));
        // The page number seeds the hash: the same bytes at another place hash differently.
        Assert.NotEqual(DatabaseHash.PageHash(2, page), DatabaseHash.PageHash(3, page));
    }

    [Theory]
    [InlineData(512, 2097153u)]
    [InlineData(4096, 262145u)]
    [InlineData(65536, 16385u)]
    public void LockBytePageIsLeftOut(int pageSize, uint lockPage)
    {
        Assert.Equal(lockPage, DatabaseHash.LockBytePage(pageSize));
        Assert.Equal(0x40000000L, (lockPage - 1L) * pageSize);
        Assert.Equal(0ul, DatabaseHash.PageHash(lockPage, RandomPage(1, pageSize)));
        Assert.NotEqual(0ul, DatabaseHash.PageHash(lockPage - 1, RandomPage(1, pageSize)));
    }

    [Fact]
    public void IncrementalUpdatesEqualAFreshComputation()
    {
        var random = new Random(42);
        var pages = new Dictionary<uint, byte[]>();
        var incremental = new DatabaseHash(512);
        uint count = 0;
        for (var step = 0; step < 200; step++)
        {
            var batch = new List<PageImage>();
            var newCount = (uint)Math.Max(1, (int)count + random.Next(-5, 8));
            for (var i = 0; i < random.Next(1, 6); i++)
            {
                var page = new PageImage((uint)random.Next(1, (int)newCount + 1), RandomPage(random.Next(), 512));
                batch.Add(page);
            }
            incremental.Apply(batch, newCount);
            foreach (var p in batch) pages[p.PageNumber] = p.Data;
            foreach (var gone in pages.Keys.Where(k => k > newCount).ToList()) pages.Remove(gone);
            count = newCount;

            var fresh = new DatabaseHash(512);
            var zero = new byte[512];
            for (var p = 1u; p <= count; p++) fresh.SetPage(p, pages.TryGetValue(p, out var data) ? data : zero);
            Assert.Equal(fresh.Value, incremental.Value);
            Assert.Equal(count, incremental.PageCount);
        }
    }
}

/// <summary>
/// <see cref="DatabaseHash.Compute"/> reads most pages straight from the database file in blocks; these compare it with
/// the page-by-page hash through <c>sqlite_dbpage</c> in the same read transaction, on files whose newest pages are in
/// the WAL, across several 4 MiB blocks, and while another connection commits and checkpoints.
/// </summary>
public sealed class DatabaseHashComputeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("litecast-hash-").FullName;
    private string Path => System.IO.Path.Combine(_directory, "db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>The hash of every page <c>sqlite_dbpage</c> gives in the connection's current read transaction.</summary>
    private static ulong PageByPage(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT pgno, data FROM sqlite_dbpage";
        using var reader = command.ExecuteReader();
        ulong total = 0;
        while (reader.Read()) total ^= DatabaseHash.PageHash((uint)reader.GetInt64(0), (byte[])reader.GetValue(1));
        return total;
    }

    /// <summary>About 12 MB (three blocks) of rows, checkpointed into the file, the WAL then empty.</summary>
    private Microsoft.Data.Sqlite.SqliteConnection CreateCheckpointed()
    {
        var writer = SqliteConnections.OpenOrCreate(Path);
        writer.Execute("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        writer.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t SELECT i, randomblob(3500) FROM n");
        writer.Execute("PRAGMA wal_checkpoint(TRUNCATE)");
        return writer;
    }

    [Fact]
    public void PagesWhoseNewestImagesAreInTheWalAreHashedAsTheTransactionSeesThem()
    {
        using var writer = CreateCheckpointed();
        // Rows spread over every block; then the same rows again, so the WAL holds two images of each page and the
        // database file a third (one checkpoint between them backfills the first).
        writer.Execute("UPDATE t SET v = randomblob(3500) WHERE id % 97 = 0");
        writer.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        writer.Execute("UPDATE t SET v = randomblob(3500) WHERE id % 97 = 0");
        writer.Execute("INSERT INTO t SELECT id + 10000, randomblob(3500) FROM t WHERE id <= 300");
        Assert.True(new FileInfo(Path + "-wal").Length > 0);

        using var read = SqliteConnections.OpenReadOnly(Path);
        var computed = DatabaseHash.Compute(read);

        Assert.Equal(PageByPage(read), computed.Value);
        Assert.Equal(read.Scalar<long>("PRAGMA page_count"), computed.PageCount);
        Assert.True(computed.PageCount > 2 * (4 << 20) / 4096, $"{computed.PageCount} pages span more than two blocks");
    }

    /// <summary>
    /// A hash in a read transaction describes its snapshot while another connection commits and checkpoints. Started
    /// on an empty WAL the reader needs no frame (SQLite's read mark 0): a checkpoint must then write nothing into the
    /// file the hash reads. Started after frames, its mark bounds the checkpoint.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AHashInAReadTransactionIsOfItsSnapshotWhateverIsCheckpointedMeanwhile(bool framesBeforeTheReader)
    {
        using var writer = CreateCheckpointed();
        if (framesBeforeTheReader) writer.Execute("UPDATE t SET v = randomblob(3500) WHERE id % 89 = 0");
        using var read = SqliteConnections.OpenReadOnly(Path);
        read.Execute("BEGIN");
        var snapshot = PageByPage(read);

        writer.Execute("UPDATE t SET v = zeroblob(3500) WHERE id % 3 = 0");
        writer.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        writer.Execute("DELETE FROM t WHERE id % 5 = 0");
        writer.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        var during = DatabaseHash.Compute(read);
        read.Execute("ROLLBACK");
        var after = DatabaseHash.Compute(read);

        Assert.Equal(snapshot, during.Value);
        Assert.NotEqual(snapshot, after.Value);
        read.Execute("BEGIN");
        Assert.Equal(PageByPage(read), after.Value);
        read.Execute("ROLLBACK");
    }
}

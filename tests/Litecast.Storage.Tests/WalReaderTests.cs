using System.Buffers.Binary;
using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>WalReader on WALs built byte by byte: corrupt, torn, foreign and big-endian files.</summary>
public sealed class WalReaderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-wal-" + Guid.NewGuid().ToString("N"));
    private readonly string _walPath;

    public WalReaderTests()
    {
        Directory.CreateDirectory(_directory);
        _walPath = Path.Combine(_directory, "test.db-wal");
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>Three transactions: {1,2} size 2; {2,3,2} size 3 (page 2 twice); {3} size 3. Returns frame offsets.</summary>
    private static List<long> ThreeTransactions(TestWalWriter w)
    {
        return
        [
            w.Frame(1, w.Page(1)),
            w.Frame(2, w.Page(2), commitSize: 2),
            w.Frame(2, w.Page(3)),
            w.Frame(3, w.Page(4)),
            w.Frame(2, w.Page(5), commitSize: 3),
            w.Frame(3, w.Page(6), commitSize: 3),
        ];
    }

    [Theory]
    [InlineData(false, 512)]
    [InlineData(false, 4096)]
    [InlineData(false, 65536)]
    [InlineData(true, 512)]
    [InlineData(true, 4096)]
    [InlineData(true, 65536)]
    public void ParsesCommittedTransactionsInBothByteOrders(bool bigEndian, int pageSize)
    {
        var w = new TestWalWriter(pageSize, 0x11111111, 0x22222222, bigEndian);
        var offsets = ThreeTransactions(w);
        w.WriteTo(_walPath);

        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalReadOutcome.Read, result.Outcome);
        Assert.Equal(WalStop.EndOfFile, result.Stop);
        Assert.Null(result.Detail);
        Assert.Equal(bigEndian, result.Header!.Value.BigEndianChecksums);
        Assert.Equal(pageSize, result.Header!.Value.PageSize);
        Assert.Equal(3, result.Transactions.Count);

        var t = result.Transactions;
        Assert.Equal([1u, 2u], t[0].Pages.Select(p => p.PageNumber));
        Assert.Equal(2u, t[0].PageCount);
        // Last frame of a page wins inside a transaction.
        Assert.Equal([(2u, offsets[4]), (3u, offsets[3])], t[1].Pages.Select(p => (p.PageNumber, p.FrameOffset)));
        Assert.Equal(w.Page(5), reader.ReadPage(t[1], t[1].Pages[0]));
        Assert.Equal(w.Page(6), reader.ReadPage(t[2], t[2].Pages[0]));
        Assert.Equal(w.Length, t[2].EndOffset);
        Assert.Equal(w.RunningChecksum, (t[2].EndChecksum.S1, t[2].EndChecksum.S2));
        Assert.Equal(t[2].EndCursor, reader.Cursor);

        // Nothing new: the next read returns nothing and keeps the cursor.
        var again = reader.Read();
        Assert.Empty(again.Transactions);
        Assert.Equal(WalStop.EndOfFile, again.Stop);
        Assert.Equal(t[2].EndCursor, reader.Cursor);
    }

    [Fact]
    public void BigEndianWalIsRejectedWhenReadAsLittleEndian()
    {
        // The same bytes with the magic switched to little-endian checksums fail: the byte order really matters.
        var w = new TestWalWriter(4096, 5, 6, bigEndian: true, magic: TestWalWriter.MagicLittleEndian);
        w.Frame(1, w.Page(1), commitSize: 1);
        w.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalReadOutcome.InvalidHeader, result.Outcome);
        Assert.Contains("checksum", result.Detail);
    }

    [Fact]
    public void PagesPastTheCommitSizeAreDropped()
    {
        var w = new TestWalWriter(1024, 1, 2);
        w.Frame(1, w.Page(1));
        w.Frame(5, w.Page(2));
        w.Frame(3, w.Page(3));
        w.Frame(4, w.Page(4), commitSize: 3);
        w.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        var tx = Assert.Single(reader.Read().Transactions);
        Assert.Equal(3u, tx.PageCount);
        Assert.Equal([1u, 3u], tx.Pages.Select(p => p.PageNumber));
    }

    [Fact]
    public void FramesPastTheLastCommitAreNeverReturnedUntilCommitted()
    {
        var w = new TestWalWriter(4096, 7, 8);
        w.Frame(1, w.Page(1), commitSize: 1);
        w.Frame(2, w.Page(2));
        w.Frame(3, w.Page(3));
        w.WriteTo(_walPath);

        using var reader = new WalReader(_walPath);
        var first = reader.Read();
        var tx = Assert.Single(first.Transactions);
        Assert.Equal([1u], tx.Pages.Select(p => p.PageNumber));
        Assert.Equal(WalStop.EndOfFile, first.Stop);
        Assert.Equal(32 + w.FrameSize, reader.Cursor.Offset);

        // Reading again still does not return the open transaction.
        Assert.Empty(reader.Read().Transactions);
        Assert.Equal(32 + w.FrameSize, reader.Cursor.Offset);

        // Once its commit frame lands, the whole transaction comes at once.
        w.Frame(4, w.Page(4), commitSize: 4);
        w.WriteTo(_walPath);
        var second = Assert.Single(reader.Read().Transactions);
        Assert.Equal([2u, 3u, 4u], second.Pages.Select(p => p.PageNumber));
        Assert.Equal(w.Length, reader.Cursor.Offset);
    }

    [Fact]
    public void FlippedByteStopsAtThatFrame()
    {
        var w = new TestWalWriter(4096, 9, 10);
        var offsets = ThreeTransactions(w);
        var bytes = w.ToArray();
        bytes[offsets[3] + 24 + 1000] ^= 0x01; // inside the page of the second transaction's second frame
        File.WriteAllBytes(_walPath, bytes);

        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalReadOutcome.Read, result.Outcome);
        Assert.Equal(WalStop.ChecksumMismatch, result.Stop);
        Assert.Equal(offsets[3], result.StopOffset);
        Assert.Contains($"offset {offsets[3]}", result.Detail);
        Assert.Contains("checksum", result.Detail);
        var tx = Assert.Single(result.Transactions);
        Assert.Equal(offsets[2], tx.EndOffset);
        Assert.Equal(offsets[2], reader.Cursor.Offset);

        // The corrupt frame stays a wall: nothing after it is ever returned, however often we read.
        var again = reader.Read();
        Assert.Empty(again.Transactions);
        Assert.Equal(WalStop.ChecksumMismatch, again.Stop);
    }

    [Fact]
    public void FlippedByteInAFrameHeaderIsDetected()
    {
        var w = new TestWalWriter(512, 9, 10, bigEndian: true);
        var offsets = ThreeTransactions(w);
        var bytes = w.ToArray();
        bytes[offsets[1] + 3] ^= 0x40; // the page number of the first transaction's commit frame
        File.WriteAllBytes(_walPath, bytes);
        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Empty(result.Transactions);
        Assert.Equal(WalStop.ChecksumMismatch, result.Stop);
        Assert.Equal(offsets[1], result.StopOffset);
        Assert.Equal(32, reader.Cursor.Offset);
    }

    [Fact]
    public void TornLastFrameIsAPartialFrame()
    {
        var w = new TestWalWriter(4096, 3, 4);
        var offsets = ThreeTransactions(w);
        var bytes = w.ToArray();
        File.WriteAllBytes(_walPath, bytes.AsSpan(0, (int)offsets[5] + 24 + 100).ToArray());

        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalStop.PartialFrame, result.Stop);
        Assert.Equal(2, result.Transactions.Count);
        Assert.Equal(offsets[5], reader.Cursor.Offset);

        // The write completes: the last transaction follows.
        File.WriteAllBytes(_walPath, bytes);
        var rest = reader.Read();
        Assert.Equal(WalStop.EndOfFile, rest.Stop);
        Assert.Equal([3u], Assert.Single(rest.Transactions).Pages.Select(p => p.PageNumber));
    }

    [Fact]
    public void BadMagicIsAnInvalidHeaderWithAClearDetail()
    {
        var w = new TestWalWriter(4096, 1, 2, magic: 0xdeadbeef);
        w.Frame(1, w.Page(1), commitSize: 1);
        w.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalReadOutcome.InvalidHeader, result.Outcome);
        Assert.Empty(result.Transactions);
        Assert.Contains("bad magic 0xdeadbeef", result.Detail);
        Assert.Contains(_walPath, result.Detail);
    }

    [Theory]
    [InlineData(7, "format version")]   // last byte of the version field
    [InlineData(8, "page size")]        // the page size field, set to 3000
    [InlineData(19, "checksum")]        // salt1: covered by the header checksum
    [InlineData(27, "checksum")]        // the first checksum word itself
    public void DamagedHeaderIsAnInvalidHeader(int byteIndex, string expected)
    {
        var w = new TestWalWriter(4096, 1, 2);
        w.Frame(1, w.Page(1), commitSize: 1);
        var bytes = w.ToArray();
        if (byteIndex == 8) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), 3000); // not a power of two
        else bytes[byteIndex] ^= 0x10;
        File.WriteAllBytes(_walPath, bytes);
        using var reader = new WalReader(_walPath);
        var result = reader.Read();
        Assert.Equal(WalReadOutcome.InvalidHeader, result.Outcome);
        Assert.Contains(expected, result.Detail);
    }

    [Fact]
    public void MissingOrShortWalIsNoWal()
    {
        using var reader = new WalReader(_walPath);
        Assert.Equal(WalReadOutcome.NoWal, reader.Read().Outcome);
        File.WriteAllBytes(_walPath, new byte[10]);
        Assert.Equal(WalReadOutcome.NoWal, reader.Read().Outcome);
    }

    /// <summary>An application's TRUNCATE checkpoint empties the WAL in place (same inode) while the reader holds it
    /// open: nothing to read, and a saved cursor cannot be resumed; neither is an error.</summary>
    [Fact]
    public void WalEmptiedInPlaceIsNoWalAndCannotBeResumed()
    {
        var w = new TestWalWriter(1024, 1, 2);
        ThreeTransactions(w);
        w.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        Assert.Equal(3, reader.Read().Transactions.Count);
        var cursor = reader.Cursor;
        using (var truncate = new FileStream(_walPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) truncate.SetLength(0);

        Assert.Equal(WalReadOutcome.NoWal, reader.Read().Outcome);
        Assert.False(reader.TryResume(cursor, null, out var reason));
        Assert.Contains("empty", reason);
    }

    [Fact]
    public void SaltsChangedWithoutTheRestartPatternAreReportedWithBothHeaders()
    {
        var before = new TestWalWriter(4096, 100, 200);
        before.Frame(1, before.Page(1), commitSize: 1);
        before.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        Assert.Single(reader.Read().Transactions);

        // Another WAL altogether: salt1 jumped by 5, not by 1.
        var foreign = new TestWalWriter(4096, 105, 999);
        foreign.Frame(1, foreign.Page(7), commitSize: 1);
        foreign.Frame(2, foreign.Page(8), commitSize: 2);
        foreign.WriteTo(_walPath);
        var restarted = reader.Read();
        Assert.Equal(WalReadOutcome.Restarted, restarted.Outcome);
        Assert.Empty(restarted.Transactions);
        Assert.Equal(100u, restarted.PreviousHeader!.Value.Salt1);
        Assert.Equal(105u, restarted.Header!.Value.Salt1);
        Assert.NotEqual(restarted.PreviousHeader!.Value.Salt1 + 1, restarted.Header!.Value.Salt1);

        // The reader follows the new WAL from its start once the caller reads on.
        var next = reader.Read();
        Assert.Equal(WalReadOutcome.Read, next.Outcome);
        Assert.Equal(2, next.Transactions.Count);
        Assert.Equal(105u, reader.Cursor.Salt1);
    }

    [Fact]
    public void AWalDeletedAndCreatedAgainIsReplacedNotRestarted()
    {
        var before = new TestWalWriter(4096, 100, 200);
        before.Frame(1, before.Page(1), commitSize: 1);
        before.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        Assert.Single(reader.Read().Transactions);

        // The database renamed over and its WAL removed: a new file, even with the restart pattern's salts.
        File.Delete(_walPath);
        Assert.Equal(WalReadOutcome.NoWal, reader.Read().Outcome);
        var other = new TestWalWriter(4096, 101, 7);
        other.Frame(1, other.Page(9), commitSize: 1);
        other.WriteTo(_walPath);
        var replaced = reader.Read();
        Assert.Equal(WalReadOutcome.Replaced, replaced.Outcome);
        Assert.Empty(replaced.Transactions);
        Assert.Equal(100u, replaced.PreviousHeader!.Value.Salt1);
        Assert.Equal(101u, replaced.Header!.Value.Salt1);

        // The reader follows the new file from its start once the caller reads on; an in-place rewrite is a restart.
        Assert.Single(reader.Read().Transactions);
        var rewritten = new TestWalWriter(4096, 102, 8);
        rewritten.Frame(1, rewritten.Page(3), commitSize: 1);
        rewritten.WriteTo(_walPath);
        Assert.Equal(WalReadOutcome.Restarted, reader.Read().Outcome);
    }

    [Fact]
    public void RestartWithTheSalt1PlusOnePatternLeavesStaleFramesBehind()
    {
        var old = new TestWalWriter(4096, 41, 1);
        for (uint i = 1; i <= 4; i++) old.Frame(i, old.Page((int)i), commitSize: i);
        old.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        Assert.Equal(4, reader.Read().Transactions.Count);

        // SQLite restarts the WAL in place: new header (salt1 + 1), new frames over the start, old frames left behind.
        var fresh = new TestWalWriter(4096, 42, 77, checkpointSequence: 1);
        fresh.Frame(1, fresh.Page(50), commitSize: 4);
        var bytes = old.ToArray();
        fresh.ToArray().CopyTo(bytes, 0);
        File.WriteAllBytes(_walPath, bytes);

        var restarted = reader.Read();
        Assert.Equal(WalReadOutcome.Restarted, restarted.Outcome);
        Assert.Equal(restarted.PreviousHeader!.Value.Salt1 + 1, restarted.Header!.Value.Salt1);
        var next = reader.Read();
        var tx = Assert.Single(next.Transactions);
        Assert.Equal(fresh.Page(50), reader.ReadPage(tx, tx.Pages[0]));
        Assert.Equal(WalStop.StaleFrame, next.Stop);
        Assert.Equal(fresh.Length, next.StopOffset);
    }

    [Fact]
    public void ReadPageRefusesAFrameOverwrittenByARestart()
    {
        var old = new TestWalWriter(4096, 41, 1);
        old.Frame(1, old.Page(1), commitSize: 1);
        old.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        var tx = Assert.Single(reader.Read().Transactions);
        var fresh = new TestWalWriter(4096, 42, 1);
        fresh.Frame(1, fresh.Page(2), commitSize: 1);
        fresh.WriteTo(_walPath);
        Assert.Throws<WalOverwrittenException>(() => reader.ReadPage(tx, tx.Pages[0]));
    }

    [Fact]
    public void MaxTransactionsLimitsARead()
    {
        var w = new TestWalWriter(4096, 1, 1);
        ThreeTransactions(w);
        w.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        var first = reader.Read(maxTransactions: 2);
        Assert.Equal(2, first.Transactions.Count);
        Assert.Equal(WalStop.Limit, first.Stop);
        Assert.Single(reader.Read().Transactions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TryResumeAcceptsAValidCursorAndRejectsWrongOnes(bool bigEndian)
    {
        var w = new TestWalWriter(4096, 500, 600, bigEndian);
        var offsets = ThreeTransactions(w);
        w.WriteTo(_walPath);
        WalCursor afterFirst, atHeader;
        using (var first = new WalReader(_walPath))
        {
            var txs = first.Read().Transactions;
            afterFirst = txs[0].EndCursor;
            atHeader = new WalCursor(500, 600, 32, first.Header!.Value.Checksum);
        }

        using (var resumed = new WalReader(_walPath))
        {
            Assert.True(resumed.TryResume(afterFirst, null, out var reason), reason);
            Assert.Null(reason);
            var rest = resumed.Read();
            Assert.Equal(WalReadOutcome.Read, rest.Outcome);
            Assert.Equal([offsets[4] + w.FrameSize, w.Length], rest.Transactions.Select(t => t.EndOffset));
        }
        using (var resumed = new WalReader(_walPath))
        {
            Assert.True(resumed.TryResume(atHeader, null, out var reason), reason);
            Assert.Equal(3, resumed.Read().Transactions.Count);
        }

        var wrongChecksum = afterFirst with { Checksum = new WalChecksum(afterFirst.Checksum.S1 ^ 1, afterFirst.Checksum.S2) };
        var wrongSalt1 = afterFirst with { Salt1 = 501 };
        var wrongSalt2 = afterFirst with { Salt2 = 601 };
        var notABoundary = afterFirst with { Offset = afterFirst.Offset + 100 };
        var notACommit = afterFirst with { Offset = offsets[3] };
        var pastTheEnd = afterFirst with { Offset = w.Length + w.FrameSize };
        var wrongHeaderChecksum = atHeader with { Checksum = new WalChecksum(1, 2) };
        foreach (var (cursor, expected) in new[]
                 {
                     (wrongChecksum, "checksum"), (wrongSalt1, "salts"), (wrongSalt2, "salts"), (notABoundary, "frame boundary"),
                     (notACommit, "commit frame"), (pastTheEnd, "frame boundary"), (wrongHeaderChecksum, "header checksum"),
                 })
        {
            using var reader = new WalReader(_walPath);
            Assert.False(reader.TryResume(cursor, null, out var reason), $"accepted {cursor}");
            Assert.Contains(expected, reason);
            Assert.Null(reader.Header);
        }
    }

    [Fact]
    public void TryResumeRejectsAMissingWal()
    {
        using var reader = new WalReader(_walPath);
        Assert.False(reader.TryResume(new WalCursor(1, 2, 32, default), null, out var reason));
        Assert.Contains("missing", reason);
    }

    /// <summary>Reads the three transactions of a first WAL and returns the cursor after them and the file's identity,
    /// as a tailer leaves them in the resume point.</summary>
    private (WalCursor Cursor, FileIdentity File) ReadFirstWal()
    {
        var first = new TestWalWriter(1024, 10, 20);
        ThreeTransactions(first);
        first.WriteTo(_walPath);
        using var reader = new WalReader(_walPath);
        Assert.Equal(3, reader.Read().Transactions.Count);
        return (reader.Cursor, reader.WalFile!.Value);
    }

    [Theory]
    [InlineData(11u, 20u)]
    [InlineData(0x9e3779b9u, 0x7f4a7c15u)]
    public void TryResumeUnderAHeldGuardFollowsTheSameWalFileRestartedFromItsStart(uint salt1, uint salt2)
    {
        var (cursor, walFile) = ReadFirstWal();
        // Restarted in place, as SQLite does (salt1 + 1, or random salts from a connection that never checkpointed).
        var restarted = new TestWalWriter(1024, salt1, salt2);
        restarted.Frame(1, restarted.Page(7));
        restarted.Frame(4, restarted.Page(8), commitSize: 4);
        restarted.WriteTo(_walPath);
        Assert.Equal(walFile, FileIdentity.Of(_walPath));

        using (var unguarded = new WalReader(_walPath))
        {
            Assert.False(unguarded.TryResume(cursor, null, out var reason));
            Assert.Contains("salts changed", reason);
        }
        using var reader = new WalReader(_walPath);
        Assert.True(reader.TryResume(cursor, walFile, out var guardedReason), guardedReason);
        var read = reader.Read();
        Assert.Equal(WalReadOutcome.Read, read.Outcome);
        var transaction = Assert.Single(read.Transactions);
        Assert.Equal((salt1, salt2, 4u), (transaction.Salt1, transaction.Salt2, transaction.PageCount));
        Assert.Equal([1u, 4u], transaction.Pages.Select(p => p.PageNumber));
        Assert.Equal(restarted.Page(8), reader.ReadPage(transaction, transaction.Pages[1]));
    }

    [Fact]
    public void TryResumeUnderAHeldGuardTakesAnEmptiedWalAsStartingWithItsNextHeader()
    {
        var (cursor, walFile) = ReadFirstWal();
        using (var truncate = new FileStream(_walPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) truncate.SetLength(0);

        using var reader = new WalReader(_walPath);
        Assert.True(reader.TryResume(cursor, walFile, out var reason), reason);
        Assert.Null(reader.Header);
        Assert.Equal(WalReadOutcome.NoWal, reader.Read().Outcome);
        var next = new TestWalWriter(1024, 11, 21);
        next.Frame(2, next.Page(9), commitSize: 3);
        next.WriteTo(_walPath);
        var read = reader.Read();
        Assert.Equal(WalReadOutcome.Read, read.Outcome);
        Assert.Equal(next.Page(9), reader.ReadPage(read.Transactions.Single(), read.Transactions.Single().Pages.Single()));
    }

    [Fact]
    public void TryResumeNeverFollowsAnotherWalFileEvenUnderAHeldGuard()
    {
        var (cursor, walFile) = ReadFirstWal();
        // Another file renamed over it: another inode, whatever its header says.
        var other = new TestWalWriter(1024, 11, 20);
        other.Frame(1, other.Page(7), commitSize: 1);
        other.WriteTo(_walPath + ".new");
        File.Move(_walPath + ".new", _walPath, overwrite: true);
        Assert.NotEqual(walFile, FileIdentity.Of(_walPath));

        using var reader = new WalReader(_walPath);
        Assert.False(reader.TryResume(cursor, walFile, out var reason));
        Assert.Contains("salts changed", reason);
        Assert.Null(reader.Header);
    }

    [Fact]
    public void TryResumeUnderAHeldGuardStillRefusesAWrongCursorInTheSameWal()
    {
        var (cursor, walFile) = ReadFirstWal();
        using var reader = new WalReader(_walPath);
        var wrong = cursor with { Checksum = new WalChecksum(cursor.Checksum.S1 ^ 1, cursor.Checksum.S2) };
        Assert.False(reader.TryResume(wrong, walFile, out var reason));
        Assert.Contains("checksum", reason);
        Assert.True(reader.TryResume(cursor, walFile, out reason), reason);
        Assert.Equal(WalStop.EndOfFile, reader.Read().Stop);
        Assert.Equal(cursor, reader.Cursor);
    }

    /// <summary>
    /// Proves the test writer is SQLite's format: it re-creates a WAL written by SQLite byte for byte, and SQLite
    /// itself recovers a database from the big-endian re-encoding of it.
    /// </summary>
    [Fact]
    public void TestWriterMatchesSqliteAndSqliteReadsItsBigEndianWal()
    {
        var source = Path.Combine(_directory, "source.db");
        using (var app = SqliteConnections.OpenOrCreate(source))
        {
            app.Execute("PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
            app.Execute("CREATE TABLE t(x, y)");
            app.Execute("INSERT INTO t " +
                        "WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 50) " +
                        "SELECT value, randomblob(3000) FROM n");
            app.Execute("UPDATE t SET x = x * 2 WHERE x % 7 = 0");
        } // closed without checkpoint (NO_CKPT_ON_CLOSE): the WAL stays, the database file holds only the old state

        var wal = File.ReadAllBytes(source + "-wal");
        var header = wal.AsSpan(0, 32);
        var pageSize = (int)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        var salt1 = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        var salt2 = BinaryPrimitives.ReadUInt32BigEndian(header[20..]);
        var sequence = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        var bigEndianHost = !BitConverter.IsLittleEndian;
        var same = new TestWalWriter(pageSize, salt1, salt2, bigEndianHost, sequence);
        var swapped = new TestWalWriter(pageSize, salt1, salt2, !bigEndianHost, sequence);
        var frameSize = 24 + pageSize;
        var frames = 0;
        for (var offset = 32; offset + frameSize <= wal.Length; offset += frameSize, frames++)
        {
            var frame = wal.AsSpan(offset, frameSize);
            var pgno = BinaryPrimitives.ReadUInt32BigEndian(frame);
            var commit = BinaryPrimitives.ReadUInt32BigEndian(frame[4..]);
            var page = frame[24..].ToArray();
            same.Frame(pgno, page, commit);
            swapped.Frame(pgno, page, commit);
        }
        Assert.True(frames > 10);
        Assert.Equal(wal, same.ToArray());

        var copy = Path.Combine(_directory, "copy.db");
        File.Copy(source, copy);
        swapped.WriteTo(copy + "-wal");
        using (var reader = new WalReader(copy + "-wal"))
        {
            var result = reader.Read();
            Assert.Equal(WalStop.EndOfFile, result.Stop);
            Assert.True(result.Header!.Value.BigEndianChecksums != bigEndianHost);
            Assert.Equal(3, result.Transactions.Count);
        }
        using var check = SqliteConnections.OpenExisting(copy);
        Assert.Equal(50, check.Scalar<long>("SELECT count(*) FROM t"));
        Assert.Equal(Enumerable.Range(1, 50).Select(x => x % 7 == 0 ? x * 2 : x).Sum(), check.Scalar<long>("SELECT sum(x) FROM t"));
        Assert.Equal("ok", check.Scalar<string>("PRAGMA integrity_check"));
    }
}

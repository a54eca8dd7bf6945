using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>
/// The WAL-index says which frames SQLite counts as committed; the WAL file alone cannot (a black-box review: a writer
/// killed with <c>kill -9</c> in the middle of its commit left frames with valid checksums and a commit mark, which the
/// tailer read and published, and the next writer overwrote).
/// </summary>
public sealed class WalIndexTests
{
    [Fact]
    public void TheIndexSaysWhatANewReadTransactionSees()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        for (var i = 0; i < 3; i++)
        {
            h.Commit($"INSERT INTO t(v) VALUES ('row {i}')");
            using var guard = new WalGuard(h.PrimaryPath);
            var seen = guard.BeginRotation();
            Assert.Equal(seen, WalIndex.ReadCommittedEnd(h.PrimaryPath));
            Assert.True(seen.MaxFrame > 0);
            Assert.Equal(h.Reader.Header!.Value.Salt1, seen.Salt1);
            Assert.Equal(seen.Offset(h.PageSize), h.Reader.Cursor.Offset);
        }
    }

    [Fact]
    public void ACommitWrittenButNeverCountedIsNotReadAndTheNextCommitIsReadExactly()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        h.Commit("INSERT INTO t(v) VALUES ('counted')");
        var counted = WalIndex.ReadCommittedEnd(h.PrimaryPath)!.Value;
        var uncountedAt = WriteUncountedCommit(h, "INSERT INTO t(v) VALUES ('never counted')");
        Assert.Equal(counted.Offset(h.PageSize), uncountedAt);

        // Going to the end of the file, a reader takes those frames for a commit: what the tailer used to publish.
        using (var toTheEnd = new WalReader(WalFormat.WalPath(h.PrimaryPath)))
            Assert.Contains(toTheEnd.Read().Transactions, tx => tx.StartOffset == uncountedAt);

        Assert.Equal(counted, WalIndex.ReadCommittedEnd(h.PrimaryPath));
        Assert.Empty(h.Drain());
        Assert.Equal(WalStop.VisibleEnd, h.LastRead!.Stop);
        Assert.True(h.Reader.HasFramesAfterCursor());

        // The next writer takes the WAL from the index's end, over those frames; the replica gets that commit only.
        h.Commit("INSERT INTO t(v) VALUES ('next')");
        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal("counted,next", replica.Scalar<string>("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id)"));
        Assert.False(h.Reader.HasFramesAfterCursor());
    }

    [Fact]
    public void AnIndexThatCannotBeTrustedAsItStandsReadsAsNone()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(v)");
        var copy = Path.Combine(h.Directory, "copy.db");
        Assert.Null(WalIndex.ReadCommittedEnd(copy));

        var index = File.ReadAllBytes(WalIndex.Path(h.PrimaryPath));
        // The two copies of the header differ: a writer was caught in the middle of updating them.
        var torn = (byte[])index.Clone();
        torn[16] ^= 1;
        File.WriteAllBytes(WalIndex.Path(copy), torn);
        Assert.Null(WalIndex.ReadCommittedEnd(copy));
        // Both copies agree but their checksum does not.
        torn[WalIndex.HeaderSize + 16] ^= 1;
        File.WriteAllBytes(WalIndex.Path(copy), torn);
        Assert.Null(WalIndex.ReadCommittedEnd(copy));
        // Not initialised (SQLite recovers it from the WAL at the next read).
        var uninitialised = (byte[])index.Clone();
        uninitialised[12] = uninitialised[WalIndex.HeaderSize + 12] = 0;
        File.WriteAllBytes(WalIndex.Path(copy), uninitialised);
        Assert.Null(WalIndex.ReadCommittedEnd(copy));
        File.WriteAllBytes(WalIndex.Path(copy), index);
        Assert.Equal(WalIndex.ReadCommittedEnd(h.PrimaryPath), WalIndex.ReadCommittedEnd(copy));
    }

    [Fact]
    public void AViewOfAnotherWalOrOfNoFrameShowsNoneOfThisFilesFrames()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(v)");
        h.Commit("INSERT INTO t VALUES (1)");
        var counted = WalIndex.ReadCommittedEnd(h.PrimaryPath)!.Value;
        foreach (var view in new[] { WalVisibleEnd.NoFrames, counted with { Salt1 = counted.Salt1 + 1 }, counted with { MaxFrame = 0 } })
        {
            using var reader = new WalReader(WalFormat.WalPath(h.PrimaryPath));
            var result = reader.Read(visible: view);
            Assert.Empty(result.Transactions);
            Assert.Equal(WalStop.VisibleEnd, result.Stop);
            Assert.Equal(WalFormat.HeaderSize, reader.Cursor.Offset);
        }
    }

    /// <summary>
    /// Leaves the primary's WAL as a writer killed between writing its commit and updating the WAL-index does: the same
    /// transaction is committed on a copy of the database, WAL and index, and its frames are written into the primary's
    /// WAL where the copy wrote them. Returns where they start.
    /// </summary>
    private static long WriteUncountedCommit(ReplicationHarness h, string sql)
    {
        var copy = Path.Combine(h.Directory, "uncounted.db");
        var walPath = WalFormat.WalPath(h.PrimaryPath);
        File.Copy(h.PrimaryPath, copy);
        File.Copy(walPath, WalFormat.WalPath(copy));
        File.Copy(WalIndex.Path(h.PrimaryPath), WalIndex.Path(copy));
        var start = new FileInfo(walPath).Length;
        byte[] frames;
        using (var writer = SqliteConnections.OpenExisting(copy))
        {
            writer.Execute(sql);
            // Read before the connection closes: the last connection to close checkpoints and deletes its WAL.
            var copyWal = File.ReadAllBytes(WalFormat.WalPath(copy));
            Assert.Equal(File.ReadAllBytes(walPath).AsSpan(0, (int)start).ToArray(), copyWal.AsSpan(0, (int)start).ToArray());
            frames = copyWal[(int)start..];
        }
        Assert.NotEmpty(frames);
        using var wal = new FileStream(walPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        wal.Position = start;
        wal.Write(frames);
        return start;
    }
}

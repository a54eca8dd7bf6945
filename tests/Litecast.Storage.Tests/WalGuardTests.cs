using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>
/// A guard knows where the committed frames end (<see cref="WalGuard.NextVisibleEnd"/>), so a reader bounded by it
/// finds every commit the guard sees without checking the frames of a transaction still being written.
/// </summary>
public sealed class WalGuardTests : IDisposable
{
    private const int PageSize = 4096;
    private const int FrameSize = WalFormat.FrameHeaderSize + PageSize;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-guard-" + Guid.NewGuid().ToString("N"));
    private readonly string _path;

    public WalGuardTests()
    {
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, "app.db");
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void TenureStaysThroughRotationsAndChangesWhenTheGuardIsTakenAgain()
    {
        using var app = SqliteConnections.OpenOrCreate(_path);
        app.Execute("PRAGMA journal_mode = WAL; CREATE TABLE t(v)");
        using var guard = new WalGuard(_path);
        Assert.Equal(0, guard.Tenure);
        guard.BeginRotation();
        Assert.Equal(0, guard.Tenure);
        guard.CompleteRotation();
        var first = guard.Tenure;
        Assert.NotEqual(0, first);
        for (var i = 0; i < 3; i++)
        {
            app.Execute("INSERT INTO t VALUES (1)");
            guard.BeginRotation();
            guard.CompleteRotation();
            Assert.Equal(first, guard.Tenure);
        }
        guard.Release();
        Assert.Equal(0, guard.Tenure);
        guard.BeginRotation();
        guard.CompleteRotation();
        Assert.NotEqual(0, guard.Tenure);
        Assert.NotEqual(first, guard.Tenure);
    }

    [Fact]
    public void AViewIsReadByACursorAtOrPastItsEndInTheSameWalOnly()
    {
        var view = new WalVisibleEnd(7, 8, 3);
        var end = view.Offset(PageSize);
        Assert.True(view.IsReadBy(new WalCursor(7, 8, end, default), PageSize));
        Assert.True(view.IsReadBy(new WalCursor(7, 8, end + FrameSize, default), PageSize));
        Assert.False(view.IsReadBy(new WalCursor(7, 8, end - FrameSize, default), PageSize));
        Assert.False(view.IsReadBy(new WalCursor(8, 8, end, default), PageSize));
        Assert.False(view.IsReadBy(new WalCursor(7, 9, end, default), PageSize));
        Assert.True(new WalVisibleEnd(7, 8, 0).IsReadBy(new WalCursor(1, 2, WalFormat.HeaderSize, default), PageSize));
    }

    [Fact]
    public void BoundedReadStopsAtTheCommittedFramesWhileABigTransactionIsBeingWritten()
    {
        using var app = SqliteConnections.OpenOrCreate(_path);
        app.Execute($"PRAGMA page_size = {PageSize}; PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        app.Execute("INSERT INTO t(v) VALUES (randomblob(100))");
        using var guard = new WalGuard(_path);
        using var reader = new WalReader(WalFormat.WalPath(_path));
        guard.BeginRotation();
        var committed = reader.Read(visible: guard.NextVisibleEnd);
        guard.CompleteRotation();
        Assert.Equal(2, committed.Transactions.Count);
        var cursor = reader.Cursor;
        Assert.Equal(WalStop.VisibleEnd, committed.Stop);
        Assert.Equal(new FileInfo(WalFormat.WalPath(_path)).Length, cursor.Offset);

        // A small page cache makes the open transaction spill its pages into the WAL as uncommitted frames.
        app.Execute("PRAGMA cache_size = 10");
        app.Execute("BEGIN");
        app.Execute("INSERT INTO t(v) SELECT randomblob(3000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n)");
        var walLength = new FileInfo(WalFormat.WalPath(_path)).Length;
        Assert.True(walLength - cursor.Offset > 1 << 20, $"the open transaction spilled only {walLength - cursor.Offset} bytes");

        guard.BeginRotation();
        var visible = guard.NextVisibleEnd;
        Assert.NotNull(visible);
        Assert.Equal((cursor.Salt1, cursor.Salt2), (visible.Value.Salt1, visible.Value.Salt2));
        Assert.Equal(cursor.Offset, visible.Value.Offset(PageSize));
        var bounded = reader.Read(visible: visible);
        Assert.Empty(bounded.Transactions);
        Assert.Equal(WalStop.VisibleEnd, bounded.Stop);
        Assert.Equal(cursor.Offset, bounded.StopOffset);
        // Unbounded, the same read checks every spilled frame before finding no commit.
        var unbounded = reader.Read();
        Assert.Empty(unbounded.Transactions);
        Assert.True(unbounded.StopOffset - cursor.Offset > 1 << 20);
        guard.CompleteRotation();

        app.Execute("COMMIT");
        guard.BeginRotation();
        var afterCommit = reader.Read(visible: guard.NextVisibleEnd);
        guard.CompleteRotation();
        var transaction = Assert.Single(afterCommit.Transactions);
        Assert.Equal(WalStop.VisibleEnd, afterCommit.Stop);
        Assert.Equal(new FileInfo(WalFormat.WalPath(_path)).Length, afterCommit.StopOffset);
        Assert.Equal((long)guard.NextVisibleEnd!.Value.MaxFrame, (afterCommit.StopOffset - WalFormat.HeaderSize) / FrameSize);
        using var check = SqliteConnections.OpenReadOnly(_path);
        Assert.Equal(check.Scalar<long>("PRAGMA page_count"), transaction.PageCount);
        Assert.Equal(2001, check.Scalar<long>("SELECT count(*) FROM t"));
    }
}

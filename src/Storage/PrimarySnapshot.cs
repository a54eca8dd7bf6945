using Microsoft.Data.Sqlite;

namespace Litecast.Storage;

/// <summary>What a snapshot copy produced: page size, page count and the hash of every page.</summary>
public sealed record SnapshotInfo(int PageSize, uint PageCount, DatabaseHash Hash);

/// <summary>
/// A consistent snapshot of the primary at a known position: exactly what the <see cref="WalGuard"/> sees, which is
/// where the tailer stands once it has rotated the guard and read up to the guard's view. Pinning takes no lock the
/// application's writer needs (an earlier version held BEGIN IMMEDIATE, which a busy writer starved until SQLite
/// answered BUSY and the tailer crashed). <see cref="CopyTo"/> copies the pages at full speed to a local file, so the
/// primary's WAL is never pinned for the length of a network transfer.
/// </summary>
public sealed class PrimarySnapshot : IDisposable
{
    private readonly SqliteConnection _reader;
    private readonly string _databasePath;
    private bool _open;

    private PrimarySnapshot(SqliteConnection reader, string databasePath, int pageSize)
    {
        _reader = reader;
        _databasePath = databasePath;
        _open = true;
        PageSize = pageSize;
    }

    public int PageSize { get; }

    /// <summary>
    /// Pins a snapshot at the view of <paramref name="guard"/>'s current guard; null when SQLite can no longer open
    /// that view (see <see cref="WalGuard.TryShareView"/>): rotate the guard, read up to it, and try again.
    /// </summary>
    public static PrimarySnapshot? TryPin(string databasePath, WalGuard guard)
    {
        var reader = SqliteConnections.OpenExisting(databasePath);
        try
        {
            if (!guard.TryShareView(reader))
            {
                reader.Dispose();
                return null;
            }
            var pageSize = reader.Scalar<int>("PRAGMA page_size");
            return new PrimarySnapshot(reader, databasePath, pageSize);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies every page to <paramref name="destinationPath"/> (a plain file of page images, page N at offset
    /// (N-1)*page size) and hashes it; with a null destination, only hashes. Ends the read transaction.
    /// <paramref name="copied"/> hears the number of bytes written so far after each block, so that a reader of the
    /// destination can serve its first pages while the rest are copied.
    /// </summary>
    /// <remarks>
    /// A page with no frame in the WAL is, in this snapshot, exactly its bytes in the database file, and stays so while
    /// the snapshot is pinned: a checkpoint writes only pages with frames, and none past the pinned reader's mark. So
    /// the file is read in large blocks through SQLite's own handle of it, and only the pages that appear anywhere in
    /// the WAL file (a superset of those with frames in the snapshot) are read through the pinned transaction
    /// (<c>sqlite_dbpage</c>). Reading every page through <c>sqlite_dbpage</c> took 2.3-2.9 s for 1.1 GiB, most of a
    /// resync's time on the primary. The caller still compares the result's hash with the one it tracks.
    /// </remarks>
    public SnapshotInfo CopyTo(string? destinationPath, Action<long>? copied = null)
    {
        if (!_open) throw new InvalidOperationException("the snapshot was already copied");
        var pageCount = (uint)_reader.Scalar<long>("PRAGMA page_count");
        var inWal = WalPages(WalFormat.WalPath(_databasePath), PageSize);
        var hash = new DatabaseHash(PageSize);
        using var output = destinationPath is null ? null : new FileStream(destinationPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        using var pageQuery = _reader.CreateCommand();
        pageQuery.CommandText = "SELECT data FROM sqlite_dbpage WHERE pgno = $pgno";
        var pageNumberParameter = pageQuery.Parameters.Add("$pgno", SqliteType.Integer);
        var blockPages = Math.Max(1, BlockBytes / PageSize);
        var block = new byte[blockPages * PageSize];
        for (var first = 1u; first <= pageCount; first += (uint)blockPages)
        {
            var count = (int)Math.Min(blockPages, pageCount - first + 1);
            var pages = block.AsSpan(0, count * PageSize);
            NativeSqlite.ReadMainFile(_reader, pages, (long)(first - 1) * PageSize);
            for (var i = 0; i < count; i++)
            {
                var pageNumber = first + (uint)i;
                var page = pages.Slice(i * PageSize, PageSize);
                if (inWal.Contains(pageNumber))
                {
                    pageNumberParameter.Value = pageNumber;
                    // GetBytes would open a blob handle, which a virtual table has none of: take the value whole.
                    var image = pageQuery.ExecuteScalar() as byte[];
                    if (image?.Length != PageSize) throw new InvalidDataException($"{_databasePath}: sqlite_dbpage gave page {pageNumber} as {image?.Length} bytes");
                    image.CopyTo(page);
                }
                hash.SetPage(pageNumber, page);
            }
            if (output is null) continue;
            output.Write(pages);
            copied?.Invoke(output.Position);
        }
        hash.SetPageCount(pageCount);
        // No fsync: the file is a scratch copy, deleted when the resync ends and at every start of the database actor,
        // so it never has to survive a crash; syncing 1 GiB cost about a second before the first page could be sent.
        End();
        return new SnapshotInfo(PageSize, hash.PageCount, hash);
    }

    private const int BlockBytes = 4 << 20;

    private static FileStream? OpenIfExists(string path)
    {
        try
        {
            return new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0,
            });
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The page numbers of every frame in the WAL file, committed or not, of this WAL or an earlier one: a
    /// superset of the pages whose snapshot image may differ from the database file's (the WAL file is read directly:
    /// SQLite holds no lock on it).</summary>
    private static HashSet<uint> WalPages(string walPath, int pageSize)
    {
        var pages = new HashSet<uint>();
        using var wal = OpenIfExists(walPath);
        if (wal is null) return pages; // no WAL: every page is in the database file
        var frameSize = WalFormat.FrameHeaderSize + pageSize;
        var block = new byte[Math.Max(1, BlockBytes / frameSize) * frameSize];
        for (long offset = WalFormat.HeaderSize; ; offset += block.Length)
        {
            var filled = 0;
            while (filled < block.Length && RandomAccess.Read(wal.SafeFileHandle, block.AsSpan(filled), offset + filled) is var read and > 0)
                filled += read;
            for (var frame = 0; frame + WalFormat.FrameHeaderSize <= filled; frame += frameSize)
                pages.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(frame)));
            if (filled < block.Length) return pages;
        }
    }

    private void End()
    {
        if (!_open) return;
        _open = false;
        _reader.Execute("ROLLBACK");
    }

    public void Dispose()
    {
        End();
        _reader.Dispose();
    }
}

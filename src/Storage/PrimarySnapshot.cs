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
    private bool _open;

    private PrimarySnapshot(SqliteConnection reader, int pageSize)
    {
        _reader = reader;
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
            return new PrimarySnapshot(reader, pageSize);
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
    /// The pages are read in large blocks (<see cref="SnapshotPages"/>), most of them straight from the database file.
    /// The caller still compares the result's hash with the one it tracks.
    /// </remarks>
    public SnapshotInfo CopyTo(string? destinationPath, Action<long>? copied = null)
    {
        if (!_open) throw new InvalidOperationException("the snapshot was already copied");
        var pageCount = (uint)_reader.Scalar<long>("PRAGMA page_count");
        var hash = new DatabaseHash(PageSize);
        using var output = destinationPath is null ? null : new FileStream(destinationPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        SnapshotPages.Read(_reader, PageSize, pageCount, (first, pages) =>
        {
            hash.SetPages(first, pages);
            if (output is null) return;
            output.Write(pages);
            copied?.Invoke(output.Position);
        });
        hash.SetPageCount(pageCount);
        // No fsync: the file is a scratch copy, deleted when the resync ends and at every start of the database actor,
        // so it never has to survive a crash; syncing 1 GiB cost about a second before the first page could be sent.
        End();
        return new SnapshotInfo(PageSize, hash.PageCount, hash);
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

using Microsoft.Data.Sqlite;

namespace Litecast.Actors.Storage;

/// <summary>What a snapshot copy produced: page size, page count and the hash of every page.</summary>
public sealed record SnapshotInfo(int PageSize, uint PageCount, DatabaseHash Hash);

/// <summary>
/// A consistent snapshot of the primary at a known position. <see cref="Pin"/> holds the write lock
/// (<c>BEGIN IMMEDIATE</c>) just long enough for the caller to read the WAL to its end and for a second connection to
/// start a read transaction (a deferred BEGIN fixes its snapshot only at its first read, so it reads at once); then
/// the write lock is released. <see cref="CopyTo"/> copies the pages at full speed to a local file, so the primary's
/// WAL is never pinned for the length of a network transfer.
/// </summary>
public sealed class PrimarySnapshot : IDisposable
{
    private readonly SqliteConnection _reader;
    private SqliteTransaction? _transaction;

    private PrimarySnapshot(SqliteConnection reader, SqliteTransaction transaction, int pageSize)
    {
        _reader = reader;
        _transaction = transaction;
        PageSize = pageSize;
    }

    public int PageSize { get; }

    /// <summary>
    /// Pins a snapshot. <paramref name="whileWriteLocked"/> runs while no other connection can commit: the caller
    /// reads the WAL to its end there, so the snapshot equals the position it reached.
    /// </summary>
    public static PrimarySnapshot Pin(string databasePath, Action whileWriteLocked)
    {
        using var writer = SqliteConnections.OpenExisting(databasePath);
        var reader = SqliteConnections.OpenExisting(databasePath);
        try
        {
            writer.Execute("BEGIN IMMEDIATE");
            try
            {
                whileWriteLocked();
                var transaction = reader.BeginTransaction(deferred: true);
                var pageSize = reader.Scalar<int>("PRAGMA page_size");
                reader.Scalar<long>("SELECT count(*) FROM sqlite_dbpage WHERE pgno = 1");
                return new PrimarySnapshot(reader, transaction, pageSize);
            }
            finally
            {
                writer.Execute("ROLLBACK");
            }
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
    /// </summary>
    public SnapshotInfo CopyTo(string? destinationPath)
    {
        if (_transaction is null) throw new InvalidOperationException("the snapshot was already copied");
        var hash = new DatabaseHash(PageSize);
        using var output = destinationPath is null ? null : new FileStream(destinationPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20);
        using (var command = _reader.CreateCommand())
        {
            command.Transaction = _transaction;
            command.CommandText = "SELECT pgno, data FROM sqlite_dbpage";
            using var rows = command.ExecuteReader();
            var expected = 1u;
            while (rows.Read())
            {
                var pageNumber = (uint)rows.GetInt64(0);
                if (pageNumber != expected) throw new InvalidDataException($"{_reader.DataSource}: sqlite_dbpage skipped from page {expected} to {pageNumber}");
                // GetBytes would open a blob handle, which a virtual table has none of: take the value whole.
                var buffer = rows.GetFieldValue<byte[]>(1);
                if (buffer.Length != PageSize) throw new InvalidDataException($"{_reader.DataSource}: page {pageNumber} is {buffer.Length} bytes");
                hash.SetPage(pageNumber, buffer);
                output?.Write(buffer);
                expected++;
            }
        }
        output?.Flush(flushToDisk: true);
        End();
        return new SnapshotInfo(PageSize, hash.PageCount, hash);
    }

    private void End()
    {
        _transaction?.Rollback();
        _transaction?.Dispose();
        _transaction = null;
    }

    public void Dispose()
    {
        End();
        _reader.Dispose();
    }
}

using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Litecast.Storage;

/// <summary>
/// The SQLite connection that writes a replica file, used only by the replica's Applier actor. Writes page images
/// through SQLite's <c>sqlite_dbpage</c> virtual table inside ordinary write transactions, so SQLite itself does the
/// WAL, the locking and the page-cache invalidation for every reader: readers keep their snapshot during an apply and
/// see the whole transaction in their next one.
/// </summary>
/// <remarks>
/// The connection's <c>main</c> is <c>:memory:</c> and the replica is attached as <c>replica</c>: writing page 1 of
/// <c>main</c> would break the connection's own schema parsing. No query ever reads the replica through this
/// connection (its parsed b-tree pages would be stale); readers use their own connections.
/// </remarks>
public sealed class ReplicaPageWriter : IDisposable
{
    private const string Schema = "replica";
    private const long JournalSizeLimitBytes = 64L * 1024 * 1024;

    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    // Prepared once: every batch runs them, and preparing a statement per batch cost as much as writing its pages.
    private readonly SqliteCommand _begin;
    private readonly SqliteCommand _commit;
    private readonly SqliteCommand _dataVersion;
    private readonly SqliteParameter _pageNumber;
    private readonly SqliteParameter _data;
    private bool _inTransaction;

    private ReplicaPageWriter(string path, int pageSize, SqliteConnection connection)
    {
        Path = path;
        PageSize = pageSize;
        _connection = connection;
        _insert = connection.CreateCommand();
        _insert.CommandText = $"INSERT INTO sqlite_dbpage(pgno, data, schema) VALUES (@pgno, @data, '{Schema}')";
        _pageNumber = _insert.Parameters.Add("@pgno", SqliteType.Integer);
        _data = _insert.Parameters.Add("@data", SqliteType.Blob);
        _insert.Prepare();
        _begin = Prepared(connection, "BEGIN IMMEDIATE");
        _commit = Prepared(connection, "COMMIT");
        _dataVersion = Prepared(connection, $"PRAGMA {Schema}.data_version");
    }

    private static SqliteCommand Prepared(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Prepare();
        return command;
    }

    public string Path { get; }
    public int PageSize { get; }

    /// <summary>
    /// Opens the applier for a replica file, creating the file with <paramref name="pageSize"/> in WAL mode when it
    /// does not exist or is empty. An existing file with another page size is an error: its pages cannot be rewritten
    /// in place.
    /// </summary>
    /// <param name="checkpointOnCommit">True keeps SQLite's automatic checkpoint (1000 pages), which runs INSIDE the
    /// commit: a big batch then pays for copying all its pages into the database file and an fsync before
    /// <see cref="Apply"/> returns (measured: 40k pages/s instead of ~125k for a 100k-page batch). False turns it off:
    /// the caller must then bound the replica's WAL itself with <see cref="Checkpoint"/> (e.g. from a timer, between
    /// batches); readers see each batch as soon as it commits either way.</param>
    public static ReplicaPageWriter Open(string path, int pageSize, bool checkpointOnCommit = true)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length == 0) Create(path, pageSize);
        else
        {
            var existing = ReadPageSize(path);
            if (existing != pageSize)
                throw new PageSizeMismatchException(path, existing, pageSize);
        }

        var connection = SqliteConnections.OpenMemory();
        try
        {
            using (var attach = connection.CreateCommand())
            {
                attach.CommandText = $"ATTACH DATABASE @path AS {Schema}";
                attach.Parameters.AddWithValue("@path", path);
                attach.ExecuteNonQuery();
            }
            connection.Execute($"PRAGMA {Schema}.journal_mode = WAL");
            connection.Execute($"PRAGMA {Schema}.synchronous = NORMAL");
            connection.Execute($"PRAGMA {Schema}.journal_size_limit = {JournalSizeLimitBytes}");
            if (!checkpointOnCommit) connection.Execute("PRAGMA wal_autocheckpoint = 0");
            return new ReplicaPageWriter(path, pageSize, connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The page size recorded in an existing database file's header, read through SQLite.</summary>
    public static int ReadPageSize(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<int>("PRAGMA page_size");
    }

    private static void Create(string path, int pageSize)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        using var connection = SqliteConnections.OpenOrCreate(path);
        connection.Execute($"PRAGMA page_size = {pageSize}");
        var mode = connection.Scalar<string>("PRAGMA journal_mode = WAL");
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new IOException($"{path}: could not switch the new replica to WAL mode (got '{mode}')");
    }

    /// <summary>Applies pages and the size after commit as one transaction.</summary>
    public void Apply(IReadOnlyList<PageImage> pages, uint pageCount)
    {
        Begin();
        try
        {
            Write(pages);
            Commit(pageCount);
        }
        catch
        {
            Rollback();
            throw;
        }
    }

    /// <summary>Starts a transaction that several <see cref="Write"/> calls fill (a batch that came in parts).</summary>
    public void Begin()
    {
        if (_inTransaction) throw new InvalidOperationException($"{Path}: an apply transaction is already open");
        _begin.ExecuteNonQuery();
        _inTransaction = true;
    }

    /// <summary>Writes page images inside the open transaction. The lock-byte page is never written.</summary>
    public void Write(IEnumerable<PageImage> pages)
    {
        if (!_inTransaction) throw new InvalidOperationException($"{Path}: Write called outside a transaction");
        var lockPage = DatabaseHash.LockBytePage(PageSize);
        foreach (var page in pages)
        {
            if (page.PageNumber == 0) throw new InvalidDataException($"{Path}: page number 0 in a batch");
            if (page.Data.Length != PageSize)
                throw new InvalidDataException($"{Path}: page {page.PageNumber} is {page.Data.Length} bytes, the replica's page size is {PageSize}");
            if (page.PageNumber == lockPage) continue;
            _pageNumber.Value = (long)page.PageNumber;
            _data.Value = page.Data;
            _insert.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Sets the database size and commits. The truncation is the last write of the transaction (dbpage requires it);
    /// it is a no-op when the database did not shrink.
    /// </summary>
    public void Commit(uint pageCount)
    {
        if (!_inTransaction) throw new InvalidOperationException($"{Path}: Commit called outside a transaction");
        if (pageCount == 0) throw new InvalidDataException($"{Path}: a database cannot have 0 pages after commit");
        _pageNumber.Value = (long)pageCount + 1;
        _data.Value = DBNull.Value;
        _insert.ExecuteNonQuery();
        _commit.ExecuteNonQuery();
        _inTransaction = false;
    }

    /// <summary>Abandons the open transaction, if any; the replica is unchanged.</summary>
    public void Rollback()
    {
        if (!_inTransaction) return;
        _inTransaction = false;
        // After SQLITE_FULL or an I/O error SQLite may already have rolled the transaction back itself; a ROLLBACK then
        // fails ("no transaction is active") and would hide the error that caused it.
        if (raw.sqlite3_get_autocommit(_connection.Handle) == 0) _connection.Execute("ROLLBACK");
    }

    /// <summary>
    /// The replica's data version as this connection sees it: it changes when ANOTHER connection commits to the
    /// replica — which, on a read-only replica, means somebody wrote to it locally.
    /// </summary>
    public long DataVersion() => (long)_dataVersion.ExecuteScalar()!;

    /// <summary>Runs a checkpoint of the replica's WAL; returns (WAL frames, frames checkpointed).</summary>
    public (int LogFrames, int CheckpointedFrames) Checkpoint(bool truncate)
    {
        var rc = raw.sqlite3_wal_checkpoint_v2(_connection.Handle, Schema,
            truncate ? raw.SQLITE_CHECKPOINT_TRUNCATE : raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var done);
        if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY)
            throw new SqliteException($"{Path}: checkpoint failed: {raw.sqlite3_errmsg(_connection.Handle).utf8_to_string()}", rc);
        return (log, done);
    }

    /// <summary>
    /// Checkpoints every frame and truncates the WAL to nothing, without waiting: false when it could not (a reader
    /// still uses part of the WAL, or the other connection's checkpoint runs). Between transactions only. A PASSIVE
    /// checkpoint on another connection backfills the WAL, but SQLite starts it over only when a writer begins after
    /// a complete backfill, which never happens while batches arrive back to back.
    /// </summary>
    public bool TryTruncateWal()
    {
        if (_inTransaction) throw new InvalidOperationException($"{Path}: the WAL cannot be truncated inside a transaction");
        raw.sqlite3_busy_timeout(_connection.Handle, 0);
        try
        {
            var rc = raw.sqlite3_wal_checkpoint_v2(_connection.Handle, Schema, raw.SQLITE_CHECKPOINT_TRUNCATE, out _, out _);
            if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY)
                throw new SqliteException($"{Path}: TRUNCATE checkpoint failed: {raw.sqlite3_errmsg(_connection.Handle).utf8_to_string()}", rc);
            return rc == raw.SQLITE_OK;
        }
        finally
        {
            raw.sqlite3_busy_timeout(_connection.Handle, (int)SqliteConnections.BusyTimeout.TotalMilliseconds);
        }
    }

    public void Dispose()
    {
        Rollback();
        _insert.Dispose();
        _begin.Dispose();
        _commit.Dispose();
        _dataVersion.Dispose();
        _connection.Dispose();
    }
}

/// <summary>A replica file exists with a different page size than the primary's.</summary>
public sealed class PageSizeMismatchException(string path, int existing, int expected)
    : IOException($"{path}: the replica file has page size {existing} but the primary's is {expected}; move the file away to resync it")
{
    public int Existing { get; } = existing;
    public int Expected { get; } = expected;
}

using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Litecast.Storage;

/// <summary>
/// The guard: a long-lived read transaction on the primary that keeps SQLite from restarting the WAL over frames
/// Litecast has not read (a checkpoint backfills only up to the oldest reader's mark, and the WAL restarts only when
/// no reader uses it). Rotated without a gap: the next guard opens, the caller reads the WAL up to everything the next
/// guard can see, and only then the previous one closes.
/// </summary>
public sealed class WalGuard : IDisposable
{
    private readonly string _databasePath;
    private readonly object _gate = new();

    // Two connections, reused: one holds the current guard, the other opens the next one. A rotation opens no file.
    private SqliteConnection? _current;
    private SqliteConnection? _next;
    private SqliteConnection? _idle;

    public WalGuard(string databasePath) => _databasePath = databasePath;

    private long _tenure;

    /// <summary>True while a guard transaction is open.</summary>
    public bool IsHeld
    {
        get { lock (_gate) return _current is not null; }
    }

    /// <summary>Numbers the guard's unbroken holds, 0 while none is held: the same number seen at two moments means a
    /// guard was held the whole time in between (rotations keep it; a release and a new guard change it).</summary>
    public long Tenure
    {
        get { lock (_gate) return _current is null ? 0 : _tenure; }
    }

    /// <summary>
    /// Opens the next guard. Its snapshot is fixed now: read the WAL up to what it sees (returned, and kept in
    /// <see cref="NextVisibleEnd"/>) before <see cref="CompleteRotation"/>.
    /// </summary>
    public WalVisibleEnd BeginRotation()
    {
        lock (_gate)
        {
            if (_next is not null) return NextVisibleEnd!.Value;
            var connection = _idle ?? SqliteConnections.OpenExisting(_databasePath);
            _idle = null;
            WalVisibleEnd visible;
            try
            {
                // A deferred BEGIN takes its snapshot only at the first read: read at once.
                connection.Execute("BEGIN");
                connection.ReadSchema();
                visible = VisibleEnd(connection);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
            _next = connection;
            NextVisibleEnd = visible;
            return visible;
        }
    }

    /// <summary>
    /// The part of the WAL the guard opened by <see cref="BeginRotation"/> can see; null before the first rotation.
    /// Reading up to it reads everything that guard sees, and never the frames of a transaction still being written
    /// or of one SQLite never counted (a writer killed before it updated the WAL-index).
    /// </summary>
    public WalVisibleEnd? NextVisibleEnd { get; private set; }

    /// <summary>
    /// Reads the WAL-index header SQLite copies into a snapshot handle (sqlite3_snapshot_get; see
    /// <see cref="WalIndex.Parse"/>). SQLite has no snapshot of a WAL-index that never recorded a frame: the view is
    /// then the database file alone, whatever frames the WAL file holds (they were never committed).
    /// </summary>
    private static WalVisibleEnd VisibleEnd(SqliteConnection connection)
    {
        var rc = raw.sqlite3_snapshot_get(connection.Handle, "main", out var snapshot);
        using (snapshot)
        {
            if (rc != raw.SQLITE_OK) return WalVisibleEnd.NoFrames;
            unsafe
            {
                return WalIndex.Parse(new ReadOnlySpan<byte>((void*)snapshot.DangerousGetHandle(), WalIndex.HeaderSize));
            }
        }
    }

    /// <summary>What the current guard sees (see <see cref="NextVisibleEnd"/>); null while no guard is held.</summary>
    public WalVisibleEnd? CurrentVisibleEnd { get; private set; }

    /// <summary>Closes the previous guard; the one opened by <see cref="BeginRotation"/> takes its place.</summary>
    public void CompleteRotation()
    {
        lock (_gate)
        {
            if (_next is null) return;
            if (_current is not null)
            {
                if (End(_current)) _idle = _current;
                else _current.Dispose();
            }
            else _tenure++;
            _current = _next;
            _next = null;
            CurrentVisibleEnd = NextVisibleEnd;
        }
    }

    /// <summary>
    /// Starts a read transaction on <paramref name="reader"/> that sees exactly what the current guard sees
    /// (sqlite3_snapshot_get on the guard, sqlite3_snapshot_open on the reader), without taking any lock the
    /// application's writer needs. False when SQLite can no longer open that view: the guard reads the database file
    /// only (every frame backfilled), which does not keep the application from restarting the WAL, and it did; or the
    /// guard saw no WAL at all and the reader, opened now, sees frames. Either way the caller rotates, reads and tries
    /// again. On false the reader has no transaction open.
    /// </summary>
    public bool TryShareView(SqliteConnection reader)
    {
        lock (_gate)
        {
            if (_current is null) throw new InvalidOperationException($"{_databasePath}: no guard is held");
            var rc = raw.sqlite3_snapshot_get(_current.Handle, "main", out var snapshot);
            using (snapshot)
            {
                // sqlite3_snapshot_open needs the reader's pager to have the WAL open, which only a read does.
                reader.ReadSchema();
                reader.Execute("BEGIN");
                if (rc == raw.SQLITE_OK)
                {
                    var opened = raw.sqlite3_snapshot_open(reader.Handle, "main", snapshot);
                    if (opened == raw.SQLITE_OK) return true;
                    reader.Execute("ROLLBACK");
                    // SQLITE_ERROR_SNAPSHOT (an extended SQLITE_ERROR): the WAL restarted or was backfilled past the view.
                    if ((opened & 0xff) is raw.SQLITE_ERROR or raw.SQLITE_BUSY) return false;
                    throw new SqliteException($"{_databasePath}: sqlite3_snapshot_open failed", opened);
                }
                // SQLite has no snapshot of a WAL that never held a frame: the guard reads the database file alone, and
                // so does a reader that finds no frames either (the file cannot change without frames to backfill).
                reader.ReadSchema();
                var readerRc = raw.sqlite3_snapshot_get(reader.Handle, "main", out var readerSnapshot);
                readerSnapshot.Dispose();
                if (readerRc != raw.SQLITE_OK) return true;
                reader.Execute("ROLLBACK");
                return false;
            }
        }
    }

    /// <summary>Drops the guard entirely (a new generation starts, or Litecast stops).</summary>
    public void Release()
    {
        lock (_gate)
        {
            foreach (var connection in new[] { _next, _current, _idle })
            {
                if (connection is null) continue;
                End(connection);
                connection.Dispose();
            }
            _next = _current = _idle = null;
            CurrentVisibleEnd = NextVisibleEnd = null;
        }
    }

    /// <summary>Ends the connection's read transaction; false when that failed (the connection is not reused).</summary>
    private static bool End(SqliteConnection connection)
    {
        try
        {
            connection.Execute("ROLLBACK");
            return true;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    public void Dispose() => Release();
}

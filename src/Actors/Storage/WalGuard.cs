using Microsoft.Data.Sqlite;

namespace Litecast.Actors.Storage;

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

    /// <summary>True while a guard transaction is open.</summary>
    public bool IsHeld
    {
        get { lock (_gate) return _current is not null; }
    }

    /// <summary>Opens the next guard. Its snapshot is fixed now: read the WAL to its end before <see cref="CompleteRotation"/>.</summary>
    public void BeginRotation()
    {
        lock (_gate)
        {
            if (_next is not null) return;
            var connection = _idle ?? SqliteConnections.OpenExisting(_databasePath);
            _idle = null;
            try
            {
                // A deferred BEGIN takes its snapshot only at the first read: read at once.
                connection.Execute("BEGIN");
                connection.Scalar<long>("SELECT count(*) FROM (SELECT 1 FROM sqlite_schema LIMIT 1)");
            }
            catch
            {
                connection.Dispose();
                throw;
            }
            _next = connection;
        }
    }

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
            _current = _next;
            _next = null;
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

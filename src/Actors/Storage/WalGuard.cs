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
    private SqliteConnection? _current;
    private SqliteConnection? _next;

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
            var connection = SqliteConnections.OpenExisting(_databasePath);
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
            Close(_current);
            _current = _next;
            _next = null;
        }
    }

    /// <summary>Drops the guard entirely (a new generation starts, or Litecast stops).</summary>
    public void Release()
    {
        lock (_gate)
        {
            Close(_next);
            Close(_current);
            _next = _current = null;
        }
    }

    private static void Close(SqliteConnection? connection)
    {
        if (connection is null) return;
        try { connection.Execute("ROLLBACK"); }
        catch (SqliteException) { }
        connection.Dispose();
    }

    public void Dispose() => Release();
}

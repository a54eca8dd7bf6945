using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

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

    /// <summary>
    /// Opens the next guard. Its snapshot is fixed now: read the WAL up to <see cref="NextVisibleEnd"/> (or to its end)
    /// before <see cref="CompleteRotation"/>.
    /// </summary>
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
                NextVisibleEnd = VisibleEnd(connection);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
            _next = connection;
        }
    }

    /// <summary>
    /// The part of the WAL the guard opened by <see cref="BeginRotation"/> can see, or null when SQLite cannot say (no
    /// WAL written yet). Reading up to it reads everything that guard sees, and never the frames of a transaction still
    /// being written, which a reader going to the end of the file would check again on every call.
    /// </summary>
    public WalVisibleEnd? NextVisibleEnd { get; private set; }

    /// <summary>
    /// Reads the WAL-index header SQLite copies into a snapshot handle (sqlite3_snapshot_get; the layout is the
    /// documented wal-index header, https://sqlite.org/walformat.html#the_wal_index_file_format): mxFrame, a native
    /// 32-bit integer at offset 16, and the salts at offset 32, copied byte for byte from the WAL header (big-endian).
    /// </summary>
    private static WalVisibleEnd? VisibleEnd(SqliteConnection connection)
    {
        var rc = raw.sqlite3_snapshot_get(connection.Handle, "main", out var snapshot);
        using (snapshot)
        {
            if (rc != raw.SQLITE_OK) return null;
            Span<byte> header = stackalloc byte[48];
            unsafe
            {
                new ReadOnlySpan<byte>((void*)snapshot.DangerousGetHandle(), header.Length).CopyTo(header);
            }
            return new WalVisibleEnd(BinaryPrimitives.ReadUInt32BigEndian(header[32..]), BinaryPrimitives.ReadUInt32BigEndian(header[36..]),
                MemoryMarshal.Read<uint>(header[16..]));
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

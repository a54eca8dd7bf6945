using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Litecast.Storage;

/// <summary>
/// Opens every connection Litecast uses. Each one loads Litecast's SQLite first and sets
/// SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, so closing a Litecast connection never checkpoints and deletes a WAL that the
/// tailer has not read yet.
/// </summary>
public static class SqliteConnections
{
    private const int DbConfigNoCheckpointOnClose = 1006;
    private const int DbConfigDefensive = 1010;

    /// <summary>Busy timeout for Litecast's own connections; the application's writes hold locks for moments.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Opens a read-write connection to an existing database file (never creates one).</summary>
    public static SqliteConnection OpenExisting(string path) => Open(path, SqliteOpenMode.ReadWrite);

    /// <summary>Opens a connection that may create the file (replicas, staging files, tests).</summary>
    public static SqliteConnection OpenOrCreate(string path) => Open(path, SqliteOpenMode.ReadWriteCreate);

    /// <summary>Opens a read-only connection.</summary>
    public static SqliteConnection OpenReadOnly(string path) => Open(path, SqliteOpenMode.ReadOnly);

    /// <summary>Opens an in-memory connection (the applier's <c>main</c>, with the replica attached beside it).</summary>
    /// <remarks>Not <see cref="SqliteOpenMode.Memory"/>: SQLite passes the SQLITE_OPEN_MEMORY flag on to every
    /// database ATTACHed later, which would silently make the attached replica an in-memory copy.</remarks>
    public static SqliteConnection OpenMemory() => Open(":memory:", SqliteOpenMode.ReadWriteCreate);

    /// <summary>
    /// Switches the existing database at <paramref name="path"/> to WAL mode, as Litestream does, which replication
    /// requires; returns the journal mode it had, or null when it was in WAL mode already. Throws when SQLite keeps
    /// another mode (an application holding the database past the busy timeout).
    /// </summary>
    public static string? SwitchToWal(string path)
    {
        using var connection = OpenExisting(path);
        var mode = connection.Scalar<string>("PRAGMA journal_mode");
        if (string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase)) return null;
        var switched = connection.Scalar<string>("PRAGMA journal_mode = WAL");
        if (!string.Equals(switched, "wal", StringComparison.OrdinalIgnoreCase))
            throw new IOException($"{path}: could not switch journal_mode from {mode} to WAL (got {switched})");
        return mode;
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        NativeSqlite.EnsureLoaded();
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = mode,
            Pooling = false,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            SetDbConfig(connection, DbConfigNoCheckpointOnClose, 1);
            SetDbConfig(connection, DbConfigDefensive, 0);
            raw.sqlite3_busy_timeout(connection.Handle, (int)BusyTimeout.TotalMilliseconds);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void SetDbConfig(SqliteConnection connection, int option, int value)
    {
        var rc = raw.sqlite3_db_config(connection.Handle, option, value, out _);
        if (rc != raw.SQLITE_OK)
            throw new InvalidOperationException($"sqlite3_db_config({option}, {value}) failed with code {rc} on {connection.DataSource}");
    }

    /// <summary>
    /// Reads the schema's first row: the smallest read there is. It opens the connection's WAL and WAL-index (which a
    /// checkpoint, <c>sqlite3_snapshot_open</c> and the index's mapping need) and, inside a deferred BEGIN, fixes the
    /// transaction's snapshot.
    /// </summary>
    public static void ReadSchema(this SqliteConnection connection) =>
        connection.Scalar<long>("SELECT count(*) FROM (SELECT 1 FROM sqlite_schema LIMIT 1)");

    /// <summary>Runs a statement that returns nothing.</summary>
    public static void Execute(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Runs a query and returns the first column of its first row.</summary>
    public static T Scalar<T>(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return (T)Convert.ChangeType(value!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}

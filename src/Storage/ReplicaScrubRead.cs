using Microsoft.Data.Sqlite;

namespace Litecast.Storage;

/// <summary>
/// A read transaction on a replica's file, started where the applier last committed, for hashing the whole file on
/// another thread while the applier goes on: in WAL mode the transaction keeps its snapshot whatever is committed
/// after it, so the hash describes exactly the file the applied pages describe at that commit.
/// </summary>
public sealed class ReplicaScrubRead : IDisposable
{
    // SQLite's primary result codes that mean the file cannot be read as a database (extended codes keep them in the low byte).
    private const int IoError = 10;
    private const int Corrupt = 11;
    private const int NotADatabase = 26;

    private readonly SqliteConnection _connection;

    private ReplicaScrubRead(SqliteConnection connection) => _connection = connection;

    /// <summary>Opens the file read-only and starts the transaction: its first read fixes the snapshot, so call this
    /// between the applier's transactions.</summary>
    public static ReplicaScrubRead Begin(string path)
    {
        var connection = SqliteConnections.OpenReadOnly(path);
        try
        {
            connection.Execute("BEGIN");
            connection.Scalar<long>("PRAGMA schema_version");
            return new ReplicaScrubRead(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Every page of the snapshot, hashed (any thread, once); <paramref name="cancellation"/> stops it between
    /// two pages with an <see cref="OperationCanceledException"/>.</summary>
    public DatabaseHash Hash(CancellationToken cancellation) => DatabaseHash.Compute(_connection, cancellation: cancellation);

    /// <summary>True when <paramref name="e"/> says the file itself cannot be read as a database (an I/O error, a
    /// corrupt page, not a database): damage a resync repairs, not a passing condition such as a busy lock.</summary>
    public static bool IsDamage(Exception e) =>
        e is SqliteException { SqliteErrorCode: var code } && (code & 0xff) is IoError or Corrupt or NotADatabase;

    public void Dispose() => _connection.Dispose();
}

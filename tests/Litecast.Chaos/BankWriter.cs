using System.Globalization;

namespace Litecast.Chaos;

/// <summary>
/// The application writing the primary: Python/bank_writer.py in its own process with Python's own SQLite, as users'
/// applications do. It also runs the application's own maintenance on request (checkpoints, VACUUM) on its connection.
/// </summary>
internal sealed class BankWriter : IDisposable
{
    public const int Accounts = 100;
    public const long InitialBalance = 1000;
    public const long Total = Accounts * InitialBalance;
    /// <summary>4 KB documents, about 2 MB, so that a resync or a VACUUM copies a real file, not three pages.</summary>
    public const int Documents = 500;

    private readonly ChildProcess _process;
    private TaskCompletionSource<string>? _command;
    private readonly Dictionary<string, int> _errors = new();

    public BankWriter(string db, int seed, int commitsPerSecond)
    {
        _process = new ChildProcess("writer", "python3",
            [Path.Combine(AppContext.BaseDirectory, "Python", "bank_writer.py"), db, seed.ToString(CultureInfo.InvariantCulture),
             Accounts.ToString(CultureInfo.InvariantCulture), commitsPerSecond.ToString(CultureInfo.InvariantCulture)],
            Path.GetDirectoryName(db)!, onLine: OnLine);
    }

    /// <summary>Creates the schema and the accounts before Litecast starts (Litecast never creates the primary's file).</summary>
    public static void CreateDatabase(string db)
    {
        var script = $"""
            import sqlite3
            db = sqlite3.connect({System.Text.Json.JsonSerializer.Serialize(db)}, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN")
            db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
            db.execute("CREATE TABLE version (v INTEGER NOT NULL)")
            db.executemany("INSERT INTO accounts VALUES (?, ?)", [(i, {InitialBalance}) for i in range({Accounts})])
            db.execute("INSERT INTO version VALUES (0)")
            db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, memo BLOB)")
            db.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, body BLOB)")
            db.executemany("INSERT INTO documents VALUES (?, randomblob(4000))", [(i,) for i in range({Documents})])
            db.execute("CREATE TABLE bulk (id INTEGER PRIMARY KEY, body BLOB)")
            db.execute("COMMIT")
            db.close()
            """;
        using var python = new ChildProcess("setup", "python3", ["-c", script], Path.GetDirectoryName(db)!);
        if (!python.WaitForExit(TimeSpan.FromSeconds(30)) || !File.Exists(db))
            throw new InvalidOperationException("creating the primary's database failed:\n" + python.Tail(20));
    }

    public long Commits { get; private set; }
    public long FailedTransactions { get; private set; }
    public long Version { get; private set; }
    public bool HasExited => _process.HasExited;
    public string Tail(int lines) => _process.Tail(lines);

    /// <summary>Transaction errors by message (e.g. "database is locked" after busy_timeout while a node was frozen).</summary>
    public IReadOnlyDictionary<string, int> Errors
    {
        get { lock (_errors) return new Dictionary<string, int>(_errors); }
    }

    private void OnLine(string line)
    {
        var parts = line.Split(' ');
        switch (parts[0])
        {
            case "progress" when parts.Length == 4:
                Commits = long.Parse(parts[1], CultureInfo.InvariantCulture);
                FailedTransactions = long.Parse(parts[2], CultureInfo.InvariantCulture);
                Version = long.Parse(parts[3], CultureInfo.InvariantCulture);
                break;
            case "error":
                lock (_errors) _errors[line[6..]] = _errors.GetValueOrDefault(line[6..]) + 1;
                break;
            case "done" or "failed":
                _command?.TrySetResult(line);
                break;
        }
    }

    /// <summary>Runs <c>PRAGMA wal_checkpoint(TRUNCATE|RESTART)</c>, <c>VACUUM</c>, <c>REPLACE</c> (the file replaced by
    /// a copy of itself) or <c>BLOB bytes</c> (the bulk table rewritten) between two transactions; answers
    /// the writer's line ("done TRUNCATE 0,0,0 12", "failed VACUUM database is locked").</summary>
    public async Task<string> RunAsync(string command, TimeSpan timeout, CancellationToken cancellation)
    {
        _command = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _process.WriteLine(command);
        try { return await _command.Task.WaitAsync(timeout, cancellation); }
        catch (TimeoutException) { return $"failed {command}: no answer within {timeout.TotalSeconds} s"; }
    }

    /// <summary>Stops writing after the current transaction and waits for the process to exit.</summary>
    public void Stop()
    {
        _process.WriteLine("stop");
        _process.WaitForExit(TimeSpan.FromSeconds(15));
    }

    public void Dispose() => _process.Dispose();
}

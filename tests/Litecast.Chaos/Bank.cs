using Litecast.Storage;

namespace Litecast.Chaos;

/// <summary>Reads the bank's state from a database file, read-only, through Litecast's SQLite build.</summary>
internal static class Bank
{
    public sealed record State(long Total, long Accounts, long Version, long Ledger)
    {
        public bool Intact => Total == BankWriter.Total && Accounts == BankWriter.Accounts && Ledger == Version;
        public override string ToString() => $"total {Total} over {Accounts} accounts, version {Version}, newest ledger entry {Ledger}";
    }

    /// <summary>One statement, so one snapshot.</summary>
    public static State Read(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM accounts), (SELECT v FROM version), " +
                              "(SELECT coalesce(max(id), 0) FROM ledger)";
        using var reader = command.ExecuteReader();
        reader.Read();
        return new State(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }
}

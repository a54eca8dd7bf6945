using System.Text;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Storage.Tests;

/// <summary>
/// Random transaction sequences from a seeded generator; after every one the replica must equal the primary page for
/// page (the harness checks pages, hashes and integrity). A failure names the seed and the step; set
/// LITECAST_PROPERTY_SEED to replay one.
/// </summary>
public class PropertyTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(20260101, 512, 120)]
    [InlineData(7, 4096, 160)]
    [InlineData(99, 65536, 60)]
    [InlineData(0, 4096, 80)] // 0: a fresh seed every run, printed
    public void RandomTransactionSequencesReplicateExactly(int seed, int pageSize, int steps)
    {
        if (Environment.GetEnvironmentVariable("LITECAST_PROPERTY_SEED") is { Length: > 0 } replay) seed = int.Parse(replay);
        if (seed == 0) seed = Random.Shared.Next(1, int.MaxValue);
        output.WriteLine($"seed {seed}, page size {pageSize}, {steps} steps");
        var log = new List<string>();
        try
        {
            Run(seed, pageSize, steps, log);
        }
        catch (Exception e)
        {
            throw new Exception(
                $"property test failed with seed {seed} (page size {pageSize}) at step {log.Count}; replay with " +
                $"LITECAST_PROPERTY_SEED={seed}. Last steps:\n  {string.Join("\n  ", log.TakeLast(8))}", e);
        }
    }

    private void Run(int seed, int pageSize, int steps, List<string> log)
    {
        var random = new Random(seed);
        using var h = new ReplicationHarness(pageSize);
        var tables = new List<string>();
        var nextTable = 0;
        var nextIndex = 0;

        string NewTable()
        {
            var name = $"t{nextTable++}";
            tables.Add(name);
            return $"CREATE TABLE {name}(id INTEGER PRIMARY KEY, k INTEGER, s TEXT, b BLOB)";
        }

        string Pick() => tables[random.Next(tables.Count)];

        string Blob() => random.Next(10) switch
        {
            0 => $"randomblob({random.Next(pageSize, Math.Min(pageSize * 8, 200_000))})",          // overflow chain
            1 => $"zeroblob({random.Next(1, pageSize * 2)})",
            2 => "NULL",
            _ => $"randomblob({random.Next(0, pageSize / 4)})",
        };

        string Insert(string table)
        {
            var rows = random.Next(1, 60);
            return $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) " +
                   $"INSERT INTO {table}(k, s, b) SELECT abs(random()) % 1000, hex(randomblob({random.Next(1, 200)})), {Blob()} FROM n";
        }

        string Statement()
        {
            if (tables.Count == 0) return NewTable();
            var table = Pick();
            return random.Next(100) switch
            {
                < 30 => Insert(table),
                < 45 => $"UPDATE {table} SET k = k + 1, s = s || 'u', b = {Blob()} WHERE k % {random.Next(2, 12)} = 0",
                < 55 => $"DELETE FROM {table} WHERE k % {random.Next(2, 9)} = {random.Next(0, 2)}",
                < 60 => tables.Count < 6 ? NewTable() : Insert(table),
                < 63 => tables.Count > 1 ? Drop(table) : Insert(table),
                < 68 => $"CREATE INDEX IF NOT EXISTS i{nextIndex++} ON {table}({(random.Next(2) == 0 ? "k" : "s, k")})",
                < 72 => $"UPDATE {table} SET b = {Blob()} WHERE id IN (SELECT id FROM {table} ORDER BY random() LIMIT 3)",
                _ => Insert(table),
            };
        }

        string Drop(string table)
        {
            tables.Remove(table);
            return $"DROP TABLE {table}";
        }

        for (var step = 0; step < steps; step++)
        {
            var kind = random.Next(100);
            var tablesBefore = tables.ToList();
            string description;
            if (kind < 70)
            {
                // One transaction of one to four statements.
                var sql = new StringBuilder("BEGIN; ");
                var count = random.Next(1, 5);
                for (var i = 0; i < count; i++) sql.Append(Statement()).Append("; ");
                sql.Append("COMMIT");
                description = sql.ToString();
                log.Add(description);
                h.Commit(description);
            }
            else if (kind < 80)
            {
                // A transaction that rolls back, sometimes big enough to spill pages into the WAL first.
                var spill = random.Next(2) == 0;
                var sql = new StringBuilder(spill ? "PRAGMA cache_size = 10; BEGIN; " : "BEGIN; ");
                var count = random.Next(1, 4);
                for (var i = 0; i < count; i++) sql.Append(Statement()).Append("; ");
                if (spill && tables.Count > 0) sql.Append(Insert(tables[0]).Replace("i < ", "i < 400 + ")).Append("; ");
                sql.Append("ROLLBACK; PRAGMA cache_size = -2000");
                description = sql.ToString();
                log.Add(description);
                tables.Clear();
                tables.AddRange(tablesBefore); // the rollback undid any create/drop
                h.Commit(description);
            }
            else if (kind < 84)
            {
                description = "VACUUM";
                log.Add(description);
                h.Commit(description);
            }
            else if (kind < 92)
            {
                description = "PRAGMA wal_checkpoint(PASSIVE)";
                log.Add(description);
                h.App.Execute(description);
                h.RotateGuard();
                h.AssertReplicaEqualsPrimary();
            }
            else if (kind < 96)
            {
                var mode = random.Next(3) switch { 0 => "TRUNCATE", 1 => "RESTART", _ => "FULL" };
                description = $"checkpoint {mode} while the guard rotates";
                log.Add(description);
                h.CheckpointWhileRotating(mode);
                h.RotateGuard();
                h.AssertReplicaEqualsPrimary();
            }
            else
            {
                description = "delete most rows, then VACUUM";
                log.Add(description);
                h.Commit(tables.Count == 0 ? "VACUUM" : $"DELETE FROM {Pick()} WHERE id % 10 <> 0");
                h.Commit("VACUUM");
            }
        }
        output.WriteLine($"{h.TransactionsApplied} transactions applied, {h.Restarts} WAL restarts, " +
                         $"{ReplicationHarness.ReadPages(h.ReplicaPath).Count} pages at the end");
        Assert.True(h.TransactionsApplied >= steps / 2);
    }
}

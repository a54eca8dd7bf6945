using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>What readers of a replica see while the applier writes it.</summary>
public class ReplicaReaderTests
{
    [Fact]
    public void OpenReadTransactionKeepsItsSnapshotDuringAnApplyAndSeesTheNewDataInItsNext()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        h.Commit("INSERT INTO t VALUES (1, 'one')");

        using var reader = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        using (var snapshot = reader.BeginTransaction(deferred: true))
        {
            Assert.Equal(1, reader.Scalar<long>("SELECT count(*) FROM t")); // the snapshot is fixed at this first read

            // Several applies, including one that rewrites the rows the reader already read and one that grows the
            // schema, happen while the read transaction stays open.
            h.Commit("INSERT INTO t VALUES (2, 'two')");
            h.Commit("UPDATE t SET v = 'ONE' WHERE id = 1");
            h.Commit("CREATE TABLE u(x); INSERT INTO u VALUES (42)");
            Assert.True(h.TransactionsApplied >= 4);

            Assert.Equal(1, reader.Scalar<long>("SELECT count(*) FROM t"));
            Assert.Equal("one", reader.Scalar<string>("SELECT v FROM t WHERE id = 1"));
            Assert.Equal(0, reader.Scalar<long>("SELECT count(*) FROM sqlite_schema WHERE name = 'u'"));
            snapshot.Commit();
        }
        using (reader.BeginTransaction(deferred: true))
        {
            Assert.Equal(2, reader.Scalar<long>("SELECT count(*) FROM t"));
            Assert.Equal("ONE", reader.Scalar<string>("SELECT v FROM t WHERE id = 1"));
            Assert.Equal(42, reader.Scalar<long>("SELECT x FROM u"));
        }
    }

    /// <summary>
    /// Money moves between accounts in every transaction; the total never changes. A reader thread runs read
    /// transactions on the replica as fast as it can during a stream of applies: a half-applied transaction would show
    /// a wrong total (the rows span many pages, so every transfer rewrites several of them).
    /// </summary>
    [Fact]
    public void ConcurrentReaderNeverSeesHalfATransaction()
    {
        const int accounts = 200;
        const long total = accounts * 1000L;
        using var h = new ReplicationHarness();
        // ~1 KB of padding per row: the accounts span ~50 pages, and a transfer touches pages far apart.
        h.Commit("CREATE TABLE acct(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, pad BLOB, version INTEGER)");
        h.Commit($"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {accounts}) " +
                 "INSERT INTO acct SELECT i, 1000, randomblob(1000), 0 FROM n");

        var stop = false;
        long reads = 0;
        var versionsSeen = new HashSet<long>();
        Exception? failure = null;
        var readerThread = new Thread(() =>
        {
            try
            {
                using var connection = SqliteConnections.OpenReadOnly(h.ReplicaPath);
                using var sum = connection.CreateCommand();
                sum.CommandText = "SELECT sum(balance), count(*), min(version), max(version) FROM acct";
                while (!Volatile.Read(ref stop))
                {
                    using var transaction = connection.BeginTransaction(deferred: true);
                    sum.Transaction = transaction;
                    using (var row = sum.ExecuteReader())
                    {
                        row.Read();
                        var (s, n, minVersion, maxVersion) = (row.GetInt64(0), row.GetInt64(1), row.GetInt64(2), row.GetInt64(3));
                        if (s != total || n != accounts)
                            throw new Xunit.Sdk.XunitException($"read {reads}: sum {s} over {n} rows, expected {total} over {accounts}");
                        lock (versionsSeen) versionsSeen.Add(maxVersion);
                    }
                    // Each transaction stamps every row it touches with its number and touches row 1 every time: a
                    // reader that sees whole transactions finds row 1 carrying the highest version.
                    using (var one = connection.CreateCommand())
                    {
                        one.Transaction = transaction;
                        one.CommandText = "SELECT version FROM acct WHERE id = 1";
                        var rowOneVersion = (long)one.ExecuteScalar()!;
                        one.CommandText = "SELECT max(version) FROM acct";
                        var max = (long)one.ExecuteScalar()!;
                        if (rowOneVersion != max)
                            throw new Xunit.Sdk.XunitException($"row 1 has version {rowOneVersion} but some row has {max}: half a transaction");
                    }
                    transaction.Commit();
                    Interlocked.Increment(ref reads);
                }
            }
            catch (Exception e) { failure = e; }
        }) { IsBackground = true };
        readerThread.Start();

        var random = new Random(7);
        try
        {
            for (var version = 1; version <= 150 && failure is null; version++)
            {
                var moves = new List<string>();
                var touched = new HashSet<int> { 1 };
                for (var m = 0; m < 8; m++)
                {
                    int from = random.Next(1, accounts + 1), to = random.Next(1, accounts + 1);
                    var amount = random.Next(1, 50);
                    moves.Add($"UPDATE acct SET balance = balance - {amount} WHERE id = {from}");
                    moves.Add($"UPDATE acct SET balance = balance + {amount} WHERE id = {to}");
                    touched.Add(from);
                    touched.Add(to);
                }
                moves.Add($"UPDATE acct SET version = {version}, pad = randomblob(1000) WHERE id IN ({string.Join(",", touched)})");
                h.App.Execute("BEGIN; " + string.Join("; ", moves) + "; COMMIT");
                h.Drain();
                if (version % 10 == 0)
                {
                    h.RotateGuard();
                    // Let the reader get through at least one read transaction between groups of applies, so reads
                    // and applies really interleave (it runs freely in between).
                    var target = Interlocked.Read(ref reads) + 1;
                    var wait = new SpinWait();
                    while (Interlocked.Read(ref reads) < target && failure is null && readerThread.IsAlive) wait.SpinOnce(sleep1Threshold: -1);
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            readerThread.Join();
        }
        if (failure is not null) throw new Exception("the replica reader saw an inconsistent state", failure);
        h.RotateGuard();
        h.AssertReplicaEqualsPrimary();
        Assert.True(reads >= 15, $"only {reads} read transactions ran");
        Assert.True(versionsSeen.Count >= 2, "the reader never saw the data change");
        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal(total, replica.Scalar<long>("SELECT sum(balance) FROM acct"));
        Assert.Equal(150, replica.Scalar<long>("SELECT version FROM acct WHERE id = 1"));
    }
}

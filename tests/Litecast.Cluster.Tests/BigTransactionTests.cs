using System.Collections.Concurrent;
using System.Diagnostics;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A transaction of more than 50 MB, streamed in parts, reaches both replicas as ONE transaction: readers looping
/// read transactions on the replicas, while small transactions keep committing around it, never see a state the
/// primary never had.
/// </summary>
public class BigTransactionTests(ITestOutputHelper output)
{
    private const int Accounts = 100;
    private const long StartBalance = 1000;
    private const int RowsPerTransaction = 10;
    private const int BlobRows = 200;
    private const int BlobBytes = 256 * 1024; // 200 x 256 KiB = 52.4 MB in one transaction

    [Fact]
    public async Task FiftyMegabyteTransactionReachesBothReplicasAndReadersNeverSeeAPartialTransaction()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("""
            CREATE TABLE acct(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
            CREATE TABLE counter(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
            CREATE TABLE rows(id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, pad BLOB);
            CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
            INSERT INTO counter VALUES (1, 0);
            """);
        app.Execute($"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {Accounts}) " +
                    $"INSERT INTO acct SELECT i, {StartBalance} FROM s");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();

        using var stop = new CancellationTokenSource();
        var violations = new ConcurrentQueue<string>();
        var readers = Enumerable.Range(1, 2)
            .Select(r => Task.Factory.StartNew(() => Read(cluster.ReplicaPath(r), violations, stop.Token), TaskCreationOptions.LongRunning))
            .ToList();

        // Small transactions commit before, during and after the big one, from another connection.
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            var random = new Random(1);
            var count = 0;
            while (!stop.IsCancellationRequested)
            {
                SmallTransaction(connection, random);
                count++;
            }
            return count;
        }, TaskCreationOptions.LongRunning);

        await cluster.Replica(1).Kit.AwaitConditionAsync(async () => (await cluster.Replica(1).StatusAsync("app.db")).Txid > 50,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "small transactions to reach the replicas");
        var watch = Stopwatch.StartNew();
        using (var big = cluster.OpenApplication())
        {
            big.Execute("BEGIN IMMEDIATE");
            big.Execute($"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {BlobRows}) " +
                        $"INSERT INTO blobs(data) SELECT randomblob({BlobBytes}) FROM s");
            MoveAndCount(big, new Random(2));
            big.Execute("COMMIT");
        }
        output.WriteLine($"big transaction committed on the primary in {watch.ElapsedMilliseconds} ms");
        await cluster.WaitForReplicasAsync(TimeSpan.FromSeconds(120));
        output.WriteLine($"big transaction on both replicas after {watch.ElapsedMilliseconds} ms");

        // Some more small transactions after it, then stop and let the replicas catch up.
        var after = (await cluster.Replica(1).StatusAsync("app.db")).Txid + 50;
        await cluster.Replica(1).Kit.AwaitConditionAsync(async () => (await cluster.Replica(1).StatusAsync("app.db")).Txid > after,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "small transactions after the big one");
        stop.Cancel();
        var smallCount = await writer;
        var reads = await Task.WhenAll(readers);
        await cluster.WaitForReplicasAsync();

        output.WriteLine($"{smallCount} small transactions; reads per replica: " +
                         string.Join(", ", reads.Select(r => $"{r.Reads} reads, {r.States} distinct states, big seen {r.SawBig}")));
        Assert.Empty(violations);
        foreach (var read in reads)
        {
            Assert.True(read.SawBig, "a reader never saw the big transaction");
            Assert.True(read.States > 10, $"a reader saw only {read.States} states: it did not read during replication");
        }
        Assert.Equal((long)BlobRows * BlobBytes, app.Scalar<long>("SELECT sum(length(data)) FROM blobs"));
        for (var r = 1; r <= 2; r++)
        {
            Pages.AssertIdentical(cluster.PrimaryPath, cluster.ReplicaPath(r));
            using var replica = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(r));
            Assert.Equal(app.Scalar<long>("SELECT n FROM counter"), replica.Scalar<long>("SELECT n FROM counter"));
        }
    }

    private static void SmallTransaction(SqliteConnection connection, Random random)
    {
        connection.Execute("BEGIN IMMEDIATE");
        MoveAndCount(connection, random);
        connection.Execute("COMMIT");
    }

    /// <summary>Moves an amount between two accounts, increments the counter and inserts exactly
    /// <see cref="RowsPerTransaction"/> rows tagged with the new counter value.</summary>
    private static void MoveAndCount(SqliteConnection connection, Random random)
    {
        var from = random.Next(1, Accounts + 1);
        var to = random.Next(1, Accounts + 1);
        var amount = random.Next(1, 100);
        connection.Execute($"UPDATE acct SET balance = balance - {amount} WHERE id = {from}");
        connection.Execute($"UPDATE acct SET balance = balance + {amount} WHERE id = {to}");
        connection.Execute("UPDATE counter SET n = n + 1");
        connection.Execute($"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {RowsPerTransaction}) " +
                           "INSERT INTO rows(tx, pad) SELECT (SELECT n FROM counter), randomblob(100) FROM s");
    }

    private sealed record ReadResult(long Reads, int States, bool SawBig);

    /// <summary>Loops read transactions on a replica and checks every invariant inside each one.</summary>
    private static ReadResult Read(string path, ConcurrentQueue<string> violations, CancellationToken stop)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        long reads = 0;
        var states = new HashSet<long>();
        var sawBig = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                connection.Execute("BEGIN");
                var sum = connection.Scalar<long>("SELECT sum(balance) FROM acct");
                var n = connection.Scalar<long>("SELECT n FROM counter");
                var rows = connection.Scalar<long>("SELECT count(*) FROM rows");
                var maxTx = connection.Scalar<long>("SELECT coalesce(max(tx), 0) FROM rows");
                var blobs = connection.Scalar<long>("SELECT count(*) FROM blobs");
                var blobBytes = connection.Scalar<long>("SELECT coalesce(sum(length(data)), 0) FROM blobs");
                connection.Execute("COMMIT");
                reads++;
                states.Add(n);
                if (sum != Accounts * StartBalance) violations.Enqueue($"{path}: sum(balance) = {sum} at n = {n}");
                if (rows != RowsPerTransaction * n) violations.Enqueue($"{path}: {rows} rows at n = {n}");
                if (maxTx != n) violations.Enqueue($"{path}: max(tx) = {maxTx} at n = {n}");
                if (blobs != 0 && blobs != BlobRows) violations.Enqueue($"{path}: {blobs} blob rows at n = {n}");
                if (blobBytes != blobs * BlobBytes) violations.Enqueue($"{path}: {blobBytes} blob bytes in {blobs} rows");
                sawBig |= blobs == BlobRows;
            }
            catch (SqliteException e)
            {
                violations.Enqueue($"{path}: read failed: {e.Message}");
                try { connection.Execute("ROLLBACK"); }
                catch (SqliteException) { }
            }
        }
        return new ReadResult(reads, states.Count, sawBig);
    }
}

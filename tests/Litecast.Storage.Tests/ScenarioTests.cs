using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>
/// Tail-and-apply round trips of the workloads that break naive replication, at every page size. Each
/// <see cref="ReplicationHarness.Commit"/> replicates and then checks the replica page by page, by hash, by
/// integrity_check.
/// </summary>
public class ScenarioTests
{
    public static TheoryData<int> PageSizes => new() { 512, 4096, 65536 };

    private static long Count(string path, string sql)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<long>(sql);
    }

    private static byte[] Blob(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (byte[])command.ExecuteScalar()!;
    }

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void OverflowBlobsReplicateAndReadBackIdentical(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB)");
        // One page's worth, several overflow pages, a long overflow chain (1 MB), and a text value that overflows.
        h.Commit($"INSERT INTO b VALUES (1, randomblob({pageSize - 10})), (2, randomblob({pageSize * 5})), (3, randomblob(1048576))");
        h.Commit($"INSERT INTO b VALUES (4, CAST(printf('%.*c', {pageSize * 3}, 'x') AS TEXT))");
        // Shrink one chain (frees overflow pages onto the freelist), grow another, overwrite part of a blob in place.
        h.Commit("UPDATE b SET data = randomblob(100) WHERE id = 3");
        h.Commit($"UPDATE b SET data = randomblob({pageSize * 20}) WHERE id = 1");
        using (var blob = new SqliteBlob(h.App, "b", "data", 2))
        {
            blob.Seek(pageSize * 2 + 7, SeekOrigin.Begin);
            blob.Write(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
        }
        h.Commit("DELETE FROM b WHERE id = 4");
        h.Commit("INSERT INTO b SELECT 10 + id, data FROM b"); // reuses freelist pages

        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        foreach (var id in new[] { 1, 2, 3, 11, 12, 13 })
        {
            var sql = $"SELECT data FROM b WHERE id = {id}";
            Assert.Equal(Blob(h.App, sql), Blob(replica, sql));
        }
        Assert.Equal(pageSize * 20, replica.Scalar<long>("SELECT length(data) FROM b WHERE id = 1"));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, Blob(replica, $"SELECT substr(data, {pageSize * 2 + 8}, 8) FROM b WHERE id = 2"));
    }

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void RolledBackTransactionThatSpilledIntoTheWalIsNeverApplied(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.Commit("INSERT INTO t VALUES (1, 'kept')");
        var committedEnd = h.Reader.Cursor.Offset;
        var walBefore = h.Reader.FileLength();
        var frameSize = 24 + pageSize;

        // A tiny page cache makes SQLite spill the dirty pages of a big transaction into the WAL before the commit.
        h.App.Execute("PRAGMA cache_size = 10");
        var rows = Math.Max(200, pageSize * 300 / (pageSize / 2) );
        h.App.Execute("BEGIN");
        h.App.Execute($"WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {rows + 1}) " +
                      $"INSERT INTO t SELECT i, randomblob({pageSize / 2}) FROM n");
        h.App.Execute("UPDATE t SET v = 'changed' WHERE id = 1");
        var spilled = h.Reader.FileLength();
        Assert.True(spilled >= walBefore + 50L * frameSize, $"the transaction did not spill: WAL {walBefore} -> {spilled} bytes");

        // The spilled frames carry this WAL's salts and valid checksums, but no commit frame: nothing is returned.
        var during = h.Reader.Read();
        Assert.Empty(during.Transactions);
        Assert.Equal(committedEnd, h.Reader.Cursor.Offset);
        Assert.True(during.StopOffset > committedEnd, "the reader did not even see the spilled frames");

        h.App.Execute("ROLLBACK");
        h.App.Execute("PRAGMA cache_size = -2000");
        Assert.Empty(h.Drain());
        Assert.Equal(committedEnd, h.Reader.Cursor.Offset);
        h.RotateGuard();
        h.AssertReplicaEqualsPrimary();

        // The next transaction overwrites the spilled frames from the last commit on; the rest are left behind and
        // must stay unreturned (their checksum chain no longer continues), even by a reader going to the end of the file.
        h.Commit("INSERT INTO t VALUES (2, 'after rollback')");
        Assert.Equal(WalStop.ChecksumMismatch, ReadToTheEnd(h));
        Assert.True(h.Reader.FileLength() > h.Reader.Cursor.Offset);
        h.Commit("UPDATE t SET v = 'again' WHERE id = 2");
        Assert.Equal(2, Count(h.ReplicaPath, "SELECT count(*) FROM t"));
        Assert.Equal(0, Count(h.ReplicaPath, "SELECT count(*) FROM t WHERE v = 'changed'"));
    }

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void TransactionThatSpilledAndCommittedIsAppliedWhole(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.App.Execute("PRAGMA cache_size = 10");
        // Spills, then rewrites spilled pages again inside the same transaction (SQLite overwrites such frames in place
        // and recomputes the checksums at commit).
        h.Commit("BEGIN; " +
                 $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) INSERT INTO t SELECT i, randomblob({pageSize / 3}) FROM n; " +
                 "UPDATE t SET v = randomblob(50) WHERE id % 2 = 0; " +
                 "DELETE FROM t WHERE id % 3 = 0; COMMIT");
        h.App.Execute("PRAGMA cache_size = -2000");
        Assert.Equal(400 - 133, Count(h.ReplicaPath, "SELECT count(*) FROM t"));
    }

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void VacuumThatShrinksTheFileShrinksTheReplica(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.Commit($"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO t SELECT i, randomblob({pageSize}) FROM n");
        h.Commit("DELETE FROM t WHERE id > 10");
        var before = Count(h.ReplicaPath, "PRAGMA page_count");
        h.Commit("VACUUM");
        var after = Count(h.ReplicaPath, "PRAGMA page_count");
        Assert.True(after < before / 5, $"VACUUM did not shrink the replica: {before} -> {after} pages");
        Assert.Equal(Count(h.PrimaryPath, "PRAGMA page_count"), after);
        Assert.Equal(after, h.ReplicaHash!.PageCount);
        Assert.Equal(10, Count(h.ReplicaPath, "SELECT count(*) FROM t"));

        // Shrinking by incremental vacuum (auto_vacuum) as well, and growing again afterwards.
        h.Commit("PRAGMA auto_vacuum = INCREMENTAL");
        h.Commit("VACUUM");
        h.Commit($"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) INSERT INTO t SELECT 1000 + i, randomblob({pageSize}) FROM n");
        var grown = Count(h.ReplicaPath, "PRAGMA page_count");
        h.Commit("DELETE FROM t WHERE id > 1000");
        h.Commit("PRAGMA incremental_vacuum");
        Assert.True(Count(h.ReplicaPath, "PRAGMA page_count") < grown / 5);
        h.Commit($"INSERT INTO t VALUES (5000, randomblob({pageSize * 3}))");
    }

    [Theory]
    [MemberData(nameof(PageSizes))]
    public void WalRestartsAfterCheckpointsAreFollowed(int pageSize)
    {
        using var h = new ReplicationHarness(pageSize);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        var expected = 0;
        foreach (var mode in new[] { "PASSIVE", "TRUNCATE", "RESTART", "FULL" })
        {
            for (var i = 0; i < 3; i++)
            {
                h.Commit($"INSERT INTO t(v) VALUES (randomblob({pageSize * 2}))");
                expected++;
            }
            var restartsBefore = h.Restarts;
            if (mode == "PASSIVE")
            {
                // The guard holds a read mark at the WAL's end; a passive checkpoint backfills everything, the guard
                // moves onto the backfilled database, and the next writer restarts the WAL in place: new salts,
                // same file, old frames left behind it.
                h.App.Execute("PRAGMA wal_checkpoint(PASSIVE)");
            }
            else h.CheckpointWhileRotating(mode);
            h.RotateGuard();
            var lengthBefore = h.Reader.FileLength();
            h.Commit("INSERT INTO t(v) VALUES (x'01')");
            expected++;
            Assert.True(h.Restarts > restartsBefore, $"no WAL restart after a {mode} checkpoint");
            if (mode is "PASSIVE" or "RESTART" or "FULL")
            {
                Assert.True(lengthBefore > h.Reader.Cursor.Offset, $"{mode}: the WAL was not restarted in place");
                Assert.Equal(WalStop.StaleFrame, ReadToTheEnd(h));
            }
            h.Commit($"UPDATE t SET v = randomblob({pageSize}) WHERE id % 2 = 0");
        }
        Assert.True(h.RestartHeaders.Count >= 4);
        Assert.Equal(expected, Count(h.ReplicaPath, "SELECT count(*) FROM t"));
    }

    [Fact]
    public void ApplicationInAnotherProcessIsReplicated()
    {
        using var h = new ReplicationHarness();
        h.CommitViaShell("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v)");
        h.CommitViaShell("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t(v) SELECT hex(randomblob(40)) FROM n");
        h.CommitViaShell("DELETE FROM t WHERE id % 2 = 0; UPDATE t SET v = 'x' || v WHERE id % 3 = 0");
        h.CommitViaShell("BEGIN; DELETE FROM t; ROLLBACK");
        h.CommitViaShell("VACUUM");
        Assert.Equal(1000, Count(h.ReplicaPath, "SELECT count(*) FROM t"));
    }

    /// <summary>Reads the primary's WAL to the end of the file with a reader of its own (the tailer reads only what the
    /// WAL-index counts): it must stop exactly where the harness's reader stands. Returns why it stopped.</summary>
    private static WalStop ReadToTheEnd(ReplicationHarness h)
    {
        using var reader = new WalReader(WalFormat.WalPath(h.PrimaryPath));
        var result = reader.Read();
        Assert.Equal(h.Reader.Cursor, reader.Cursor);
        return result.Stop;
    }
}

public class WalRestartFacts
{
    [Fact]
    public void TruncateByAnotherConnectionCanRestartTheWalWithRandomSalts()
    {
        using var h = new ReplicationHarness();
        // h.App never restarted a WAL itself, so its private checkpoint counter (pWal->nCkpt) is 0.
        h.Commit("CREATE TABLE t(x)");
        var before = h.Reader.Header!.Value;
        h.CheckpointWhileRotating("TRUNCATE");
        Assert.Equal(0, h.Reader.FileLength());
        h.Commit("INSERT INTO t VALUES (1)");
        var (previous, current) = Assert.Single(h.RestartHeaders);
        Assert.Equal(before, previous);
        // Not salt1 + 1: the writer picked fresh random salts (and wrote its own stale checkpoint sequence, 0).
        Assert.NotEqual(previous.Salt1 + 1, current.Salt1);
        Assert.Equal(0u, current.CheckpointSequence);
        Assert.Equal(1, Count(h.ReplicaPath));

        // Once the writer restarted a WAL itself (in place, after a passive checkpoint), its counter is non-zero and a
        // later TRUNCATE by another connection keeps the salt1 + 1 pattern.
        h.App.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        h.RotateGuard();
        h.Commit("INSERT INTO t VALUES (2)");
        Assert.Equal(h.RestartHeaders[^1].Previous.Salt1 + 1, h.RestartHeaders[^1].Current.Salt1);
        h.CheckpointWhileRotating("TRUNCATE");
        h.Commit("INSERT INTO t VALUES (3)");
        Assert.Equal(3, h.RestartHeaders.Count);
        Assert.Equal(h.RestartHeaders[^1].Previous.Salt1 + 1, h.RestartHeaders[^1].Current.Salt1);
        Assert.Equal(3, Count(h.ReplicaPath));
    }

    private static long Count(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<long>("SELECT count(*) FROM t");
    }
}

public class ApplierCheckpointTests
{
    [Fact]
    public void ApplierWithoutCheckpointOnCommitStaysExactAndCheckpointsOnRequest()
    {
        using var h = new ReplicationHarness(replicaCheckpointOnCommit: false);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        // Well past SQLite's 1000-page automatic checkpoint threshold.
        h.Commit("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) INSERT INTO t SELECT i, randomblob(3000) FROM n");
        h.Commit("UPDATE t SET v = randomblob(100) WHERE id % 2 = 0");
        var replicaWal = WalFormat.WalPath(h.ReplicaPath);
        Assert.True(new FileInfo(replicaWal).Length > 1500L * 4096, "the replica's WAL was checkpointed on commit");

        using var reader = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal(1500, reader.Scalar<long>("SELECT count(*) FROM t"));
        reader.Close();

        var (log, done) = h.CheckpointReplica(truncate: true);
        Assert.Equal(0, new FileInfo(replicaWal).Length);
        Assert.Equal((0, 0), (log, done));
        h.AssertReplicaEqualsPrimary();
        h.Commit("DELETE FROM t WHERE id > 10");
        h.Commit("VACUUM");
        h.CheckpointReplica(truncate: false);
        h.AssertReplicaEqualsPrimary();
        using var after = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal(10, after.Scalar<long>("SELECT count(*) FROM t"));
    }
}

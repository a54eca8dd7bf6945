using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

public class ReplicaScrubReadTests
{
    /// <summary>The scrub's whole premise: begun between two of the applier's transactions, it hashes the file exactly
    /// as the applied pages stood then, while the applier commits and checkpoints its WAL (into the database file the
    /// scrub reads) meanwhile.</summary>
    [Fact]
    public void TheHashIsTheFileAsOfTheBeginWhileTheApplierCommitsAndCheckpoints()
    {
        using var h = new ReplicationHarness(replicaCheckpointOnCommit: true);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.Commit("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, randomblob(1500) FROM n");
        var atBegin = h.ReplicaHash!.Value;

        using var scrub = ReplicaScrubRead.Begin(h.ReplicaPath);
        h.Commit("UPDATE t SET v = randomblob(1600) WHERE id % 3 = 0");
        h.Commit("DELETE FROM t WHERE id > 150");
        var (logFrames, checkpointed) = h.CheckpointReplica(truncate: false);
        Assert.NotEqual(atBegin, h.ReplicaHash.Value);

        Assert.Equal(atBegin, scrub.Hash(CancellationToken.None).Value);
        // The scrub's read mark held the checkpoint back: the frames committed after its begin stay in the WAL.
        Assert.True(checkpointed < logFrames, $"{checkpointed} of {logFrames} frames checkpointed past the scrub's read");
    }

    /// <summary>A stopped applier cancels its scrub: the hash stops between pages, and once the read is disposed the
    /// replica's checkpoint backfills everything again.</summary>
    [Fact]
    public void ACancelledHashStopsAndItsDisposedReadNoLongerHoldsTheCheckpointBack()
    {
        using var h = new ReplicationHarness(replicaCheckpointOnCommit: true);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        h.Commit("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, randomblob(1500) FROM n");
        var scrub = ReplicaScrubRead.Begin(h.ReplicaPath);
        h.Commit("UPDATE t SET v = randomblob(1600) WHERE id % 3 = 0");

        Assert.ThrowsAny<OperationCanceledException>(() => scrub.Hash(new CancellationToken(canceled: true)));
        scrub.Dispose();
        var (logFrames, checkpointed) = h.CheckpointReplica(truncate: false);
        Assert.Equal(logFrames, checkpointed);
    }

    [Fact]
    public void AFileThatIsNotADatabaseIsDamageABusyLockIsNot()
    {
        var path = Path.Combine(Path.GetTempPath(), $"litecast-scrub-{Guid.NewGuid():N}.db");
        File.WriteAllBytes(path, Enumerable.Repeat((byte)0x5a, 8192).ToArray());
        try
        {
            var e = Assert.ThrowsAny<Exception>(() => ReplicaScrubRead.Begin(path).Dispose());
            Assert.True(ReplicaScrubRead.IsDamage(e), $"not counted as damage: {e}");
        }
        finally
        {
            File.Delete(path);
        }
        Assert.False(ReplicaScrubRead.IsDamage(new SqliteException("database is locked", 5)));
        Assert.False(ReplicaScrubRead.IsDamage(new TimeoutException()));
    }
}

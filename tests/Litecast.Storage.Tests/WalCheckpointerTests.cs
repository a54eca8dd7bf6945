namespace Litecast.Storage.Tests;

/// <summary>
/// <see cref="WalCheckpointer"/> without the tailer: the harness plays the tailer (its guard and reader replicate every
/// transaction to a replica file, checking hashes), and the checkpointer must keep the WAL bounded without ever
/// checkpointing a frame the reader has not read.
/// </summary>
public sealed class WalCheckpointerTests : IDisposable
{
    private const int ThresholdPages = 50;
    private readonly ReplicationHarness _harness = new();
    private readonly WalCheckpointer _checkpointer;

    public WalCheckpointerTests() => _checkpointer = new WalCheckpointer(_harness.PrimaryPath, ThresholdPages);

    public void Dispose()
    {
        _checkpointer.Dispose();
        _harness.Dispose();
    }

    private void CommitRows(int count)
    {
        _harness.Commit("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)");
        for (var i = 0; i < count; i++) _harness.Commit("INSERT INTO t(v) VALUES (randomblob(3000))");
    }

    [Fact]
    public void BelowTheThresholdNothingIsCheckpointed()
    {
        CommitRows(10);
        var length = _harness.Reader.FileLength();
        _checkpointer.Run(_harness.Reader.Cursor, _harness.PageSize, _harness.RotateGuard);
        Assert.Equal(0, _checkpointer.Checkpoints);
        Assert.Equal(length, _harness.Reader.FileLength());
    }

    [Fact]
    public void PastTheThresholdEverythingReadIsBackfilledAndTheWalRestartsInPlace()
    {
        CommitRows(ThresholdPages);
        var length = _harness.Reader.FileLength();
        var restarts = _harness.Restarts;

        _checkpointer.Run(_harness.Reader.Cursor, _harness.PageSize, _harness.RotateGuard);

        Assert.True(_checkpointer.Checkpoints >= 1, $"{_checkpointer.Checkpoints} checkpoints");
        Assert.Equal(length, _harness.Reader.FileLength());
        // Everything was backfilled and the guard reads the database file alone: the application's next commit restarts
        // the WAL from its start, over the old frames, in the same file.
        _harness.Commit("INSERT INTO t(v) VALUES ('after the reset')");
        Assert.Equal(restarts + 1, _harness.Restarts);
        Assert.Equal(length, _harness.Reader.FileLength());
        Assert.True(_harness.Reader.Cursor.Offset < length / 2, $"the reader is at {_harness.Reader.Cursor.Offset} of {length}");
        _harness.AssertReplicaEqualsPrimary();
    }

    [Fact]
    public void ReclaimTruncatesTheWalOnceEverythingIsRead()
    {
        CommitRows(2 * ThresholdPages);
        _checkpointer.Reclaim(_harness.Reader.FileLength(), _harness.PageSize, _harness.RotateGuard);

        Assert.Equal(0, _harness.Reader.FileLength());
        _harness.Commit("INSERT INTO t(v) VALUES ('after the truncate')");
        _harness.AssertReplicaEqualsPrimary();
        using var replica = SqliteConnections.OpenReadOnly(_harness.ReplicaPath);
        Assert.Equal(2 * ThresholdPages + 1, replica.Scalar<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public void ReclaimLeavesAWalUnderTheThresholdAlone()
    {
        CommitRows(ThresholdPages / 5);
        var length = _harness.Reader.FileLength();
        _checkpointer.Reclaim(length, _harness.PageSize, _harness.RotateGuard);
        Assert.Equal(0, _checkpointer.Checkpoints);
        Assert.Equal(length, _harness.Reader.FileLength());
    }

    [Fact]
    public void ReclaimNeverTruncatesACommitTheReaderHasNotRead() =>
        // The PASSIVE checkpoint stops at the guard, so the TRUNCATE is never reached.
        AssertAnUnreadCommitSurvives(() => _checkpointer.Reclaim(_harness.Reader.FileLength(), _harness.PageSize, () => { }));

    [Fact]
    public void ACommitTheReaderHasNotReadIsNeverCheckpointedAway() =>
        // Every PASSIVE checkpoint stops at the guard, the one under the write lock too.
        AssertAnUnreadCommitSurvives(() => _checkpointer.Run(_harness.Reader.Cursor, _harness.PageSize, () => { }));

    /// <summary>The application commits after the reader's position and before <paramref name="checkpoint"/> runs
    /// (with a tailer that reads nothing): the commit stays in the WAL, and the replica has it once it is read.</summary>
    private void AssertAnUnreadCommitSurvives(Action checkpoint)
    {
        CommitRows(2 * ThresholdPages);
        _harness.App.Execute("INSERT INTO t(v) VALUES ('unread')");

        checkpoint();

        Assert.True(_harness.Reader.FileLength() > 0);
        _harness.Drain();
        _harness.RotateGuard();
        _harness.AssertReplicaEqualsPrimary();
        using var replica = SqliteConnections.OpenReadOnly(_harness.ReplicaPath);
        Assert.Equal(1, replica.Scalar<long>("SELECT count(*) FROM t WHERE v = 'unread'"));
    }
}

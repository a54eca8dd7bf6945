using Litecast.Actors.Primary;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A big transaction written right after Litecast gave the WAL file's space back (its TRUNCATE once the application
/// paused) is checked at most once, not again at every wake-up and poll while the application writes it; and it still
/// reaches the replica whole once committed. With SQLite's default page cache the transaction's pages are appended to
/// the WAL once each, as in the benchmark's 100 MB transaction.
/// </summary>
public class BigWriteAfterResetTests(ITestOutputHelper output)
{
    private const int Statements = 6;
    private const int RowsPerStatement = 512; // 512 rows of 4000 bytes, one page each: about 2 MiB per statement
    private const int RowsBeforePause = 1200; // more pages than the default checkpoint threshold (1000)

    [Fact]
    public async Task ABigTransactionAfterTheWalWasResetIsCheckedOnceWhileItIsWritten()
    {
        var counter = new FrameCounter();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = counter } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        app.Execute("INSERT INTO t(v) VALUES (randomblob(100))");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();

        // The application writes more than the checkpoint threshold's pages, then pauses: after a second of it the tailer
        // gives the WAL file's space back (a TRUNCATE).
        InsertPageRows(app, RowsBeforePause);
        var wal = WalFormat.WalPath(cluster.PrimaryPath);
        await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(new FileInfo(wal).Length == 0),
            TimeSpan.FromSeconds(30), TestCluster.Poll, "the tailer to truncate the idle WAL");

        // One transaction spilled into the empty WAL statement by statement (a full page cache spills its pages as
        // uncommitted frames). After each statement, two polls of the tailer begin, so one of them runs after the spill:
        // the old tailer read the transaction from its first frame at each of them, and at every wake-up.
        app.Execute("BEGIN");
        var checkedBefore = counter.Bytes;
        for (var statement = 0; statement < Statements; statement++)
        {
            InsertPageRows(app, RowsPerStatement);
            var polls = counter.Polls;
            await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(counter.Polls >= polls + 2),
                TimeSpan.FromSeconds(30), TestCluster.Poll, $"two polls of the tailer after statement {statement + 1}");
        }
        var spilled = new FileInfo(wal).Length;
        var checkedWhileWriting = counter.Bytes - checkedBefore;
        output.WriteLine($"spilled {spilled} bytes; the tailer checked {checkedWhileWriting} bytes of frames meanwhile");
        Assert.True(spilled > 8 << 20, $"the transaction spilled only {spilled} bytes");
        Assert.True(checkedWhileWriting <= spilled,
            $"the tailer checked {checkedWhileWriting} bytes of frames while a {spilled}-byte transaction was being written: more than one pass");

        app.Execute("COMMIT");
        await cluster.WaitForReplicasAsync();
        using var replica = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(1 + RowsBeforePause + Statements * RowsPerStatement, replica.Scalar<long>("SELECT count(*) FROM t"));
        Assert.Equal(RowsBeforePause + Statements * RowsPerStatement, replica.Scalar<long>("SELECT count(*) FROM t WHERE length(v) = 4000"));
    }

    /// <summary>
    /// The WAL file's space is given back once the application pauses, even when something held the WAL at the moment
    /// the pause began (here a reader of the application's; in the black-box review a resync's snapshot copy): the
    /// reclaim is tried again at each idle poll. It used to be tried once, leaving a 40-140 MB WAL file for minutes.
    /// </summary>
    [Fact]
    public async Task TheIdleWalIsTruncatedOnceAReaderThatHeldItAtThePauseLetsGo()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();

        using var reader = cluster.OpenApplication();
        reader.Execute("BEGIN");
        Assert.Equal(0, reader.Scalar<long>("SELECT count(*) FROM t"));
        InsertPageRows(app, RowsBeforePause);
        await cluster.WaitForReplicasAsync();
        var wal = WalFormat.WalPath(cluster.PrimaryPath);
        // Past the pause's first reclaim, which the reader's snapshot (older than every frame) made fail.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True(new FileInfo(wal).Length > 4 << 20, "the reader did not hold the WAL");

        reader.Execute("COMMIT");
        await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(new FileInfo(wal).Length == 0),
            TimeSpan.FromSeconds(15), TestCluster.Poll, "the tailer to truncate the idle WAL once the reader let go");
        using var replica = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(RowsBeforePause, replica.Scalar<long>("SELECT count(*) FROM t"));
    }

    /// <summary>Inserts <paramref name="rows"/> rows of 4000 random bytes into <c>t</c>: one page each.</summary>
    private static void InsertPageRows(SqliteConnection app, int rows) =>
        app.Execute($"INSERT INTO t(v) SELECT randomblob(4000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) SELECT i FROM n)");

    /// <summary>The production environment, counting the tailer's polls and the bytes of WAL frames it checks.</summary>
    private sealed class FrameCounter : ITailerEnvironment
    {
        private long _bytes;
        private long _polls;

        public long Bytes => Interlocked.Read(ref _bytes);
        public long Polls => Interlocked.Read(ref _polls);

        public IDisposable? WatchWal(string walPath, Action changed) => TailerEnvironment.Default.WatchWal(walPath, changed);

        public void Reached(TailerPoint point)
        {
            if (point == TailerPoint.Poll) Interlocked.Increment(ref _polls);
        }

        public void FramesChecked(long bytes) => Interlocked.Add(ref _bytes, bytes);
    }
}

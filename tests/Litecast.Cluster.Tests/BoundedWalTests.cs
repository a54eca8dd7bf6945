using System.Diagnostics;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The primary's WAL stays bounded under a sustained write load (the tailer's PASSIVE checkpoints past the threshold,
/// and when they cannot backfill everything a restart in place under the write lock), its space is given back once the application pauses,
/// and the application's own TRUNCATE checkpoint is not stalled by the guard (it rotates on a short timer).
/// </summary>
public class BoundedWalTests(ITestOutputHelper output)
{
    private const int ThresholdPages = 1000;
    private const int Commits = 20_000;

    /// <summary>The stated bound, in frames: the checkpoint threshold plus what an application committing in a tight
    /// loop appends before the tailer gets the write lock for a moment. The overshoot measured on 2 shared cores was at
    /// most about 3700 frames (without the bound the WAL grew with every commit: 20417 frames for these 20k commits).
    /// The reset took the lock at 4 × the threshold until 12-01; the bound then was 8,000 frames.</summary>
    private const int BoundPages = ThresholdPages + 4000;

    /// <param name="applicationAutocheckpoint">False: the application follows the README's tip for a busy primary and
    /// turns SQLite's autocheckpoint off, so Litecast's checkpoints alone must bound the WAL.</param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WalStaysBoundedUnderSustainedWritesAndTheApplicationsTruncateIsNotStalled(bool applicationAutocheckpoint)
    {
        await using var cluster = new TestCluster(output) { Tune = s => s with { CheckpointThresholdPages = ThresholdPages } };
        SqliteConnection OpenApplication() => OpenApplicationOf(cluster, applicationAutocheckpoint);
        using var app = OpenApplication();
        var pageSize = await StartAsync(cluster, app);
        var bound = BoundBytes(pageSize);

        var (maxWal, samples, loadMs) = await WriteSampledAsync(cluster, OpenApplication);
        var truncates = new List<(double Ms, int Attempts, long Busy)>();

        // The application's own TRUNCATE checkpoints while Litecast runs: each must wait only for a guard rotation.
        // (Measured after the load: during a tight write loop the checkpoint's wait for the application's own writer
        // lock dominates, which is not Litecast's doing.)
        using var checkpointer = OpenApplication();
        for (var i = 0; i < 5; i++)
        {
            for (var j = 0; j < 200; j++) app.Execute($"INSERT INTO t(v) VALUES ('after {i} {j}')");
            truncates.Add(Truncate(checkpointer));
        }

        output.WriteLine($"{Commits} commits in {loadMs} ms; WAL max {maxWal} bytes ({maxWal / (pageSize + 24)} frames) over {samples} samples; " +
                         $"bound {bound} bytes ({BoundPages} frames of {pageSize} + 24 bytes)");
        output.WriteLine($"application TRUNCATE checkpoints (busy_timeout 5000): {string.Join(", ", truncates.Select(t => $"{t.Ms:F1} ms{(t.Attempts > 1 ? $" ({t.Attempts} attempts)" : "")}{(t.Busy != 0 ? " BUSY" : "")}"))}");
        Assert.True(maxWal <= bound, $"the WAL reached {maxWal} bytes, over the bound of {bound}");
        Assert.All(truncates, t => Assert.True(t.Ms < 2000, $"an application TRUNCATE checkpoint took {t.Ms} ms"));
        Assert.All(truncates, t => Assert.Equal(0, t.Busy));

        await cluster.WaitForReplicasAsync();
        var status = await cluster.Replica(1).StatusAsync("app.db");
        Assert.Equal(1, status.Counters.Resyncs); // the initial one, from an empty replica
        Assert.Equal(Commits + 1000, app.Scalar<long>("SELECT count(*) FROM t"));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// The bound holds even when the tailer's poll timer does not come during the load (on a loaded machine its
    /// tick ran hundreds of milliseconds late): here the poll interval is longer than the whole load, so only the
    /// tailer's reads can see the WAL pass the bound. The application's autocheckpoint is off, so nothing else resets
    /// the WAL. Without the check on the read path the WAL grew with every commit.
    /// </summary>
    [Fact]
    public async Task TheBoundHoldsWithoutThePollTimer()
    {
        await using var cluster = new TestCluster(output)
        {
            Tune = s => s with { CheckpointThresholdPages = ThresholdPages, PollInterval = TimeSpan.FromMinutes(5) },
        };
        SqliteConnection OpenApplication() => OpenApplicationOf(cluster, applicationAutocheckpoint: false);
        using var app = OpenApplication();
        var pageSize = await StartAsync(cluster, app);
        var bound = BoundBytes(pageSize);

        var (maxWal, samples, loadMs) = await WriteSampledAsync(cluster, OpenApplication);
        output.WriteLine($"{Commits} commits in {loadMs} ms; WAL max {maxWal} bytes over {samples} samples; bound {bound} bytes");
        Assert.True(maxWal <= bound, $"the WAL reached {maxWal} bytes, over the bound of {bound}");
        await cluster.WaitForReplicasAsync();
        Assert.Equal(Commits, app.Scalar<long>("SELECT count(*) FROM t"));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// A burst that leaves the WAL past the threshold, with the application's autocheckpoint off, then a pause: the
    /// tailer truncates the WAL (its space back on disk) once nothing changed for a second, and the next commits start
    /// a new WAL that replicates as before.
    /// </summary>
    [Fact]
    public async Task TheWalFileIsGivenBackOnceTheApplicationPauses()
    {
        const int threshold = 200;
        await using var cluster = new TestCluster(output) { Tune = s => s with { CheckpointThresholdPages = threshold } };
        using var app = OpenApplicationOf(cluster, applicationAutocheckpoint: false);
        var pageSize = await StartAsync(cluster, app);
        var walPath = WalFormat.WalPath(cluster.PrimaryPath);
        app.Execute("BEGIN");
        for (var i = 0; i < 3 * threshold; i++) app.Execute($"INSERT INTO t(v) VALUES ('{new string('x', (int)pageSize / 2)}')");
        app.Execute("COMMIT");
        Assert.True(new FileInfo(walPath).Length > threshold * (pageSize + 24), $"the burst left {new FileInfo(walPath).Length} bytes of WAL");

        await cluster.Primary.Kit.AwaitConditionAsync(() => Task.FromResult(new FileInfo(walPath).Length == 0),
            TimeSpan.FromSeconds(15), TestCluster.Poll, "the tailer to truncate the WAL once the application paused");
        for (var i = 0; i < 10; i++) app.Execute($"INSERT INTO t(v) VALUES ('after the pause {i}')");
        await cluster.WaitForReplicasAsync();
        Assert.Equal(3 * threshold + 10, app.Scalar<long>("SELECT count(*) FROM t"));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// A replica's WAL stays bounded while the primary commits big transactions back to back. Its background PASSIVE
    /// checkpoint backfilled the WAL, but SQLite starts a WAL over only when a writer begins after a complete backfill,
    /// which batches arriving back to back never allowed: a black-box review saw a replica's WAL reach 2.9 GB for a
    /// 65 MB database. The applier now truncates it itself between batches once it passes 4 × the threshold.
    /// </summary>
    [Fact]
    public async Task TheReplicasWalStaysBoundedUnderBigTransactionsBackToBack()
    {
        const int threshold = 200;
        const int rows = 2000;
        const int transactions = 80;
        await using var cluster = new TestCluster(output) { Tune = s => s with { CheckpointThresholdPages = threshold } };
        using var app = cluster.OpenApplication();
        var pageSize = await StartAsync(cluster, app);
        var transactionPages = FillTable(app, rows);

        var (maxWal, samples, loadMs) = await SampledAsync(cluster.ReplicaPath(1) + "-wal", () =>
        {
            // Every row rewritten in each transaction: about the whole database each time.
            using var connection = cluster.OpenApplication();
            for (var i = 0; i < transactions; i++) connection.Execute($"UPDATE t SET v = '{(char)('a' + i % 26)}' || substr(v, 2)");
        });
        await cluster.WaitForReplicasAsync();

        // The bound, one batch past it while the truncate waits for the batch's commit, and a batch applied meanwhile.
        var bound = (4 * threshold + 2 * transactionPages) * (pageSize + 24) + 32;
        output.WriteLine($"{transactions} transactions of {transactionPages} pages in {loadMs} ms; replica WAL max {maxWal} bytes over {samples} samples; bound {bound}");
        Assert.True(maxWal <= bound, $"the replica's WAL reached {maxWal} bytes, over {bound} ({transactions} transactions of about {transactionPages} pages)");
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        Assert.True((await cluster.Replica(1).StatusAsync("app.db")).Counters.Checkpoints > 0, "the replica counted no checkpoint");
    }

    /// <summary>
    /// An application that holds the write lock for most of the time, taking it again at once after each commit (long
    /// write transactions back to back): the tailer's moment under the write lock must still come, or the WAL grows
    /// with every commit (a black-box review: 4.5 GB for a 65 MB database in 90 s, with no warning; the same writer
    /// without Litecast kept it at 66 MB).
    /// </summary>
    [Fact]
    public async Task ThePrimarysWalStaysBoundedUnderLongWriteTransactionsBackToBack()
    {
        const int threshold = 200;
        const int rows = 2000;
        await using var cluster = new TestCluster(output) { Tune = s => s with { CheckpointThresholdPages = threshold } };
        using var app = cluster.OpenApplication();
        var pageSize = await StartAsync(cluster, app);
        var transactionPages = FillTable(app, rows);

        var commits = 0;
        var (maxWal, samples, loadMs) = await SampledAsync(cluster.PrimaryPath + "-wal", () =>
        {
            using var connection = cluster.OpenApplication();
            var clock = Stopwatch.StartNew();
            connection.Execute("BEGIN IMMEDIATE");
            while (clock.Elapsed < TimeSpan.FromSeconds(12))
            {
                // About 200 ms under the write lock, then COMMIT and BEGIN IMMEDIATE again at once.
                var held = Stopwatch.StartNew();
                while (held.ElapsedMilliseconds < 200) connection.Execute($"UPDATE t SET v = '{(char)('a' + commits % 26)}' || substr(v, 2) WHERE id % 7 = {commits % 7}");
                connection.Execute("COMMIT; BEGIN IMMEDIATE");
                commits++;
            }
            connection.Execute("COMMIT");
        });
        await cluster.WaitForReplicasAsync();

        var bound = (4 * threshold + 4 * transactionPages) * (pageSize + 24) + 32;
        output.WriteLine($"{commits} transactions of up to {transactionPages} pages in {loadMs} ms; primary WAL max {maxWal} bytes over {samples} samples; bound {bound}");
        Assert.True(maxWal <= bound, $"the primary's WAL reached {maxWal} bytes, over {bound} ({commits} long transactions back to back)");
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>A WAL past 16 × the threshold is warned of once (a bound Litecast could not keep fills the disk): here a
    /// single transaction that large, which no checkpoint can split.</summary>
    [Fact]
    public async Task AWalPastSixteenTimesTheThresholdIsWarnedOfOnce()
    {
        const int threshold = 50;
        await using var cluster = new TestCluster(output) { Tune = s => s with { CheckpointThresholdPages = threshold } };
        using var app = OpenApplicationOf(cluster, applicationAutocheckpoint: false);
        var pageSize = await StartAsync(cluster, app);
        const string warning = "past 16 x checkpoint-threshold-pages";
        Assert.Equal(0, cluster.Primary.Log.Count(warning));

        app.Execute("BEGIN");
        for (var i = 0; i < 40 * threshold; i++) app.Execute($"INSERT INTO t(v) VALUES ('{new string('x', (int)pageSize / 2)}')");
        app.Execute("COMMIT");
        await cluster.WaitForReplicasAsync();
        await cluster.Primary.Log.WaitForCountAsync(warning, 1, TimeSpan.FromSeconds(10), "the warning of a WAL past its bound");
        for (var i = 0; i < 10; i++) app.Execute($"INSERT INTO t(v) VALUES ('after {i}')");
        await cluster.WaitForReplicasAsync();
        Assert.Equal(1, cluster.Primary.Log.Count(warning));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>The application's connection; with <paramref name="applicationAutocheckpoint"/> false it turns SQLite's
    /// autocheckpoint off (the README's tip for a busy primary).</summary>
    private static SqliteConnection OpenApplicationOf(TestCluster cluster, bool applicationAutocheckpoint)
    {
        var connection = cluster.OpenApplication();
        if (!applicationAutocheckpoint) connection.Execute("PRAGMA wal_autocheckpoint = 0");
        return connection;
    }

    /// <summary>Creates the table through the application's connection, starts the primary and one replica and waits
    /// until it caught up; returns the database's page size.</summary>
    private static async Task<long> StartAsync(TestCluster cluster, SqliteConnection app)
    {
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        var pageSize = app.Scalar<long>("PRAGMA page_size");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        return pageSize;
    }

    /// <summary>Commits <paramref name="rows"/> rows of 400 bytes in one transaction; returns the database's pages then,
    /// about what a transaction rewriting every row writes.</summary>
    private static long FillTable(SqliteConnection app, int rows)
    {
        app.Execute("BEGIN");
        for (var i = 0; i < rows; i++) app.Execute($"INSERT INTO t(v) VALUES ('{new string('x', 400)}')");
        app.Execute("COMMIT");
        return app.Scalar<long>("PRAGMA page_count");
    }

    /// <summary>The stated bound in bytes: the WAL header and <see cref="BoundPages"/> frames.</summary>
    private static long BoundBytes(long pageSize) => BoundPages * (pageSize + 24) + 32;

    /// <summary>The application commits <see cref="Commits"/> rows in a tight loop on its own connection while a thread
    /// samples the WAL's size every millisecond: the largest size seen, the samples taken and the load's duration.</summary>
    private static Task<(long MaxWal, long Samples, long LoadMs)> WriteSampledAsync(TestCluster cluster, Func<SqliteConnection> open) =>
        SampledAsync(cluster.PrimaryPath + "-wal", () =>
        {
            using var connection = open();
            for (var i = 1; i <= Commits; i++) connection.Execute($"INSERT INTO t(v) VALUES ('row {i} {new string('x', i % 50)}')");
        });

    /// <summary>Runs <paramref name="load"/> while a thread samples the size of the WAL at <paramref name="walPath"/>
    /// every millisecond: the largest size seen, the samples taken and the load's duration.</summary>
    private static async Task<(long MaxWal, long Samples, long LoadMs)> SampledAsync(string walPath, Action load)
    {
        long maxWal = 0, samples = 0;
        using var stop = new CancellationTokenSource();
        var sampler = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var info = new FileInfo(walPath);
                if (info.Exists) maxWal = Math.Max(maxWal, info.Length);
                samples++;
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        sampler.Start();
        var watch = Stopwatch.StartNew();
        await Task.Factory.StartNew(load, TaskCreationOptions.LongRunning);
        var loadMs = watch.ElapsedMilliseconds;
        stop.Cancel();
        sampler.Join();
        return (maxWal, samples, loadMs);
    }

    /// <summary>
    /// Runs the application's TRUNCATE checkpoint with a 5 s busy timeout, as an application would: when another
    /// connection is running a checkpoint at that moment (Litecast's PASSIVE ones run concurrently by design), SQLite
    /// answers BUSY at once, without calling the busy handler (sqlite3WalCheckpoint does not wait for the checkpoint
    /// lock), and the application tries again a little later. A BUSY after waiting is a stall and is returned as it is.
    /// Returns the total duration in ms, the attempts, and SQLite's busy flag of the last attempt (1 when it could not
    /// complete).
    /// </summary>
    private static (double Ms, int Attempts, long Busy) Truncate(SqliteConnection connection)
    {
        var watch = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            var started = watch.Elapsed;
            var busy = connection.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)");
            var waited = watch.Elapsed - started;
            if (busy == 0 || attempt == 20 || waited > TimeSpan.FromMilliseconds(100))
                return (watch.Elapsed.TotalMilliseconds, attempt, busy);
            Thread.Sleep(10);
        }
    }
}

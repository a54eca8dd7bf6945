using Akka.Actor;
using Litecast.Actors.Primary;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The tailer is killed by an injected fault, three times, while the application keeps committing and keeps trying
/// to restart the WAL: the backoff supervisor restarts it, it resumes at its WAL position under the guard the
/// database actor kept, and every transaction reaches the replicas exactly once, in the same generation.
/// </summary>
public class TailerFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KilledTailerIsRestartedAndNoTransactionIsLostOrDuplicated()
    {
        var faults = new TailerFaults();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = faults } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.StartReplicaAsync(2);
        await cluster.WaitForReplicasAsync();
        var primaryBefore = await cluster.Primary.StatusAsync("app.db");
        var replicasBefore = await Task.WhenAll(cluster.Replicas.Select(r => r.StatusAsync("app.db")));

        using var stop = new CancellationTokenSource();
        // The application: single-row commits with consecutive ids.
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            var id = 0;
            while (!stop.IsCancellationRequested)
            {
                id++;
                connection.Execute($"INSERT INTO t(id, v) VALUES ({id}, randomblob({100 + id % 13 * 150}))");
            }
            return id;
        }, TaskCreationOptions.LongRunning);
        // The application also tries to restart the WAL, without waiting: while the guard holds unread frames (or
        // the writer lock is taken) SQLite refuses. A RESTART that succeeds is legal only when the guard had read
        // everything; a restart over unread frames would lose transactions, which the assertions below would see.
        var restarts = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            connection.Execute("PRAGMA busy_timeout = 0");
            var (done, refused) = (0, 0);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (connection.Scalar<long>("PRAGMA wal_checkpoint(RESTART)") == 0) done++;
                    else refused++;
                }
                catch (SqliteException e) when (e.SqliteErrorCode == 5) { refused++; }
                Thread.Sleep(2);
            }
            return (done, refused);
        }, TaskCreationOptions.LongRunning);

        var database = cluster.Primary.Databases["app.db"];
        var tailerPath = database.Path / "tailer-supervisor" / "tailer";
        for (var fault = 1; fault <= 3; fault++)
        {
            var tailer = await Resolve(cluster.Primary.System, tailerPath);
            Assert.NotNull(tailer);
            var txid = (await cluster.Primary.StatusAsync("app.db")).Txid;
            faults.Arm(TailerPoint.Poll, $"test fault {fault}");
            await cluster.Primary.Kit.AwaitConditionAsync(async () => await Resolve(cluster.Primary.System, tailerPath) is { } next && next.Path.Uid != tailer.Path.Uid,
                TimeSpan.FromSeconds(30), TestCluster.Poll, $"a new tailer incarnation after fault {fault}");
            await cluster.Primary.Kit.AwaitConditionAsync(async () => (await cluster.Primary.StatusAsync("app.db")).Txid > txid + 200,
                TimeSpan.FromSeconds(30), TestCluster.Poll, $"the restarted tailer to publish after fault {fault}");
            output.WriteLine($"fault {fault}: tailer {tailer.Path.Uid} replaced; primary past txid {txid + 200}");
        }
        stop.Cancel();
        var commits = await writer;
        var (restarted, refusedRestarts) = await restarts;
        output.WriteLine($"{commits} commits; application RESTART checkpoints: {restarted} completed, {refusedRestarts} refused");
        await cluster.WaitForReplicasAsync();

        var primaryAfter = await cluster.Primary.StatusAsync("app.db");
        Assert.Equal(primaryBefore.Generation, primaryAfter.Generation);
        // Every commit got exactly one txid: none lost, none counted twice.
        Assert.Equal(primaryBefore.Txid + (ulong)commits, primaryAfter.Txid);
        Assert.Equal(primaryBefore.Counters.Resyncs, primaryAfter.Counters.Resyncs);
        Assert.Equal($"{commits}:{commits}:{(long)commits * (commits + 1) / 2}", app.Scalar<string>("SELECT count(*) || ':' || max(id) || ':' || sum(id) FROM t"));
        for (var r = 1; r <= 2; r++)
        {
            var status = await cluster.Replica(r).StatusAsync("app.db");
            Assert.Equal(primaryBefore.Generation, status.Generation);
            Assert.Equal(replicasBefore[r - 1].Counters.Resyncs, status.Counters.Resyncs);
            PartitionTests.AssertSameRows(app, cluster.ReplicaPath(r));
        }
    }

    /// <summary>
    /// The tailer dies, and before its next incarnation starts the application restarts the WAL (a RESTART or TRUNCATE
    /// checkpoint, which SQLite allows once the guard, still held by the database actor, reads the database file only)
    /// and commits into the new WAL: with salt1 + 1 when the connection that restarted it writes, random salts when
    /// another one does. The new tailer resumes the generation at the new WAL's start, with no resync: the guard kept
    /// SQLite from backfilling, and so from restarting over, anything the dead tailer had not read. (It used to refuse
    /// the changed salts and start a new generation, which made the replicas resync.)
    /// </summary>
    [Theory]
    [InlineData("RESTART", "the same connection")]
    [InlineData("RESTART", "another connection")]
    [InlineData("TRUNCATE", "another connection")]
    [InlineData("TRUNCATE", "no one")]
    public async Task KilledTailerResumesItsGenerationAcrossAWalRestartedBeforeItCameBack(string checkpoint, string writer)
    {
        var faults = new TailerFaults();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = faults } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        for (var i = 0; i < 20; i++) app.Execute("INSERT INTO t(v) VALUES (randomblob(500))");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var primaryBefore = await cluster.Primary.StatusAsync("app.db");
        var replicaBefore = await cluster.Replica(1).StatusAsync("app.db");
        var tailerPath = cluster.Primary.Databases["app.db"].Path / "tailer-supervisor" / "tailer";
        var tailer = await Resolve(cluster.Primary.System, tailerPath);
        Assert.NotNull(tailer);

        var walPath = WalFormat.WalPath(cluster.PrimaryPath);
        using var restarter = cluster.OpenApplication();
        restarter.Execute("PRAGMA busy_timeout = 0");
        using var other = cluster.OpenApplication();
        byte[]? headerBefore = null, headerAfter = null;
        // At the start of a poll: backfill what the guard allows, then try the checkpoint that restarts the WAL. It is
        // refused until a poll has rotated the guard onto the fully backfilled WAL (a guard that reads the database file
        // only); then the commit goes into the restarted WAL, and the tailer dies before reading it.
        faults.Arm(TailerPoint.Poll, "killed with a restarted WAL behind it", () =>
        {
            var before = File.ReadAllBytes(walPath);
            if (before.Length < WalFormat.HeaderSize) return false;
            headerBefore = before[..WalFormat.HeaderSize];
            restarter.Scalar<long>("PRAGMA wal_checkpoint(PASSIVE)");
            try
            {
                if (restarter.Scalar<long>($"PRAGMA wal_checkpoint({checkpoint})") != 0) return false;
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 5) { return false; }
            if (writer == "the same connection") restarter.Execute("INSERT INTO t(v) VALUES ('after the restart')");
            else if (writer == "another connection") other.Execute("INSERT INTO t(v) VALUES ('after the restart')");
            var wal = File.ReadAllBytes(walPath);
            headerAfter = wal.Length >= WalFormat.HeaderSize ? wal[..WalFormat.HeaderSize] : [];
            return true;
        });
        await cluster.Primary.Kit.AwaitConditionAsync(async () => await Resolve(cluster.Primary.System, tailerPath) is { } next && next.Path.Uid != tailer.Path.Uid,
            TimeSpan.FromSeconds(30), TestCluster.Poll, "a new tailer incarnation");
        // The WAL did restart under the dead tailer: emptied, or a header with other salts.
        Assert.NotNull(headerBefore);
        Assert.NotNull(headerAfter);
        Assert.True(headerAfter.Length == 0 || !headerAfter.AsSpan(16, 8).SequenceEqual(headerBefore.AsSpan(16, 8)),
            "the WAL kept its salts: it did not restart");
        for (var i = 0; i < 20; i++) app.Execute("INSERT INTO t(v) VALUES (randomblob(500))");
        await cluster.WaitForReplicasAsync();

        var primaryAfter = await cluster.Primary.StatusAsync("app.db");
        var replicaAfter = await cluster.Replica(1).StatusAsync("app.db");
        Assert.Equal(primaryBefore.Generation, primaryAfter.Generation);
        Assert.Equal(primaryBefore.Txid + (writer == "no one" ? 20UL : 21UL), primaryAfter.Txid);
        Assert.Equal(primaryBefore.Generation, replicaAfter.Generation);
        Assert.Equal(replicaBefore.Counters.Resyncs, replicaAfter.Counters.Resyncs);
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    /// <summary>
    /// A resync requested just as the tailer crashes: its snapshot request dies with the tailer's mailbox (a backoff
    /// supervisor drops what arrives while its child is down). The primary fails it after its snapshot timeout, the
    /// replica hears of it and asks again, and the resync completes (it used to hang for the ask's 10 minutes).
    /// </summary>
    [Fact]
    public async Task ResyncRequestedAsTheTailerCrashesIsRetriedAndCompletes()
    {
        var faults = new TailerFaults();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { TailerEnvironment = faults } };
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        for (var i = 0; i < 50; i++) app.Execute("INSERT INTO t(v) VALUES (randomblob(1000))");
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var resyncsBefore = (await cluster.Replica(1).StatusAsync("app.db")).Counters.Resyncs;

        faults.Arm(TailerPoint.Poll, "crash under a resync");
        await cluster.Replica(1).Databases["app.db"].Ask<Litecast.Actors.ResyncStarted>(new Litecast.Actors.RequestResync("test"), TimeSpan.FromSeconds(10));
        for (var i = 0; i < 20; i++) app.Execute("INSERT INTO t(v) VALUES (randomblob(1000))");

        await cluster.Replica(1).Kit.AwaitConditionAsync(async () =>
        {
            var status = await cluster.Replica(1).StatusAsync("app.db");
            return status.Counters.Resyncs > resyncsBefore && status.State == Litecast.Actors.ReplicaStates.Following;
        }, TimeSpan.FromSeconds(90), TestCluster.Poll, "the replica's resync to complete");
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    private static async Task<IActorRef?> Resolve(ActorSystem system, ActorPath path)
    {
        try { return await system.ActorSelection(path).ResolveOne(TimeSpan.FromSeconds(2)); }
        catch (ActorNotFoundException) { return null; }
    }
}

using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Litecast.Actors;
using Litecast.Actors.Primary;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The primary's database actor on a local ActorSystem, with a TestProbe standing in for the DistributedPubSub mediator:
/// every batch and heartbeat the primary publishes reaches the probe. Its WAL tailer runs under a backoff supervisor.
/// </summary>
public class TailerSupervisorTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(output: output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A fault injected into the tailer stops it; the backoff supervisor starts a new incarnation after 100-120 ms. A sync
    /// sent in that window is refused at once, as transient (the asker retries instead of waiting out a timeout). The
    /// window is short, so the test injects faults until one sync lands in it. Afterwards the new tailer answers syncs
    /// and publishes the next commits, continuing the txids and the hash the old one left.
    /// </summary>
    [Fact]
    public async Task FailedTailerIsRestartedRequestsWhileItIsDownAreRefusedAndPublishingResumes()
    {
        var directory = Path.Combine(Path.GetTempPath(), "litecast-tailer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var primary = Path.Combine(directory, "app.db");
        NativeSqlite.EnsureLoaded();
        using var app = new SqliteConnection($"Data Source={primary};Pooling=False");
        try
        {
            app.Open();
            app.Execute("PRAGMA journal_mode = WAL");
            app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
            var mediator = CreateTestProbe("mediator");
            var faults = new TailerFaults();
            var settings = new DatabaseSettings { Name = "app.db", Path = primary, NodeId = "test-primary", TailerEnvironment = faults };
            var database = Sys.ActorOf(DatabaseActor.Props(settings, mediator.Ref), "db-app");
            var tailerPath = database.Path / "tailer-supervisor" / "tailer";

            var started = await SyncAsync(database);
            app.Execute("INSERT INTO t(v) VALUES ('before the fault')");
            var published = await NextBatchAsync(mediator, settings.Topic, started.Txid + 1);

            DatabaseRequestRefused? refused = null;
            for (var attempt = 1; refused is null; attempt++)
            {
                Assert.True(attempt <= 20, "no sync reached the supervisor while its tailer was down in 20 faults");
                var tailer = await Sys.ActorSelection(tailerPath).ResolveOne(Timeout);
                Watch(tailer);
                faults.Arm(TailerPoint.Poll, $"test fault {attempt}");
                await ExpectTerminatedAsync(tailer, Timeout);
                try
                {
                    var answer = await database.Ask<object>(SyncWal.Instance, TimeSpan.FromSeconds(5));
                    refused = answer as DatabaseRequestRefused;
                    Output?.WriteLine($"fault {attempt}: answered {answer}");
                }
                catch (AskTimeoutException)
                {
                    // Forwarded to the stopping tailer before its supervisor heard it stopped: lost with its mailbox.
                    Output?.WriteLine($"fault {attempt}: the sync was lost with the stopped tailer");
                }
                await AwaitAssertAsync(async () =>
                {
                    var next = await Sys.ActorSelection(tailerPath).ResolveOne(TimeSpan.FromSeconds(2));
                    Assert.NotEqual(tailer.Path.Uid, next.Path.Uid);
                }, Timeout, TestCluster.Poll);
            }
            Assert.True(refused.Transient, refused.Reason);
            Assert.Contains("restarting", refused.Reason);

            // The restarted tailer: syncs are answered where the old one stopped, and the next commits are published
            // from there, their hash chained to the last batch before the faults.
            var resumed = await SyncAsync(database);
            Assert.Equal((published.Generation, published.LastTxid), (resumed.Generation, resumed.Txid));
            app.Execute("INSERT INTO t(v) VALUES ('after the fault')");
            var after = await NextBatchAsync(mediator, settings.Topic, resumed.Txid + 1);
            Assert.Equal(published.Generation, after.Generation);
            Assert.Equal(published.PostHash, after.PreHash);
            // The batch's post-hash is the primary file's hash, read back from SQLite.
            using (var read = SqliteConnections.OpenReadOnly(primary))
            {
                Assert.Equal(2, read.Scalar<long>("SELECT count(*) FROM t"));
                Assert.Equal(DatabaseHash.Compute(read).Value, after.PostHash);
            }

            Watch(database);
            Sys.Stop(database);
            await ExpectTerminatedAsync(database, Timeout);
        }
        finally
        {
            app.Dispose();
            try { Directory.Delete(directory, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>The primary's bookmark, asked again while the primary starts (it refuses until its tailer runs).</summary>
    private async Task<WalSynced> SyncAsync(IActorRef database)
    {
        WalSynced? synced = null;
        await AwaitConditionAsync(async () =>
        {
            try { synced = await database.Ask<object>(SyncWal.Instance, TimeSpan.FromSeconds(5)) as WalSynced; }
            catch (Exception) { synced = null; }   // caught by a tailer failure, or lost with its mailbox
            return synced is not null;
        }, Timeout, TestCluster.Poll, "the primary to answer a sync");
        return synced!;
    }

    /// <summary>The next batch published on the database's topic (past the heartbeats); it must start at
    /// <paramref name="firstTxid"/> and be whole.</summary>
    private async Task<PageBatch> NextBatchAsync(Akka.TestKit.TestProbe mediator, string topic, ulong firstTxid)
    {
        var publish = await mediator.FishForMessageAsync<Publish>(p => p.Message is PageBatch, Timeout, $"the batch of txid {firstTxid}");
        Assert.Equal(topic, publish.Topic);
        var batch = (PageBatch)publish.Message;
        Assert.Equal((firstTxid, 0, 1), (batch.FirstTxid, batch.Part, batch.PartCount));
        return batch;
    }
}

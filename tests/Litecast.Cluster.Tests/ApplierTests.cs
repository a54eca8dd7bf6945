using Akka.Actor;
using Litecast.Actors.Replica;
using Litecast.Storage;
using Litecast.Messages;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The replica's applier alone, on a local ActorSystem: its parent is the test (ChildActorOf), so what it reports to its
/// database actor (Ready, Applied, Rejected) arrives at the test. The batches are real commits of a primary file, and
/// every outcome is read back from the replica file with SQLite.
/// </summary>
public class ApplierTests(ITestOutputHelper output) : ApplierTestKit(output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private const string Rows = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); " +
                                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, 'row ' || i FROM n";

    private IActorRef StartApplier(ApplierFiles files)
    {
        var applier = ChildActorOf(Applier.Props(files.Settings));
        var ready = ExpectMsg<Applier.Ready>(Timeout);
        Assert.Equal(ApplierFiles.StartTxid, ready.Position?.Txid);
        return applier;
    }

    /// <summary>
    /// The scrub, on the applier alone: the startup check counts as one; it finds the file sound after batches, then counts a file SQLite can no longer
    /// read as a database (its header overwritten in place, no commit through SQLite) as damage to resync.
    /// </summary>
    [Fact]
    public void AScrubFindsTheFileSoundThenCountsAnUnreadableFileAsDamage()
    {
        using var files = new ApplierFiles(Rows);
        var batch = files.Commit("UPDATE t SET v = 'changed ' || id WHERE id % 2 = 0");
        var applier = ChildActorOf(Applier.Props(files.Settings with { ScrubInterval = TimeSpan.FromSeconds(1) }));
        Assert.Equal(ApplierFiles.StartTxid, ExpectMsg<Applier.Ready>(Timeout).Position?.Txid);
        // The startup check hashed the whole file against the saved position: it counts as the first scrub.
        var startup = ExpectMsg<Applier.Scrubbed>(Timeout);
        Assert.Equal((ApplierFiles.StartTxid, true), (startup.Scrub.Txid, startup.Scrub.Sound));
        applier.Tell(new Applier.Apply(batch));
        Assert.Equal(batch.LastTxid, ExpectMsg<Applier.Applied>(Timeout).LastTxid);

        var sound = FishForMessage<Applier.Scrubbed>(s => s.Scrub.Txid == batch.LastTxid, Timeout);
        Assert.True(sound.Scrub.Sound);
        Assert.Null(sound.Damage);
        Assert.Equal((uint)Pages.Read(files.ReplicaPath).Count, sound.Scrub.Pages);

        RawFileEdit.RewriteInPlace(files.ReplicaPath, "SQLite format 3", "XQLite format 3");
        var damaged = FishForMessage<Applier.Scrubbed>(s => !s.Scrub.Sound, Timeout);
        Assert.Contains("the scrub could not read", damaged.Damage);
        Assert.Equal(batch.LastTxid, damaged.Scrub.Txid);
        Stop(applier);
    }

    /// <summary>A file changed while Litecast was down fails the startup check: a scrub too, an unsound one (the status
    /// showed no scrub at all, found by a black-box review); the resync is asked for by the Ready, not again.</summary>
    [Fact]
    public void AStartupCheckThatFindsTheFileChangedCountsAsAnUnsoundScrub()
    {
        using var files = new ApplierFiles(Rows);
        files.WriteReplicaLocally("UPDATE t SET v = 'changed while Litecast was down' WHERE id = 1");
        var applier = ChildActorOf(Applier.Props(files.Settings with { ScrubInterval = TimeSpan.FromHours(1) }));

        var ready = ExpectMsg<Applier.Ready>(Timeout);
        Assert.Null(ready.Position);
        Assert.Contains("differs from the saved position's", ready.Problem);
        var check = ExpectMsg<Applier.Scrubbed>(Timeout);
        Assert.Equal((ApplierFiles.StartTxid, false, (uint)Pages.Read(files.ReplicaPath).Count), (check.Scrub.Txid, check.Scrub.Sound, check.Scrub.Pages));
        Assert.Null(check.Damage);
        Stop(applier);
    }

    /// <summary>
    /// A commit to the replica through SQLite by another connection is reported once as a local write, never as damage
    /// behind SQLite's back: the file no longer hashes as the applied pages say, but the cause is known, and the scrubs
    /// that come due while it is unresolved (nobody resynced it here) stay silent instead of blaming the disk.
    /// </summary>
    [Fact]
    public void ALocalWriteIsReportedAsSuchAndScrubsDueWhileItIsUnresolvedReportNoDamage()
    {
        using var files = new ApplierFiles(Rows);
        var scrubInterval = TimeSpan.FromSeconds(1);
        var applier = ChildActorOf(Applier.Props(files.Settings with { ScrubInterval = scrubInterval }));
        ExpectMsg<Applier.Ready>(Timeout);
        Assert.True(ExpectMsg<Applier.Scrubbed>(Timeout).Scrub.Sound);

        files.WriteReplicaLocally("UPDATE t SET v = 'local' WHERE id = 1");

        // The next check (a scrub or the periodic one) notices the commit first and reports it as what it is; then three
        // more scrubs come due. Only a scrub that read its snapshot before the commit may still end, and sound.
        var reports = ReceiveWhile(scrubInterval * 4, m => m, msgs: int.MaxValue);
        var localWrite = Assert.Single(reports.OfType<Applier.LocalWriteDetected>());
        Assert.Contains("was written by another connection", localWrite.Detail);
        var scrubs = reports.OfType<Applier.Scrubbed>().ToList();
        Assert.All(scrubs, s => Assert.True(s.Scrub.Sound, $"reported as damage: {s.Damage}"));
        Assert.True(scrubs.Count <= 1, $"{scrubs.Count} scrubs ran while the local write was unresolved");
        Assert.Equal(reports.Count, scrubs.Count + 1);
        using var read = SqliteConnections.OpenReadOnly(files.ReplicaPath);
        Assert.Equal("local", read.Scalar<string>("SELECT v FROM t WHERE id = 1"));
        Stop(applier);
    }

    private void Stop(IActorRef applier)
    {
        Watch(applier);
        Sys.Stop(applier);
        ExpectTerminated(applier, Timeout);
    }

    /// <summary>
    /// A batch in three parts: a part that does not continue the open batch (part 1 first, or part 2 after part 0) is
    /// rejected as out of sequence, without a resync (the database actor catches up instead), and the part already
    /// written is rolled back; the same parts in order then apply as one transaction.
    /// </summary>
    [Fact]
    public void PartsOutOfOrderAreRejectedWithoutAResyncAndNothingIsWrittenUntilTheyComeInOrder()
    {
        using var files = new ApplierFiles(Rows);
        var batch = files.Commit("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) " +
                                 "INSERT INTO t(v) SELECT hex(randomblob(500)) FROM n");
        var parts = ApplierFiles.Split(batch, 3);
        var applier = StartApplier(files);
        var before = Pages.Read(files.ReplicaPath);

        applier.Tell(new Applier.Apply(parts[1]));
        var rejected = ExpectMsg<Applier.Rejected>(Timeout);
        Assert.False(rejected.NeedsResync, rejected.Reason);
        Assert.Contains("part 1 of batch 101..101 arrived out of sequence", rejected.Reason);

        applier.Tell(new Applier.Apply(parts[0]));
        applier.Tell(new Applier.Apply(parts[2]));
        rejected = ExpectMsg<Applier.Rejected>(Timeout);
        Assert.False(rejected.NeedsResync, rejected.Reason);
        Assert.Contains("part 2 of batch 101..101 arrived out of sequence", rejected.Reason);
        AssertPages(before, files.ReplicaPath);
        Assert.Equal(200, ApplierFiles.Count(files.ReplicaPath));

        foreach (var part in parts) applier.Tell(new Applier.Apply(part));
        var applied = ExpectMsg<Applier.Applied>(Timeout);
        Assert.Equal((101UL, 101UL, batch.PostHash), (applied.FirstTxid, applied.LastTxid, applied.Hash));
        Stop(applier);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        Assert.Equal(300, ApplierFiles.Count(files.ReplicaPath));
        Assert.Equal(101UL, PositionFile.Read<ReplicaPosition>(files.PositionPath)!.Txid);
    }

    /// <summary>
    /// A true batch of the primary, but not the next one: its pre-hash is the primary's state after txid 101 while the
    /// replica is at 100. It is rejected unwritten and asks for a resync; txids 101 and 102 in order then apply.
    /// </summary>
    [Fact]
    public void BatchWhosePreHashIsNotTheReplicasStateIsRejectedUnwrittenAndAsksForAResync()
    {
        using var files = new ApplierFiles(Rows);
        var first = files.Commit("UPDATE t SET v = 'changed by txid 101' WHERE id % 10 = 0");
        var second = files.Commit("INSERT INTO t(v) VALUES ('inserted by txid 102')");
        Assert.NotEqual(first.PreHash, second.PreHash);
        var applier = StartApplier(files);
        var before = Pages.Read(files.ReplicaPath);

        applier.Tell(new Applier.Apply(second));
        var rejected = ExpectMsg<Applier.Rejected>(Timeout);
        Assert.True(rejected.NeedsResync, rejected.Reason);
        Assert.Contains("matches neither side of batch 102..102", rejected.Reason);
        AssertPages(before, files.ReplicaPath);
        Assert.Equal(ApplierFiles.StartTxid, PositionFile.Read<ReplicaPosition>(files.PositionPath)!.Txid);

        applier.Tell(new Applier.Apply(first));
        Assert.Equal(101UL, ExpectMsg<Applier.Applied>(Timeout).LastTxid);
        applier.Tell(new Applier.Apply(second));
        Assert.Equal(102UL, ExpectMsg<Applier.Applied>(Timeout).LastTxid);
        Stop(applier);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        using var read = SqliteConnections.OpenReadOnly(files.ReplicaPath);
        Assert.Equal(20, read.Scalar<long>("SELECT count(*) FROM t WHERE v = 'changed by txid 101'"));
        Assert.Equal(201, read.Scalar<long>("SELECT max(id) FROM t WHERE v = 'inserted by txid 102'"));
    }

    /// <summary>
    /// Five small consecutive batches merged as the replica merges held batches (BatchMerger): applied as ONE batch,
    /// reported as one Applied covering txids 101..105, and the file has every row of the five commits.
    /// </summary>
    [Fact]
    public void MergedRunOfSmallBatchesAppliesAsOneAndCoversTheWholeRange()
    {
        using var files = new ApplierFiles(Rows);
        var run = Enumerable.Range(1, 5)
            .Select(i => files.Commit($"INSERT INTO t(v) VALUES ('merged {i}'); UPDATE t SET v = 'touched by {i}' WHERE id = {i * 30}"))
            .ToList();
        var pageCountBefore = (uint)Pages.Read(files.ReplicaPath).Count;
        for (var i = 1; i < run.Count; i++)
        {
            Assert.True(BatchMerger.CanFollow(run[i - 1], run[i], pageCountBefore), $"batch {run[i].FirstTxid} cannot follow {run[i - 1].FirstTxid}");
            pageCountBefore = run[i - 1].PageCount;
        }
        var merged = BatchMerger.Merge(run);
        Assert.Equal((101UL, 105UL), (merged.FirstTxid, merged.LastTxid));
        // The five commits rewrite the same leaf page: it travels once, in its latest image.
        Assert.True(merged.Pages.Count < run.Sum(b => b.Pages.Count), $"{merged.Pages.Count} merged pages of {run.Sum(b => b.Pages.Count)}");
        var applier = StartApplier(files);

        applier.Tell(new Applier.Apply(merged));
        var applied = ExpectMsg<Applier.Applied>(Timeout);
        Assert.Equal((ApplierFiles.Generation, 101UL, 105UL, run[^1].PostHash), (applied.Generation, applied.FirstTxid, applied.LastTxid, applied.Hash));
        // The next commit continues from 105: nothing of the run is left pending.
        applier.Tell(new Applier.Apply(files.Commit("INSERT INTO t(v) VALUES ('after the run')")));
        Assert.Equal(106UL, ExpectMsg<Applier.Applied>(Timeout).FirstTxid);
        Stop(applier);

        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        using var read = SqliteConnections.OpenReadOnly(files.ReplicaPath);
        Assert.Equal(5, read.Scalar<long>("SELECT count(*) FROM t WHERE v LIKE 'merged %'"));
        Assert.Equal(5, read.Scalar<long>("SELECT count(*) FROM t WHERE v LIKE 'touched by %'"));
        Assert.Equal(206, read.Scalar<long>("SELECT count(*) FROM t"));
        Assert.Equal(106UL, PositionFile.Read<ReplicaPosition>(files.PositionPath)!.Txid);
    }

    /// <summary>
    /// The replica's WAL is checkpointed by the maintenance tick on a connection of its own, beside the applier's: the
    /// evidence is that the applier's next write restarts the WAL (a new salt in its header), which SQLite does only
    /// once a checkpoint has copied every frame into the database file. Batches keep applying meanwhile.
    /// </summary>
    [Fact]
    public void TheReplicasWalIsCheckpointedBesideTheApplierAndRestarts()
    {
        using var files = new ApplierFiles(Rows);
        var batches = Enumerable.Range(1, 60).Select(i => files.Commit($"UPDATE t SET v = 'update {i}' WHERE id % 7 = {i % 7}")).ToList();
        var applier = StartApplier(files);
        var walPath = WalFormat.WalPath(files.ReplicaPath);
        applier.Tell(new Applier.Apply(batches[0]));
        ExpectMsg<Applier.Applied>(Timeout);
        var firstSalt = WalSalt(walPath);

        var next = 1;
        AwaitCondition(() =>
        {
            Assert.True(next < batches.Count, $"the replica's WAL did not restart within {next} batches");
            applier.Tell(new Applier.Apply(batches[next]));
            Assert.Equal(ApplierFiles.StartTxid + 1 + (ulong)next, ExpectMsg<Applier.Applied>(Timeout).LastTxid);
            next++;
            return WalSalt(walPath) != firstSalt;
        }, Timeout, TimeSpan.FromMilliseconds(200));
        Output.WriteLine($"the WAL restarted after {next} batches");
        foreach (var batch in batches.Skip(next)) applier.Tell(new Applier.Apply(batch));
        FishForMessage<Applier.Applied>(a => a.LastTxid == ApplierFiles.StartTxid + (ulong)batches.Count, Timeout);
        Stop(applier);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
    }

    /// <summary>Salt-1 of the WAL header, which SQLite changes each time it restarts the WAL. Read with a plain file API:
    /// SQLite holds no locks on the -wal file itself.</summary>
    private static uint WalSalt(string walPath)
    {
        using var wal = new FileStream(walPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var bytes = new byte[WalFormat.HeaderSize];
        wal.ReadExactly(bytes);
        Assert.True(WalHeader.TryParse(bytes, out var header, out var error), $"{walPath}: {error}");
        return header.Salt1;
    }

    private static void AssertPages(List<byte[]> expected, string path)
    {
        var actual = Pages.Read(path);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"page {i + 1} of the replica was changed by a rejected batch");
    }
}

using System.Diagnostics;
using Akka.Actor;
using Litecast.Actors.Replica;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The replica side of a resync, on the applier alone: the test plays the primary (offers the real primary file's page
/// hashes in small ranges, several ahead of the demands, and answers each demand with the pages), and reads every
/// outcome back from the replica file with SQLite.
/// </summary>
public class ApplierResyncTests(ITestOutputHelper output) : ApplierTestKit(output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Small ranges, so a test database of a few dozen pages takes several, with offers ahead of demands.</summary>
    private const int RangePages = 8;

    private const string Rows = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); " +
                                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) INSERT INTO t SELECT i, hex(randomblob(100)) FROM n";

    /// <summary>The primary's side of a session over the primary file as it is now: offers up to
    /// <see cref="Applier.ResyncRangesInFlight"/> ranges ahead, serves each demand (checked to come in order; an empty
    /// demand gets an empty message, which the protocol allows), and offers the next range after it.</summary>
    private sealed class PrimarySide
    {
        private readonly List<byte[]> _pages;
        private readonly DatabaseHash _hash;
        private readonly Guid _session;
        private uint _nextOffer = 1;

        public PrimarySide(string primaryPath, Guid session)
        {
            _pages = Pages.ReadRaw(primaryPath);
            using (var connection = SqliteConnections.OpenReadOnly(primaryPath)) _hash = DatabaseHash.Compute(connection);
            _session = session;
        }

        public Guid Session => _session;
        public uint PageCount => (uint)_pages.Count;
        public ulong Hash => _hash.Value;
        public int PagesSent { get; private set; }

        /// <summary>The next range's offer, or null when every range was offered.</summary>
        public ResyncOffer? NextOffer()
        {
            if (_nextOffer > PageCount) return null;
            var count = (int)Math.Min(RangePages, PageCount - _nextOffer + 1);
            var offer = new ResyncOffer(_session, ApplierFiles.Generation, 500, _hash.PageSize, PageCount, _hash.Value, _nextOffer,
                _hash.PageHashes(_nextOffer, count));
            _nextOffer += (uint)count;
            return offer;
        }

        public ResyncPages Serve(ResyncDemand demand)
        {
            var pages = demand.PageNumbers.Select(p => new PageImage(p, _pages[(int)p - 1])).ToList();
            PagesSent += pages.Count;
            var last = demand.FirstPage + RangePages > PageCount;
            return new ResyncPages(_session, demand.FirstPage, pages, last);
        }
    }

    /// <summary>Tells the applier a new session begins; returns the primary's side of it.</summary>
    private static PrimarySide BeginSession(IActorRef applier, ApplierFiles files)
    {
        var session = Guid.NewGuid();
        applier.Tell(new Applier.BeginResync(session));
        return new PrimarySide(files.PrimaryPath, session);
    }

    /// <summary>Runs a session to its end, as ResyncSource does with a window; returns what the applier reported last.</summary>
    private object RunSession(IActorRef applier, PrimarySide primary, Action<ResyncDemand>? afterDemand = null)
    {
        var offered = new Queue<uint>();
        for (var i = 0; i < Applier.ResyncRangesInFlight && primary.NextOffer() is { } offer; i++)
        {
            applier.Tell(offer, TestActor);
            offered.Enqueue(offer.FirstPage);
        }
        while (true)
        {
            var message = FishForMessage(m => m is ResyncDemand or Applier.ResyncDone or Applier.ResyncAborted, Timeout);
            if (message is not ResyncDemand demand) return message;
            Assert.Equal(offered.Dequeue(), demand.FirstPage);
            afterDemand?.Invoke(demand);
            applier.Tell(primary.Serve(demand), TestActor);
            if (primary.NextOffer() is { } next)
            {
                applier.Tell(next, TestActor);
                offered.Enqueue(next.FirstPage);
            }
        }
    }

    private static void DeleteReplica(ApplierFiles files)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(files.ReplicaPath + suffix);
        File.Delete(files.PositionPath);
    }

    /// <summary>
    /// A replica file that does not exist is made from the staged file whole: the data equals the primary's, nothing
    /// went through the replica's WAL, and a WAL and wal-index left at the path by an earlier, deleted database are
    /// not taken for the new one's (its table and rows do not appear).
    /// </summary>
    [Fact]
    public void AbsentReplicaIsInstalledWholeAndAnEarlierDatabasesLeftoverWalIsNotTakenForItsOwn()
    {
        using var files = new ApplierFiles(Rows);
        files.Commit("INSERT INTO t(v) SELECT hex(randomblob(300)) FROM t");
        DeleteReplica(files);
        LeaveAnEarlierDatabasesWal(files.ReplicaPath);
        Assert.False(File.Exists(files.ReplicaPath));

        var applier = ChildActorOf(Applier.Props(files.Settings));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        var primary = BeginSession(applier, files);
        Assert.True(primary.PageCount > 3 * RangePages, $"{primary.PageCount} pages make too few ranges");

        var done = Assert.IsType<Applier.ResyncDone>(RunSession(applier, primary));

        Assert.Equal((primary.Session, primary.Hash, 500UL), (done.Session, done.Hash, done.Txid));
        Assert.Equal((int)primary.PageCount, primary.PagesSent);
        Assert.True(!File.Exists(files.ReplicaPath + "-wal") || new FileInfo(files.ReplicaPath + "-wal").Length == 0,
            "the new replica's pages went through its WAL");
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        using (var read = SqliteConnections.OpenReadOnly(files.ReplicaPath))
        {
            Assert.Equal(800, read.Scalar<long>("SELECT count(*) FROM t"));
            Assert.Equal(0, read.Scalar<long>("SELECT count(*) FROM sqlite_schema WHERE name = 'earlier'"));
            Assert.Equal("ok", read.Scalar<string>("PRAGMA integrity_check"));
        }
        Assert.Equal((500UL, primary.Hash), PositionFile.Read<ReplicaPosition>(files.PositionPath) is { } p ? (p.Txid, p.Hash) : default);
        Assert.False(File.Exists(Path.Combine(PositionFile.StateDirectory(files.ReplicaPath), "resync.pages")));

        // The applier's idea of the installed file is the file: a second session finds every page equal.
        var second = Assert.IsType<Applier.ResyncDone>(RunSession(applier, BeginSession(applier, files)));
        Assert.Equal(0, second.PagesWritten);
    }

    /// <summary>
    /// A replica file SQLite cannot read as a database (its header or its schema overwritten in place behind SQLite's
    /// back) is a problem the applier reports and a resync repairs: it made the applier fail at every start, thousands
    /// of restarts a minute with the replica shown healthy (a black-box review). The unreadable file is kept aside, not
    /// deleted: it may not be Litecast's.
    /// </summary>
    [Theory]
    [InlineData("SQLite format 3", "XQLite format 3")]
    [InlineData("CREATE TABLE t(id", "CREATE TABLX t(id")]
    public void AReplicaFileSqliteCannotReadIsReportedThenReplacedByTheResync(string from, string to)
    {
        using var files = new ApplierFiles(Rows);
        files.Commit("UPDATE t SET v = 'after the damage' WHERE id % 7 = 0");
        RawFileEdit.RewriteInPlace(files.ReplicaPath, from, to);
        var damaged = File.ReadAllBytes(files.ReplicaPath);

        var applier = ChildActorOf(Applier.Props(files.Settings));
        var ready = ExpectMsg<Applier.Ready>(Timeout);
        Assert.Null(ready.Position);
        Assert.Contains("cannot be read as a database", ready.Problem);
        var primary = BeginSession(applier, files);
        var done = Assert.IsType<Applier.ResyncDone>(RunSession(applier, primary));

        Assert.Equal((primary.Session, primary.Hash), (done.Session, done.Hash));
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        using (var read = SqliteConnections.OpenReadOnly(files.ReplicaPath))
        {
            Assert.Equal(57, read.Scalar<long>("SELECT count(*) FROM t WHERE v = 'after the damage'"));
            Assert.Equal("ok", read.Scalar<string>("PRAGMA integrity_check"));
        }
        var keptAside = Assert.Single(Directory.GetFiles(PositionFile.StateDirectory(files.ReplicaPath), "unreadable-*.db"));
        Assert.Equal(damaged, File.ReadAllBytes(keptAside));
    }

    /// <summary>The primary's admin endpoint as the applier sees it: serves byte ranges of the primary file as it is
    /// now, counting them, failing or corrupting the ranges <see cref="Tamper"/> picks.</summary>
    private sealed class FakeFetcher(string primaryPath) : ISnapshotFetcher
    {
        private byte[] _file = Read(primaryPath);
        private int _bytesServed;

        private static byte[] Read(string path) => Pages.ReadRaw(path).SelectMany(p => p).ToArray();

        /// <summary>Serves the primary file as it is now from here on (a fetch already started keeps its bytes).</summary>
        public void Reload() => Volatile.Write(ref _file, Read(primaryPath));

        /// <summary>Given the offset and the bytes about to be served: throw to fail the fetch, or change them.</summary>
        public Action<long, byte[]>? Tamper { get; init; }

        public int BytesServed => Volatile.Read(ref _bytesServed);

        public Task FetchAsync(Guid session, long offset, Memory<byte> destination, CancellationToken cancellation) => Task.Run(() =>
        {
            var data = Volatile.Read(ref _file).AsSpan((int)offset, destination.Length).ToArray();
            Tamper?.Invoke(offset, data);
            Interlocked.Add(ref _bytesServed, data.Length);
            data.CopyTo(destination);
        }, cancellation);
    }

    /// <summary>
    /// With a fetcher, every range the replica needs whole is fetched outside the cluster's messages: each demand is
    /// empty and sent only once its range is in (so the primary's window still paces the session), no page travels
    /// in a cluster message, and the installed file is the primary's.
    /// </summary>
    [Fact]
    public void AnAbsentReplicaFetchesEveryRangeOutsideTheClusterMessages()
    {
        using var files = new ApplierFiles(Rows);
        DeleteReplica(files);
        var fetcher = new FakeFetcher(files.PrimaryPath);
        var applier = ChildActorOf(Applier.Props(files.Settings with { SnapshotFetcher = fetcher }));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        var primary = BeginSession(applier, files);
        var demands = new List<ResyncDemand>();

        var done = Assert.IsType<Applier.ResyncDone>(RunSession(applier, primary, demands.Add));

        Assert.Equal(primary.Hash, done.Hash);
        Assert.Equal(0, primary.PagesSent);
        Assert.All(demands, d => Assert.Empty(d.PageNumbers));
        Assert.Equal((int)primary.PageCount * 4096, fetcher.BytesServed);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        Assert.Equal(400, ApplierFiles.Count(files.ReplicaPath));
    }

    /// <summary>
    /// A fetch that fails (an older primary without the endpoint, the network) or brings a page whose hash is not the
    /// offered one: that range and the rest of the session come through the cluster's messages, and the replica is the
    /// primary's database all the same; the bad page never reaches it.
    /// </summary>
    [Theory]
    [InlineData("fails")]
    [InlineData("corrupts a page")]
    public void AFetchThatFailsOrBringsABadPageFallsBackToTheCluster(string fault)
    {
        using var files = new ApplierFiles(Rows);
        DeleteReplica(files);
        var rangeBytes = RangePages * 4096;
        var fetcher = new FakeFetcher(files.PrimaryPath)
        {
            Tamper = (offset, data) =>
            {
                if (offset != rangeBytes) return; // the second range
                if (fault == "fails") throw new IOException("connection refused");
                data[4096 + 100] ^= 0xff;
            },
        };
        var applier = ChildActorOf(Applier.Props(files.Settings with { SnapshotFetcher = fetcher }));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        var primary = BeginSession(applier, files);

        var done = Assert.IsType<Applier.ResyncDone>(RunSession(applier, primary));

        Assert.Equal(primary.Hash, done.Hash);
        Assert.True(primary.PagesSent >= RangePages, $"{primary.PagesSent} pages came through the cluster");
        Assert.True(fetcher.BytesServed >= rangeBytes, $"{fetcher.BytesServed} bytes were fetched");
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        Assert.Equal(400, ApplierFiles.Count(files.ReplicaPath));
    }

    /// <summary>
    /// Fetches are staged off the applier's thread, so a session can be given up while some are still running. Here
    /// the first session's fetches hold the primary's pages from before an update and finish only once a second
    /// session (after the update) is staging: their pages, which match the first session's offers, must land nowhere
    /// the second session's file can see, and the replica installed at the end is the updated primary.
    /// </summary>
    [Fact]
    public void FetchesOfASessionGivenUpStageNothingIntoTheNextSession()
    {
        using var files = new ApplierFiles(Rows);
        DeleteReplica(files);
        using var release = new ManualResetEventSlim();
        var held = new CountdownEvent(Applier.ResyncRangesInFlight);
        var finished = new CountdownEvent(Applier.ResyncRangesInFlight);
        var holding = 1;
        var fetcher = new FakeFetcher(files.PrimaryPath)
        {
            Tamper = (_, _) =>
            {
                if (Volatile.Read(ref holding) == 0) return;
                held.Signal();
                release.Wait();
                finished.Signal();
            },
        };
        var applier = ChildActorOf(Applier.Props(files.Settings with { SnapshotFetcher = fetcher }));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        var first = BeginSession(applier, files);
        for (var i = 0; i < Applier.ResyncRangesInFlight; i++) applier.Tell(first.NextOffer()!, TestActor);
        Assert.True(held.Wait(Timeout), "the first session's fetches started");

        files.Commit("UPDATE t SET v = 'after the first session'");
        fetcher.Reload();
        Volatile.Write(ref holding, 0);
        var second = BeginSession(applier, files);
        var done = RunSession(applier, second, demand =>
        {
            if (demand.FirstPage != 1) return;
            release.Set();
            Assert.True(finished.Wait(Timeout), "the first session's fetches ended");
        });

        Assert.Equal(second.Hash, Assert.IsType<Applier.ResyncDone>(done).Hash);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        using var read = SqliteConnections.OpenReadOnly(files.ReplicaPath);
        Assert.Equal(400, read.Scalar<long>("SELECT count(*) FROM t WHERE v = 'after the first session'"));
        Assert.Equal("ok", read.Scalar<string>("PRAGMA integrity_check"));
    }

    /// <summary>
    /// A database at the path, deleted with its WAL and wal-index left behind (its last connection kept open while the
    /// files were copied): what an operator's "rm db" can leave.
    /// </summary>
    private static void LeaveAnEarlierDatabasesWal(string path)
    {
        var saved = new Dictionary<string, byte[]>();
        using (var earlier = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            earlier.Open();
            earlier.Execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE earlier(x); " +
                            "INSERT INTO earlier SELECT hex(randomblob(500)) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)");
            foreach (var suffix in new[] { "-wal", "-shm" }) saved[suffix] = File.ReadAllBytes(path + suffix);
        }
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(path + suffix);
        foreach (var (suffix, bytes) in saved) File.WriteAllBytes(path + suffix, bytes);
        Assert.True(new FileInfo(path + "-wal").Length > 0);
    }

    /// <summary>
    /// A file created at the path while the session was staging (an application opening the replica read-write): the
    /// staged file is not linked over it; the pages go into it through SQLite, as one transaction, and the result is
    /// the primary's database.
    /// </summary>
    [Fact]
    public void FileCreatedAtThePathDuringTheResyncIsNotReplacedButWrittenThroughSqlite()
    {
        using var files = new ApplierFiles(Rows);
        DeleteReplica(files);
        var applier = ChildActorOf(Applier.Props(files.Settings));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        var primary = BeginSession(applier, files);
        FileIdentity? created = null;

        var done = RunSession(applier, primary, demand =>
        {
            if (demand.FirstPage != 1) return;
            File.Create(files.ReplicaPath).Dispose();
            created = FileIdentity.Of(files.ReplicaPath);
        });

        Assert.IsType<Applier.ResyncDone>(done);
        Assert.Equal(created, FileIdentity.Of(files.ReplicaPath));
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        Assert.Equal(400, ApplierFiles.Count(files.ReplicaPath));
    }

    /// <summary>
    /// A local write to the replica after its pages were compared (so the page it changed is not demanded): the staged
    /// pages would not give the snapshot's hash, and the applier sees it BEFORE committing: the session aborts and the
    /// file keeps the local write, none of the resync's pages. (It used to commit, re-read the file, then complain.)
    /// </summary>
    [Fact]
    public void LocalWriteDuringADeltaResyncIsCaughtBeforeTheCommitAndNothingOfTheResyncIsApplied()
    {
        using var files = new ApplierFiles(Rows);
        files.Commit("UPDATE t SET v = 'primary' WHERE id % 50 = 0");
        var applier = ChildActorOf(Applier.Props(files.Settings));
        ExpectMsg<Applier.Ready>(Timeout);
        var primary = BeginSession(applier, files);
        List<byte[]>? afterLocalWrite = null;

        var result = RunSession(applier, primary, demand =>
        {
            if (afterLocalWrite is not null) return;
            files.WriteReplicaLocally("UPDATE t SET v = 'local' WHERE id = 1");
            afterLocalWrite = Pages.Read(files.ReplicaPath);
        });

        var aborted = Assert.IsType<Applier.ResyncAborted>(result);
        Assert.Contains("the replica was left as it was", aborted.Reason);
        var now = Pages.Read(files.ReplicaPath);
        Assert.Equal(afterLocalWrite!.Count, now.Count);
        for (var i = 0; i < now.Count; i++) Assert.True(afterLocalWrite[i].AsSpan().SequenceEqual(now[i]), $"page {i + 1} changed");
        using var read = SqliteConnections.OpenReadOnly(files.ReplicaPath);
        Assert.Equal(0, read.Scalar<long>("SELECT count(*) FROM t WHERE v = 'primary'"));
        Assert.Equal("local", read.Scalar<string>("SELECT v FROM t WHERE id = 1"));
    }

    /// <summary>Pages of a later range before the earlier range's are a broken session: aborted, the replica untouched.</summary>
    [Fact]
    public void PagesOfALaterRangeBeforeTheEarlierRangesAbortTheSession()
    {
        using var files = new ApplierFiles(Rows);
        files.Commit("UPDATE t SET v = 'primary'");
        var applier = ChildActorOf(Applier.Props(files.Settings));
        ExpectMsg<Applier.Ready>(Timeout);
        var before = Pages.Read(files.ReplicaPath);
        var primary = BeginSession(applier, files);
        applier.Tell(primary.NextOffer()!, TestActor);
        applier.Tell(primary.NextOffer()!, TestActor);
        ExpectMsg<ResyncDemand>(Timeout);
        var second = ExpectMsg<ResyncDemand>(Timeout);
        Assert.NotEmpty(second.PageNumbers);

        applier.Tell(primary.Serve(second), TestActor);

        var aborted = ExpectMsg<Applier.ResyncAborted>(Timeout);
        Assert.Contains($"pages for range {second.FirstPage} arrived while range 1 awaits pages", aborted.Reason);
        var now = Pages.Read(files.ReplicaPath);
        Assert.Equal(before.Count, now.Count);
        for (var i = 0; i < now.Count; i++) Assert.True(before[i].AsSpan().SequenceEqual(now[i]), $"page {i + 1} changed");
    }

    /// <summary>
    /// An applier stopped mid-session (a killed replica), then one killed between Install's link and unlink (simulated:
    /// the staging name made a second link to the installed file): the next session starts from a new staging file,
    /// never truncating the replica through the old name, and the replica ends as the primary's database.
    /// </summary>
    [Fact]
    public void ApplierStoppedMidResyncOrAfterTheLinkResyncsAgainWithoutDamagingTheReplica()
    {
        using var files = new ApplierFiles(Rows);
        DeleteReplica(files);
        var staging = Path.Combine(PositionFile.StateDirectory(files.ReplicaPath), "resync.pages");

        var applier = ChildActorOf(Applier.Props(files.Settings));
        ExpectMsg<Applier.Ready>(Timeout);
        var primary = BeginSession(applier, files);
        applier.Tell(primary.NextOffer()!, TestActor);
        applier.Tell(primary.Serve(ExpectMsg<ResyncDemand>(Timeout)), TestActor);
        AwaitCondition(() => File.Exists(staging) && new FileInfo(staging).Length > 0, Timeout);
        Stop(applier);
        Assert.False(File.Exists(files.ReplicaPath));

        applier = ChildActorOf(Applier.Props(files.Settings));
        Assert.Null(ExpectMsg<Applier.Ready>(Timeout).Position);
        Assert.IsType<Applier.ResyncDone>(RunSession(applier, BeginSession(applier, files)));
        Stop(applier);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);

        Link(files.ReplicaPath, staging);
        applier = ChildActorOf(Applier.Props(files.Settings));
        Assert.NotNull(ExpectMsg<Applier.Ready>(Timeout).Position);
        Assert.IsType<Applier.ResyncDone>(RunSession(applier, BeginSession(applier, files)));
        Stop(applier);
        Pages.AssertIdentical(files.PrimaryPath, files.ReplicaPath);
        Assert.Equal(400, ApplierFiles.Count(files.ReplicaPath));
    }

    private static void Link(string existing, string newName)
    {
        using var ln = Process.Start("ln", [existing, newName]);
        ln.WaitForExit();
        Assert.Equal(0, ln.ExitCode);
    }

    private void Stop(IActorRef applier)
    {
        Watch(applier);
        Sys.Stop(applier);
        ExpectTerminated(applier, Timeout);
    }
}

using Litecast.Actors.Replica;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>
/// A replica that falls behind applies several primary transactions as one (<see cref="BatchMerger"/>): the result
/// must be the file that applying them one by one gives, page for page.
/// </summary>
public sealed class BatchMergerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-merge-" + Guid.NewGuid().ToString("N"));
    private readonly string _source;
    private readonly SqliteConnection _app;
    private List<byte[]> _pages;
    private ulong _txid;

    public BatchMergerTests()
    {
        NativeSqlite.EnsureLoaded();
        Directory.CreateDirectory(_directory);
        _source = Path.Combine(_directory, "source.db");
        _app = SqliteConnections.OpenOrCreate(_source);
        _app.Execute("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA auto_vacuum = NONE");
        _app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        _app.Execute("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) SELECT randomblob(300) FROM n");
        _pages = ReplicationHarness.ReadPages(_source);
    }

    public void Dispose()
    {
        _app.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void MergedRunLeavesTheReplicaIdenticalToApplyingEachBatch()
    {
        var oneByOne = NewReplica("one-by-one.db");
        var merged = NewReplica("merged.db");
        var startPageCount = (uint)_pages.Count;
        var run = new List<PageBatch>
        {
            Commit("INSERT INTO t(v) VALUES (randomblob(100))"),
            Commit("UPDATE t SET v = randomblob(310) WHERE id % 7 = 0"),
            Commit("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT randomblob(3000) FROM n"), // grows the file
            Commit("DELETE FROM t WHERE id % 3 = 0"),
            Commit("INSERT INTO t(v) VALUES (randomblob(50))"),
        };
        var before = startPageCount;
        for (var i = 1; i < run.Count; i++)
        {
            Assert.True(BatchMerger.CanFollow(run[i - 1], run[i], before), $"batch {i} should follow batch {i - 1}");
            before = run[i - 1].PageCount;
        }

        foreach (var batch in run) oneByOne.Apply(batch.Pages, batch.PageCount);
        var single = BatchMerger.Merge(run);
        merged.Apply(single.Pages, single.PageCount);
        oneByOne.Dispose();
        merged.Dispose();

        Assert.Equal((run[0].FirstTxid, run[^1].LastTxid), (single.FirstTxid, single.LastTxid));
        Assert.Equal((run[0].PreHash, run[^1].PostHash, run[^1].PageCount), (single.PreHash, single.PostHash, single.PageCount));
        Assert.True(single.Pages.Count < run.Sum(b => b.Pages.Count), "a page written by several batches travels once");
        Assert.Equal(single.Pages.Select(p => p.PageNumber).Order(), single.Pages.Select(p => p.PageNumber));
        var expected = ReplicationHarness.ReadPages(_source);
        Assert.Equal(expected, ReplicationHarness.ReadPages(Path.Combine(_directory, "one-by-one.db")));
        Assert.Equal(expected, ReplicationHarness.ReadPages(Path.Combine(_directory, "merged.db")));
        using var check = SqliteConnections.OpenReadOnly(Path.Combine(_directory, "merged.db"));
        Assert.Equal("ok", check.Scalar<string>("PRAGMA integrity_check"));
        Assert.Equal(single.PostHash, DatabaseHash.Compute(check).Value);
        Assert.Equal(check.Scalar<long>("SELECT count(*) FROM t"), _app.Scalar<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public void ARunEndsAtABatchThatShrinksTheDatabase()
    {
        _app.Execute("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) SELECT randomblob(3000) FROM n");
        _pages = ReplicationHarness.ReadPages(_source);
        var grown = (uint)_pages.Count;
        var shrink = Commit("DELETE FROM t WHERE id > 150; VACUUM");
        var next = Commit("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) SELECT randomblob(3000) FROM n");
        Assert.True(shrink.PageCount < grown);
        Assert.False(BatchMerger.CanFollow(shrink, next, grown));
        // The shrinking batch may end a run, just not sit inside one.
        var previous = Commit("INSERT INTO t(v) VALUES (randomblob(10))");
        var shrinkAgain = Commit("DELETE FROM t WHERE id > 100; VACUUM");
        Assert.True(BatchMerger.CanFollow(previous, shrinkAgain, next.PageCount));
    }

    [Fact]
    public void OnlyWholeBatchesThatContinueTheSequenceAndTheHashAreMerged()
    {
        var first = Commit("INSERT INTO t(v) VALUES (randomblob(100))");
        var second = Commit("INSERT INTO t(v) VALUES (randomblob(100))");
        var before = (uint)_pages.Count;
        Assert.True(BatchMerger.CanFollow(first, second, before));
        Assert.False(BatchMerger.CanFollow(first, second with { PreHash = second.PreHash ^ 1 }, before));
        Assert.False(BatchMerger.CanFollow(first, second with { FirstTxid = second.FirstTxid + 1, LastTxid = second.LastTxid + 1 }, before));
        Assert.False(BatchMerger.CanFollow(first, second with { Generation = 2 }, before));
        Assert.False(BatchMerger.CanFollow(first, second with { PartCount = 2 }, before));
        Assert.False(BatchMerger.CanFollow(first with { PartCount = 2, Part = 1 }, second, before));
        Assert.False(BatchMerger.CanFollow(first, second, pageCountBeforeLast: 0));
        Assert.Same(first, BatchMerger.Merge([first]));
    }

    /// <summary>Commits on the source and returns the batch the primary would publish for it.</summary>
    private PageBatch Commit(string sql)
    {
        var preHash = HashOf(_pages);
        _app.Execute(sql);
        var after = ReplicationHarness.ReadPages(_source);
        var changed = new List<PageImage>();
        for (var i = 0; i < after.Count; i++)
            if (i >= _pages.Count || !after[i].AsSpan().SequenceEqual(_pages[i])) changed.Add(new PageImage((uint)i + 1, after[i]));
        _pages = after;
        _txid++;
        return new PageBatch("source", 1, _txid, _txid, 4096, (uint)after.Count, preHash, HashOf(after), 0, 1, changed);
    }

    private static ulong HashOf(List<byte[]> pages)
    {
        var hash = new DatabaseHash(4096);
        hash.Apply(Images(pages), (uint)pages.Count);
        return hash.Value;
    }

    private ReplicaPageWriter NewReplica(string name)
    {
        var applier = ReplicaPageWriter.Open(Path.Combine(_directory, name), 4096, checkpointOnCommit: false);
        applier.Apply(Images(_pages), (uint)_pages.Count);
        return applier;
    }

    private static List<PageImage> Images(List<byte[]> pages) => pages.Select((data, i) => new PageImage((uint)i + 1, data)).ToList();
}

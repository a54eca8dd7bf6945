using Litecast.Actors;
using Litecast.Storage;
using Litecast.Messages;
using Microsoft.Data.Sqlite;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Real SQLite files for an applier test without a cluster: a primary written by an application connection, and a
/// replica copied from it at txid <see cref="StartTxid"/> with a valid saved position. Each commit on the primary
/// becomes the whole batch the tailer would publish for it: the pages it changed (read back through SQLite), the
/// database's hash before and after it, and its size after it.
/// </summary>
internal sealed class ApplierFiles : IDisposable
{
    public const ulong Generation = 7;
    public const ulong StartTxid = 100;

    public readonly string Directory;
    public readonly string PrimaryPath;
    public readonly string ReplicaPath;
    private readonly SqliteConnection _app;
    private List<byte[]> _pages;
    private DatabaseHash _hash;
    private ulong _txid = StartTxid;

    /// <param name="setup">What the primary holds when the replica is copied from it.</param>
    public ApplierFiles(string setup)
    {
        Directory = Path.Combine(Path.GetTempPath(), "litecast-applier-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        PrimaryPath = Path.Combine(Directory, "primary.db");
        ReplicaPath = Path.Combine(Directory, "replica.db");
        NativeSqlite.EnsureLoaded();
        // Closing the only connection checkpoints and deletes the WAL: the file alone is then the whole database.
        using (var first = OpenApplication())
            first.Execute(setup);
        File.Copy(PrimaryPath, ReplicaPath);
        var replicaHash = Hash(ReplicaPath);
        PositionFile.Write(PositionPath, new ReplicaPosition(Generation, StartTxid, replicaHash.Value, replicaHash.PageSize, replicaHash.PageCount), durable: true);
        _app = OpenApplication();
        _pages = Pages.ReadRaw(PrimaryPath);
        _hash = Hash(PrimaryPath);
    }

    /// <summary>The replica's settings, as a replica node's database actor passes them to its applier.</summary>
    public DatabaseSettings Settings => new() { Name = "app.db", Path = ReplicaPath, NodeId = "test", Upstream = new UpstreamSettings("primary", PrimaryPath) };

    public string PositionPath => Path.Combine(PositionFile.StateDirectory(ReplicaPath), "replica.json");

    /// <summary>Commits <paramref name="sql"/> on the primary as one transaction (the next txid) and returns its batch.</summary>
    public PageBatch Commit(string sql)
    {
        _app.Execute(sql);
        var pages = Pages.ReadRaw(PrimaryPath);
        var hash = Hash(PrimaryPath);
        var changed = Enumerable.Range(0, pages.Count)
            .Where(i => i >= _pages.Count || !pages[i].AsSpan().SequenceEqual(_pages[i]))
            .Select(i => new PageImage((uint)i + 1, pages[i]))
            .ToList();
        _txid++;
        var batch = new PageBatch("app.db", Generation, _txid, _txid, hash.PageSize, hash.PageCount, _hash.Value, hash.Value, 0, 1, changed);
        (_pages, _hash) = (pages, hash);
        return batch;
    }

    /// <summary>A whole batch cut in <paramref name="count"/> parts as the tailer sends a big one: the same range and
    /// pre-hash on every part, the post-hash on the last part only.</summary>
    public static List<PageBatch> Split(PageBatch batch, int count)
    {
        var perPart = (batch.Pages.Count + count - 1) / count;
        Assert.True(batch.Pages.Count > (count - 1) * perPart, $"{batch.Pages.Count} pages cannot make {count} parts");
        return Enumerable.Range(0, count)
            .Select(part => batch with
            {
                Part = part,
                PartCount = count,
                PostHash = part == count - 1 ? batch.PostHash : 0,
                Pages = batch.Pages.Skip(part * perPart).Take(perPart).ToList(),
            })
            .ToList();
    }

    /// <summary>Commits <paramref name="sql"/> to the replica through SQLite on a connection of its own, as an
    /// application that opened the replica read-write would: a local write.</summary>
    public void WriteReplicaLocally(string sql)
    {
        using var local = new SqliteConnection($"Data Source={ReplicaPath};Pooling=False");
        local.Open();
        local.Execute(sql);
    }

    public static long Count(string path, string table = "t")
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<long>($"SELECT count(*) FROM {table}");
    }

    private SqliteConnection OpenApplication()
    {
        var connection = new SqliteConnection($"Data Source={PrimaryPath};Pooling=False");
        connection.Open();
        connection.Execute("PRAGMA journal_mode = WAL");
        return connection;
    }

    private static DatabaseHash Hash(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return DatabaseHash.Compute(connection);
    }


    public void Dispose()
    {
        _app.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}

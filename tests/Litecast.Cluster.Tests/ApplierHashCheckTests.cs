using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Replica;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Issue 11, "also untested": the applier's own pre- and post-hash checks. Every other test notices a diverged replica
/// earlier (data_version, the startup check), so deleting these checks would have passed the suite. Here the applier
/// gets batches that the database actor's sequencing accepts but whose hashes do not fit the file.
/// </summary>
public class ApplierHashCheckTests(ITestOutputHelper output) : ApplierTestKit(output)
{
    /// <summary>
    /// The real applier (its parent is the test) on a replica file with a valid saved position, and a batch made from
    /// what the primary's next commit really changed: with a wrong pre-hash it is rejected unwritten; with a wrong
    /// post-hash it is rolled back and rejected; both ask for a resync; the same pages with the right hashes then
    /// apply and the replica equals the primary page for page (so the rejections came from the hashes alone).
    /// </summary>
    [Fact]
    public void BatchWhoseHashesDoNotFitTheReplicaIsRejectedUnappliedAndAsksForAResync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "litecast-applier-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var primary = Path.Combine(directory, "primary.db");
            var replica = Path.Combine(directory, "replica.db");
            NativeSqlite.EnsureLoaded();
            using (var app = new SqliteConnection($"Data Source={primary};Pooling=False"))
            {
                app.Open();
                app.Execute("PRAGMA journal_mode = WAL");
                app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
                app.Execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, 'row ' || i FROM n");
            }
            File.Copy(primary, replica);
            var replicaHash = Hash(replica);
            PositionFile.Write(Path.Combine(PositionFile.StateDirectory(replica), "replica.json"),
                new ReplicaPosition(7, 100, replicaHash.Value, replicaHash.PageSize, replicaHash.PageCount), durable: true);

            // The primary's next commit: the pages it changed are the batch.
            using (var app = new SqliteConnection($"Data Source={primary};Pooling=False"))
            {
                app.Open();
                app.Execute("UPDATE t SET v = 'changed on the primary' WHERE id IN (1, 150)");
                app.Execute("INSERT INTO t VALUES (201, 'appended on the primary')");
            }
            var after = Pages.Read(primary);
            var replicaPages = Pages.Read(replica);
            var changed = Enumerable.Range(0, after.Count).Where(i => i >= replicaPages.Count || !after[i].AsSpan().SequenceEqual(replicaPages[i]))
                .Select(i => new PageImage((uint)i + 1, Raw(primary, (uint)i + 1))).ToList();
            Assert.NotEmpty(changed);
            var primaryHash = Hash(primary);
            PageBatch Batch(ulong pre, ulong post) =>
                new("app.db", 7, 101, 101, primaryHash.PageSize, primaryHash.PageCount, pre, post, 0, 1, changed);

            var settings = new DatabaseSettings { Name = "app.db", Path = replica, NodeId = "test", Upstream = new UpstreamSettings("primary", primary) };
            var applier = ChildActorOf(Applier.Props(settings));
            var ready = ExpectMsg<Applier.Ready>(TimeSpan.FromSeconds(30));
            Assert.Equal(100UL, ready.Position?.Txid);
            var before = Pages.Read(replica);

            // Wrong pre-hash (the replica is not where the batch starts): nothing is written.
            applier.Tell(new Applier.Apply(Batch(replicaHash.Value ^ 0x1, primaryHash.Value)));
            var rejected = ExpectMsg<Applier.Rejected>(TimeSpan.FromSeconds(30));
            Assert.True(rejected.NeedsResync, rejected.Reason);
            Assert.Contains("matches neither side", rejected.Reason);
            AssertPages(before, replica);

            // Right pre-hash, wrong post-hash (the pages do not produce the primary's state): written, rolled back.
            applier.Tell(new Applier.Apply(Batch(replicaHash.Value, primaryHash.Value ^ 0x1)));
            rejected = ExpectMsg<Applier.Rejected>(TimeSpan.FromSeconds(30));
            Assert.True(rejected.NeedsResync, rejected.Reason);
            Assert.Contains("would leave hash", rejected.Reason);
            AssertPages(before, replica);
            Assert.Equal(100UL, PositionFile.Read<ReplicaPosition>(Path.Combine(PositionFile.StateDirectory(replica), "replica.json"))!.Txid);

            // The control: the same pages with the true hashes apply (the rollback left the applier's hash right too).
            applier.Tell(new Applier.Apply(Batch(replicaHash.Value, primaryHash.Value)));
            var applied = ExpectMsg<Applier.Applied>(TimeSpan.FromSeconds(30));
            Assert.Equal(101UL, applied.LastTxid);
            Assert.Equal(primaryHash.Value, applied.Hash);
            Sys.Stop(applier);
            Pages.AssertIdentical(primary, replica);
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); }
            catch (IOException) { }
        }
    }

    private static DatabaseHash Hash(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return DatabaseHash.Compute(connection);
    }

    /// <summary>A page exactly as stored (Pages.Read normalises page 1's header; a batch carries the real bytes).</summary>
    private static byte[] Raw(string path, uint pageNumber)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT data FROM sqlite_dbpage WHERE pgno = {pageNumber}";
        return (byte[])command.ExecuteScalar()!;
    }

    private static void AssertPages(List<byte[]> expected, string path)
    {
        var actual = Pages.Read(path);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"page {i + 1} of the replica was changed by a rejected batch");
    }
}

using System.Diagnostics;
using Litecast.Host.Configuration;
using Litecast.Host.Node;
using Litecast.Host.Tests.Http;

namespace Litecast.Host.Tests.Node;

/// <summary>A replica whose <c>upstream.url</c> names a node that is not the primary of its database is told which
/// mistake it made, over real HTTP: the node's <c>GET /cluster</c> answers, and the replica's node reports the problem.</summary>
public sealed class UpstreamDiscoveryTests : FakeNodeServer
{
    /// <summary>A black-box review pointed a replica at another replica's endpoint and got "the primary at ... has no
    /// database 'b.db' (it has: ..., b.db, ...)": the list named the database it said was missing.</summary>
    [Theory]
    [InlineData("/data/other.db", "{origin} is a replica of 'other.db', not its primary: upstream.url must name the primary's admin endpoint")]
    [InlineData("/data/missing.db", "the primary at {origin} has no database '/data/missing.db' (it is the primary of: /data/app.db)")]
    public async Task AnUpstreamThatIsNotThePrimaryOfTheDatabaseIsNamedWithWhatItIs(string upstreamPath, string expected)
    {
        var directory = Path.Combine(Path.GetTempPath(), "litecast-upstream-" + Guid.NewGuid().ToString("N"));
        var config = new LitecastConfig
        {
            Dbs = [new DbConfig { Path = Path.Combine(directory, "replica.db"), Name = "replica.db", Upstream = new UpstreamConfig { Url = Server.BaseUrl, Path = upstreamPath } }],
            Cluster = new ClusterConfig { Host = "127.0.0.1", Port = 0, PortIsExplicit = true, PublicHost = "127.0.0.1" },
        };
        await using var node = LitecastNode.Start(config, _ => { });

        var watch = Stopwatch.StartNew();
        while (node.NodeProblem is null)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the node reported no problem");
            await Task.Delay(50);
        }
        Assert.Equal(expected.Replace("{origin}", Server.BaseUrl.ToString()), node.NodeProblem);
        // Nothing is written for a replica that never found its primary but the lock every node takes on its
        // databases at start (DatabaseLock, which came with the other process's refusal after this test was written).
        Assert.False(File.Exists(Path.Combine(directory, "replica.db")), "a replica that never found its primary created its database");
        Assert.Equal([Litecast.Storage.DatabaseLock.FileName],
            Directory.EnumerateFileSystemEntries(Litecast.Storage.PositionFile.StateDirectory(Path.Combine(directory, "replica.db"))).Select(Path.GetFileName));
    }
}

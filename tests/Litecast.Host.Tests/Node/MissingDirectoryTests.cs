using Litecast.Host.Configuration;
using Litecast.Host.Node;

namespace Litecast.Host.Tests.Node;

/// <summary>A primary path in a directory that does not exist (a typo, an unset <c>$VAR</c>) waited forever for a file
/// that could not come, after creating the directory for its lock (found by a black-box review). The node refuses to
/// start, naming the path and the directory, and creates nothing; a replica's missing directory is made with its file.</summary>
public sealed class MissingDirectoryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "litecast-missing-" + Guid.NewGuid().ToString("N"));

    public MissingDirectoryTests() => Directory.CreateDirectory(_root);

    [Fact]
    public void APrimaryInADirectoryThatDoesNotExistIsRefusedAndNothingIsCreated()
    {
        var directory = Path.Combine(_root, "missing", "deeper");
        var path = Path.Combine(directory, "app.db");
        var config = new LitecastConfig
        {
            Dbs = [new DbConfig { Path = path, Name = "app.db" }],
            Cluster = new ClusterConfig { Host = "127.0.0.1", Port = 0, PortIsExplicit = true, PublicHost = "127.0.0.1" },
        };

        var e = Assert.Throws<IOException>(() => LitecastNode.Start(config, _ => { }));

        Assert.Equal($"{path}: its directory {directory} does not exist; Litecast waits for the application to create the database, " +
                     "not its directory (is the path right?)", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_root));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

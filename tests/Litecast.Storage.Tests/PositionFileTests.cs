using Litecast.Storage;

namespace Litecast.Storage.Tests;

public sealed class PositionFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-position-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void WriterRewritesTheFileInPlaceAndEveryVersionReadsBack()
    {
        var path = Path.Combine(_directory, "state", "replica.json");
        using var writer = new PositionFileWriter(path);
        var wide = new ReplicaPosition(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, 65536, uint.MaxValue);
        var narrow = new ReplicaPosition(1, 2, 3, 512, 4);
        writer.Write(wide, durable: true);
        var inode = FileIdentity.Of(path);
        Assert.Equal(wide, PositionFile.Read<ReplicaPosition>(path));
        var length = new FileInfo(path).Length;

        // Shorter content is padded: no truncation, the same file, and it still parses.
        writer.Write(narrow, durable: false);
        Assert.Equal(narrow, PositionFile.Read<ReplicaPosition>(path));
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.Equal(inode, FileIdentity.Of(path));

        writer.Write(wide with { Txid = 7 }, durable: false);
        Assert.Equal(wide with { Txid = 7 }, PositionFile.Read<ReplicaPosition>(path));
        Assert.Equal(inode, FileIdentity.Of(path));
    }

    [Fact]
    public void AnUnreadableFileIsReportedWithItsPath()
    {
        var path = Path.Combine(_directory, "replica.json");
        Directory.CreateDirectory(_directory);
        File.WriteAllText(path, "{\"generation\": 1, \"txi");
        var error = Assert.Throws<InvalidDataException>(() => PositionFile.Read<ReplicaPosition>(path));
        Assert.Contains(path, error.Message);
    }
}

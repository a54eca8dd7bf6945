using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>
/// <see cref="GenerationSetup"/> on real files: a tailer that starts again continues its saved generation only when
/// the WAL and the database file prove it, and the hash it starts from is the file's own.
/// </summary>
public sealed class GenerationSetupTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-generation-" + Guid.NewGuid().ToString("N"));
    private readonly string _path;
    private readonly SqliteConnection _app;
    private readonly WalGuard _guard;

    public GenerationSetupTests()
    {
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, "app.db");
        _app = SqliteConnections.OpenOrCreate(_path);
        _app.Execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
        _app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        _app.Execute("INSERT INTO t(v) VALUES ('first')");
        _guard = new WalGuard(_path);
    }

    public void Dispose()
    {
        _guard.Dispose();
        _app.Dispose();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>One start with a fresh reader, as the tailer makes it; returns the start and where the reader stopped.</summary>
    private (GenerationStart Start, WalCursor Cursor) Start(PrimaryPosition? saved)
    {
        using var reader = new WalReader(WalFormat.WalPath(_path));
        var start = Assert.IsType<GenerationStart>(GenerationSetup.TryStart(_path, reader, _guard, saved));
        return (start, reader.Cursor);
    }

    private static PrimaryPosition Saved(GenerationStart start, WalCursor cursor, ulong txid) =>
        new(7, txid, start.Snapshot.Hash.Value, start.Snapshot.PageSize, start.Snapshot.PageCount, cursor.Salt1, cursor.Salt2,
            cursor.Offset, cursor.Checksum.S1, cursor.Checksum.S2, start.Identity!.Value.Device, start.Identity.Value.Inode);

    private ulong FileHash()
    {
        using var read = SqliteConnections.OpenReadOnly(_path);
        return DatabaseHash.Compute(read).Value;
    }

    [Fact]
    public void WithoutASavedPositionANewGenerationStartsFromTheFilesHash()
    {
        var (start, _) = Start(saved: null);
        Assert.Equal("no saved position", start.Discontinuity);
        Assert.Equal(FileHash(), start.Snapshot.Hash.Value);
        Assert.Empty(start.Resumed);
    }

    [Fact]
    public void TheSavedGenerationContinuesWithTheCommitsMadeMeanwhile()
    {
        var (first, cursor) = Start(saved: null);
        var saved = Saved(first, cursor, txid: 10);
        for (var i = 0; i < 3; i++) _app.Execute($"INSERT INTO t(v) VALUES ('while down {i}')");

        var (again, _) = Start(saved);

        Assert.Null(again.Discontinuity);
        Assert.Equal(3, again.Resumed.Count);
        Assert.Equal(FileHash(), again.Snapshot.Hash.Value);
    }

    [Fact]
    public void ADifferentHashAtTheSavedPositionStartsANewGeneration()
    {
        var (first, cursor) = Start(saved: null);
        var saved = Saved(first, cursor, txid: 10) with { Hash = first.Snapshot.Hash.Value ^ 1 };

        var (again, _) = Start(saved);

        Assert.StartsWith("the database hash", again.Discontinuity);
        Assert.Empty(again.Resumed);
    }

    [Fact]
    public void AReplacedDatabaseFileStartsANewGeneration()
    {
        var (first, cursor) = Start(saved: null);
        var saved = Saved(first, cursor, txid: 10) with { DatabaseInode = first.Identity!.Value.Inode + 1 };

        var (again, _) = Start(saved);

        Assert.Equal("the database file was replaced", again.Discontinuity);
        Assert.Equal(FileHash(), again.Snapshot.Hash.Value);
    }
}

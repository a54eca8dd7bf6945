using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>One Litecast per database: the lock in the state directory, refused while held, free once released.</summary>
public sealed class DatabaseLockTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-lock-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void ASecondLockIsRefusedNamingTheDatabaseAndTheHoldersPidAndChangesNothing()
    {
        var database = Path.Combine(_directory, "app.db");
        var lockPath = Path.Combine(PositionFile.StateDirectory(database), DatabaseLock.FileName);
        using var held = DatabaseLock.Acquire(database);
        var written = File.GetLastWriteTimeUtc(lockPath);

        // A flock belongs to an open file, so a second lock in this very process is refused as another process's is,
        // and said to be this process's own (two dbs entries naming one file through a symlinked directory, found by
        // a black-box review, were said to be run by "another litecast" with this process's pid).
        var e = Assert.Throws<IOException>(() => DatabaseLock.Acquire(database));
        Assert.Equal($"{database} is already run by this process: another dbs entry (or another node here) names the same file " +
                     $"by another path, and both lock {lockPath}", e.Message);
        var linked = Path.Combine(Path.GetTempPath(), "litecast-lock-link-" + Guid.NewGuid().ToString("N"));
        Directory.CreateSymbolicLink(linked, _directory);
        try
        {
            Assert.Contains("is already run by this process", Assert.Throws<IOException>(() => DatabaseLock.Acquire(Path.Combine(linked, "app.db"))).Message);
        }
        finally
        {
            Directory.Delete(linked);
        }
        Assert.Equal(written, File.GetLastWriteTimeUtc(lockPath));
    }

    [Fact]
    public void TheStateDirectoryIsCreatedButNotTheDatabaseAndTheLockIsFreeOnceReleased()
    {
        var database = Path.Combine(_directory, "not-yet", "app.db");
        DatabaseLock.Acquire(database).Dispose();
        Assert.True(Directory.Exists(PositionFile.StateDirectory(database)));
        Assert.False(File.Exists(database), "a primary's database is the application's to create");

        using var again = DatabaseLock.Acquire(database);
    }
}

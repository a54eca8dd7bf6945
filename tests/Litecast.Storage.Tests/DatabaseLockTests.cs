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

        // A flock belongs to an open file, so a second node in this very process is refused as another process is.
        var e = Assert.Throws<IOException>(() => DatabaseLock.Acquire(database));
        Assert.Equal($"{database} is already in use by another litecast (pid {Environment.ProcessId}), which holds {lockPath}; " +
                     "a database can be run by one litecast at a time", e.Message);
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

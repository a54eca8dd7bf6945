using System.Diagnostics;
using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>
/// A resync's snapshot is pinned at exactly the position the WAL reader stopped at, without the write lock: an
/// application that holds the write lock, or commits back to back, must neither stall nor starve it. (The first
/// version held BEGIN IMMEDIATE; under a busy writer SQLite answered BUSY, the tailer crashed and replication wedged.)
/// </summary>
public sealed class PrimarySnapshotTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-snapshot-" + Guid.NewGuid().ToString("N"));
    private readonly string _path;

    public PrimarySnapshotTests()
    {
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, "app.db");
        using var app = SqliteConnections.OpenOrCreate(_path);
        app.Execute("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        app.Execute("INSERT INTO t(v) SELECT randomblob(500) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) SELECT i FROM n)");
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void PinsWhileTheApplicationHoldsTheWriteLock()
    {
        using var app = SqliteConnections.OpenExisting(_path);
        using var guard = new WalGuard(_path);
        using var reader = new WalReader(WalFormat.WalPath(_path));
        guard.BeginRotation();
        reader.Read(visible: guard.NextVisibleEnd);
        guard.CompleteRotation();
        Assert.True(reader.IsAt(guard.CurrentVisibleEnd));
        ulong committed;
        using (var check = SqliteConnections.OpenReadOnly(_path)) committed = DatabaseHash.Compute(check).Value;

        // The application's transaction holds the write lock, with uncommitted changes, for the whole pin and copy.
        app.Execute("BEGIN IMMEDIATE");
        app.Execute("INSERT INTO t(v) SELECT randomblob(500) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n)");
        var clock = Stopwatch.StartNew();
        using var snapshot = PrimarySnapshot.TryPin(_path, guard);
        var info = Assert.IsType<PrimarySnapshot>(snapshot).CopyTo(null);
        clock.Stop();
        app.Execute("COMMIT");

        Assert.Equal(committed, info.Hash.Value);
        // SQLite's busy timeout is 10 s on Litecast's connections: a pin that waited for the lock would take that long.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"pinning waited {clock.Elapsed} for the application's write lock");
    }

    [Fact]
    public void EverySnapshotEqualsTheStreamWhereTheReaderStoppedUnderABusyWriter()
    {
        // The stream's hash starts from the database as it is now and follows every transaction the reader returns.
        var stream = StreamHashNow();
        using var guard = new WalGuard(_path);
        using var reader = new WalReader(WalFormat.WalPath(_path));
        guard.BeginRotation();
        Follow(reader, guard.NextVisibleEnd, stream);
        guard.CompleteRotation();

        using var stop = new CancellationTokenSource();
        var commits = 0;
        var writer = Task.Run(() =>
        {
            using var app = SqliteConnections.OpenExisting(_path);
            while (!stop.IsCancellationRequested)
            {
                app.Execute("BEGIN IMMEDIATE; UPDATE t SET v = randomblob(500) WHERE id = abs(random()) % 200 + 1; " +
                            "INSERT INTO t(v) VALUES (randomblob(300)); COMMIT");
                Interlocked.Increment(ref commits);
            }
        });
        try
        {
            // Rounds go on until the writer has committed between many of them (bounded, in case it cannot commit).
            var pinned = 0;
            var rounds = 0;
            var clock = Stopwatch.StartNew();
            while ((rounds < 30 || Volatile.Read(ref commits) < 300) && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                rounds++;
                guard.BeginRotation();
                Follow(reader, guard.NextVisibleEnd, stream);
                guard.CompleteRotation();
                if (!reader.IsAt(guard.CurrentVisibleEnd)) continue;
                using var snapshot = PrimarySnapshot.TryPin(_path, guard);
                if (snapshot is null) continue;
                var info = snapshot.CopyTo(null);
                Assert.Equal(stream.PageCount, info.PageCount);
                Assert.Equal(stream.Value, info.Hash.Value);
                pinned++;
            }
            // Pinning fails only when the WAL restarts in between; nothing checkpoints here, so every round pins.
            Assert.Equal(rounds, pinned);
            Assert.True(Volatile.Read(ref commits) >= 300, $"the writer committed only {commits} times in {rounds} rounds");
        }
        finally
        {
            stop.Cancel();
            writer.GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// The copy reads pages without frames in the WAL from the database file itself: after the pin and while it runs,
    /// the application keeps committing, and in odd rounds checkpointing (PASSIVE, which backfills the pinned snapshot's
    /// own frames into that file, and no further); in even rounds the snapshot's frames stay in the WAL only. The copy
    /// is exactly the pinned database, page for page, in every round.
    /// </summary>
    [Fact]
    public void TheCopyIsThePinnedDatabaseWhileTheApplicationCommitsAndCheckpoints()
    {
        using (var app = SqliteConnections.OpenExisting(_path))
            app.Execute("INSERT INTO t(v) SELECT randomblob(3000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) SELECT i FROM n); " +
                        "PRAGMA wal_checkpoint(TRUNCATE)");
        using var guard = new WalGuard(_path);
        using var reader = new WalReader(WalFormat.WalPath(_path));
        var copy = Path.Combine(_directory, "snapshot.pages");
        for (var round = 0; round < 4; round++)
        {
            // Frames the snapshot needs, not yet in the database file: rows spread over the whole table.
            using (var app = SqliteConnections.OpenExisting(_path))
                app.Execute($"UPDATE t SET v = randomblob(3000) WHERE id % 97 = {round}; UPDATE t SET v = randomblob(400) WHERE id % 89 = {round}");
            guard.BeginRotation();
            while (reader.Read(1024, guard.NextVisibleEnd).Stop == WalStop.Limit) { }
            guard.CompleteRotation();
            using var snapshot = PrimarySnapshot.TryPin(_path, guard);
            Assert.NotNull(snapshot);
            var expected = ReplicationHarness.ReadPages(_path); // nothing has committed since the pin

            using var stop = new CancellationTokenSource();
            using var ready = new ManualResetEventSlim();
            var checkpoint = round % 2 == 1;
            var writer = Task.Run(() =>
            {
                using var app = SqliteConnections.OpenExisting(_path);
                while (!stop.IsCancellationRequested)
                {
                    if (checkpoint)
                    {
                        using var command = app.CreateCommand();
                        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
                        using var result = command.ExecuteReader();
                        if (result.Read() && result.GetInt64(2) > 0) ready.Set(); // frames copied into the database file
                    }
                    app.Execute("UPDATE t SET v = randomblob(3000) WHERE id IN (SELECT abs(random()) % 8200 + 1 FROM t LIMIT 20)");
                    if (!checkpoint) ready.Set();
                }
            });
            SnapshotInfo info;
            try
            {
                Assert.True(ready.Wait(TimeSpan.FromSeconds(30)), "the application neither committed nor checkpointed");
                info = snapshot.CopyTo(copy);
            }
            finally
            {
                stop.Cancel();
                writer.GetAwaiter().GetResult();
            }

            Assert.Equal(expected.Count, (int)info.PageCount);
            var bytes = File.ReadAllBytes(copy);
            Assert.Equal((long)expected.Count * expected[0].Length, bytes.Length);
            for (var i = 0; i < expected.Count; i++)
                Assert.True(bytes.AsSpan(i * expected[i].Length, expected[i].Length).SequenceEqual(expected[i]), $"round {round}: page {i + 1} differs");
            var hash = new DatabaseHash(expected[0].Length);
            for (var i = 0; i < expected.Count; i++) hash.SetPage((uint)i + 1, expected[i]);
            Assert.Equal(hash.Value, info.Hash.Value);
        }
    }

    private DatabaseHash StreamHashNow()
    {
        using var check = SqliteConnections.OpenReadOnly(_path);
        return DatabaseHash.Compute(check);
    }

    /// <summary>Reads the committed transactions up to <paramref name="visible"/> into the stream's hash.</summary>
    private static void Follow(WalReader reader, WalVisibleEnd? visible, DatabaseHash stream)
    {
        while (true)
        {
            var result = reader.Read(64, visible);
            foreach (var transaction in result.Transactions)
                stream.Apply(reader.ReadPageParts(transaction, 1 << 20).SelectMany(part => part), transaction.PageCount);
            if (result.Stop != WalStop.Limit) return;
        }
    }
}

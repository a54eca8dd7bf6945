using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>
/// The WAL-index says which frames SQLite counts as committed; the WAL file alone cannot (a black-box review: a writer
/// killed with <c>kill -9</c> in the middle of its commit left frames with valid checksums and a commit mark, which the
/// tailer read and published, and the next writer overwrote).
/// </summary>
public sealed class WalIndexTests
{
    [Fact]
    public void TheIndexSaysWhatANewReadTransactionSees()
    {
        using var h = new ReplicationHarness();
        using var index = new WalIndex(h.PrimaryPath);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        for (var i = 0; i < 3; i++)
        {
            h.Commit($"INSERT INTO t(v) VALUES ('row {i}')");
            using var guard = new WalGuard(h.PrimaryPath);
            var seen = guard.BeginRotation();
            Assert.Equal(seen, index.ReadCommittedEnd());
            Assert.True(seen.MaxFrame > 0);
            Assert.Equal(h.Reader.Header!.Value.Salt1, seen.Salt1);
            Assert.Equal(seen.Offset(h.PageSize), h.Reader.Cursor.Offset);
        }
    }

    /// <summary>
    /// Reading the index never drops SQLite's locks: closing any descriptor of a file drops every POSIX lock the process
    /// holds on it, and the -shm file holds the read marks. Opened and closed at each read, it let the application's
    /// checkpoint pass a guard and restart the WAL under it, and a replica applied a malformed database (chaos seed 11).
    /// </summary>
    [Fact]
    public void ReadingTheIndexKeepsTheGuardsReadMarkHeld()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(v)");
        using var guard = new WalGuard(h.PrimaryPath);
        guard.BeginRotation();
        guard.CompleteRotation();
        h.App.Execute("INSERT INTO t VALUES (1)");
        using (var index = new WalIndex(h.PrimaryPath))
            for (var i = 0; i < 10; i++) Assert.NotNull(index.ReadCommittedEnd());
        // Another process's TRUNCATE checkpoint cannot restart the WAL while the guard reads at its mark: busy (1).
        Assert.StartsWith("1|", Shell(h.PrimaryPath, "PRAGMA wal_checkpoint(TRUNCATE);"));
    }

    [Fact]
    public void ACommitWrittenButNeverCountedIsNotReadAndTheNextCommitIsReadExactly()
    {
        using var h = new ReplicationHarness();
        using var index = new WalIndex(h.PrimaryPath);
        h.Commit("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        h.Commit("INSERT INTO t(v) VALUES ('counted')");
        var counted = index.ReadCommittedEnd()!.Value;
        var uncountedAt = WriteUncountedCommit(h, "INSERT INTO t(v) VALUES ('never counted')");
        Assert.Equal(counted.Offset(h.PageSize), uncountedAt);

        // Going to the end of the file, a reader takes those frames for a commit: what the tailer used to publish.
        using (var toTheEnd = new WalReader(WalFormat.WalPath(h.PrimaryPath)))
            Assert.Contains(toTheEnd.Read().Transactions, tx => tx.StartOffset == uncountedAt);

        Assert.Equal(counted, index.ReadCommittedEnd());
        Assert.Empty(h.Drain());
        Assert.Equal(WalStop.VisibleEnd, h.LastRead!.Stop);
        Assert.True(h.Reader.HasFramesAfterCursor());

        // The next writer takes the WAL from the index's end, over those frames; the replica gets that commit only.
        h.Commit("INSERT INTO t(v) VALUES ('next')");
        using var replica = SqliteConnections.OpenReadOnly(h.ReplicaPath);
        Assert.Equal("counted,next", replica.Scalar<string>("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY id)"));
        Assert.False(h.Reader.HasFramesAfterCursor());
    }

    [Fact]
    public void AHeaderThatCannotBeTrustedAsItStandsReadsAsNone()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(v)");
        using var index = new WalIndex(h.PrimaryPath);
        // The -shm file read by another process: a descriptor opened and closed here would drop SQLite's locks.
        var copies = Run("head", "-c", (2 * WalIndex.HeaderSize).ToString(), h.PrimaryPath + "-shm");
        Assert.Equal(index.ReadCommittedEnd(), WalIndex.ParseCopies(copies));
        Assert.NotNull(WalIndex.ParseCopies(copies));

        // The two copies of the header differ: a writer was caught in the middle of updating them.
        var torn = (byte[])copies.Clone();
        torn[16] ^= 1;
        Assert.Null(WalIndex.ParseCopies(torn));
        // Both copies agree but their checksum does not.
        torn[WalIndex.HeaderSize + 16] ^= 1;
        Assert.Null(WalIndex.ParseCopies(torn));
        // Not initialised (SQLite recovers it from the WAL at the next read).
        var uninitialised = (byte[])copies.Clone();
        uninitialised[12] = uninitialised[WalIndex.HeaderSize + 12] = 0;
        Assert.Null(WalIndex.ParseCopies(uninitialised));
    }

    [Fact]
    public void AViewOfAnotherWalOrOfNoFrameShowsNoneOfThisFilesFrames()
    {
        using var h = new ReplicationHarness();
        h.Commit("CREATE TABLE t(v)");
        h.Commit("INSERT INTO t VALUES (1)");
        using var index = new WalIndex(h.PrimaryPath);
        var counted = index.ReadCommittedEnd()!.Value;
        foreach (var view in new[] { WalVisibleEnd.NoFrames, counted with { Salt1 = counted.Salt1 + 1 }, counted with { MaxFrame = 0 } })
        {
            using var reader = new WalReader(WalFormat.WalPath(h.PrimaryPath));
            var result = reader.Read(visible: view);
            Assert.Empty(result.Transactions);
            Assert.Equal(WalStop.VisibleEnd, result.Stop);
            Assert.Equal(WalFormat.HeaderSize, reader.Cursor.Offset);
        }
    }

    /// <summary>
    /// Leaves the primary's WAL as a writer killed between writing its commit and updating the WAL-index does: the same
    /// transaction is committed on a copy of the database, WAL and index, and its frames are written into the primary's
    /// WAL where the copy wrote them. Returns where they start.
    /// </summary>
    private static long WriteUncountedCommit(ReplicationHarness h, string sql)
    {
        var copy = Path.Combine(h.Directory, "uncounted.db");
        var walPath = WalFormat.WalPath(h.PrimaryPath);
        // Copied by another process: descriptors of the primary's files opened and closed here would drop SQLite's locks.
        Run("cp", h.PrimaryPath, copy);
        Run("cp", walPath, WalFormat.WalPath(copy));
        Run("cp", h.PrimaryPath + "-shm", copy + "-shm");
        var start = new FileInfo(walPath).Length;
        byte[] frames;
        using (var writer = SqliteConnections.OpenExisting(copy))
        {
            writer.Execute(sql);
            // Read before the connection closes: the last connection to close checkpoints and deletes its WAL.
            var copyWal = File.ReadAllBytes(WalFormat.WalPath(copy));
            Assert.Equal(File.ReadAllBytes(walPath).AsSpan(0, (int)start).ToArray(), copyWal.AsSpan(0, (int)start).ToArray());
            frames = copyWal[(int)start..];
        }
        Assert.NotEmpty(frames);
        using var wal = new FileStream(walPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        wal.Position = start;
        wal.Write(frames);
        return start;
    }

    /// <summary>Runs a program in a process of its own; returns its output's bytes.</summary>
    private static byte[] Run(string program, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = System.Diagnostics.Process.Start(start)!;
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} failed ({process.ExitCode}): {error}");
        return output.ToArray();
    }

    /// <summary>Runs SQL in the sqlite3 shell built with Litecast's SQLite, in a process of its own; returns its output.</summary>
    private static string Shell(string path, string sql)
    {
        var start = new System.Diagnostics.ProcessStartInfo(NativeSqlite.ShellPath) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(path);
        using var process = System.Diagnostics.Process.Start(start)!;
        process.StandardInput.WriteLine(sql);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"sqlite3 failed ({process.ExitCode}): {error}");
        return output.Trim();
    }
}

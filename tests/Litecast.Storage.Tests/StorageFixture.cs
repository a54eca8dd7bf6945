using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage.Tests;

/// <summary>
/// A primary database written by an "application" connection (same native SQLite, as the rules require), a WAL reader
/// with a guard read transaction, and a replica fed through <see cref="ReplicaPageWriter"/>: the storage pipeline without
/// actors.
/// </summary>
public sealed class ReplicationHarness : IDisposable
{
    public readonly string Directory;
    public readonly string PrimaryPath;
    public readonly string ReplicaPath;
    public readonly SqliteConnection App;
    public readonly WalReader Reader;
    private SqliteConnection? _guard;
    private WalIndex? _index;
    private ReplicaPageWriter? _applier;
    private int _truncatesSinceRestart;
    public DatabaseHash? PrimaryHash { get; private set; }
    public DatabaseHash? ReplicaHash { get; private set; }
    public int TransactionsApplied { get; private set; }
    public int Restarts { get; private set; }
    /// <summary>Every WAL restart seen: the header before and after.</summary>
    public List<(WalHeader Previous, WalHeader Current)> RestartHeaders { get; } = [];
    /// <summary>The last result of <see cref="WalReader.Read"/> in <see cref="Drain"/>.</summary>
    public WalReadResult? LastRead { get; private set; }
    public int PageSize { get; }

    private readonly bool _replicaCheckpointOnCommit;

    public ReplicationHarness(int pageSize = 4096, bool autoCheckpoint = false, bool replicaCheckpointOnCommit = true)
    {
        _replicaCheckpointOnCommit = replicaCheckpointOnCommit;
        Directory = Path.Combine(Path.GetTempPath(), "litecast-test-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        PrimaryPath = Path.Combine(Directory, "primary.db");
        ReplicaPath = Path.Combine(Directory, "replica.db");
        App = SqliteConnections.OpenOrCreate(PrimaryPath);
        PageSize = pageSize;
        App.Execute($"PRAGMA page_size = {pageSize}");
        App.Execute("PRAGMA journal_mode = WAL");
        App.Execute("PRAGMA synchronous = NORMAL");
        if (!autoCheckpoint) App.Execute("PRAGMA wal_autocheckpoint = 0");
        App.Execute("CREATE TABLE IF NOT EXISTS seed(x)");
        Reader = new WalReader(WalFormat.WalPath(PrimaryPath));
        try { StartFromSnapshot(); }
        catch
        {
            Dispose(); // a failed start must not leave its temp directory behind
            throw;
        }
    }

    /// <summary>Copies the primary at a known position into the replica, as a full resync would.</summary>
    private void StartFromSnapshot()
    {
        var staging = Path.Combine(Directory, "snapshot.pages");
        SnapshotInfo info;
        using (var pinGuard = new WalGuard(PrimaryPath))
        {
            pinGuard.BeginRotation();
            Drain(apply: false);
            pinGuard.CompleteRotation();
            using var snapshot = PrimarySnapshot.TryPin(PrimaryPath, pinGuard);
            info = Assert.IsType<PrimarySnapshot>(snapshot).CopyTo(staging);
        }
        PrimaryHash = info.Hash;
        RotateGuard();
        _applier = ReplicaPageWriter.Open(ReplicaPath, info.PageSize, _replicaCheckpointOnCommit);
        var bytes = File.ReadAllBytes(staging);
        var pages = new List<PageImage>();
        for (var p = 0u; p < info.PageCount; p++)
            pages.Add(new PageImage(p + 1, bytes.AsSpan((int)(p * info.PageSize), info.PageSize).ToArray()));
        _applier.Apply(pages, info.PageCount);
        ReplicaHash = new DatabaseHash(info.PageSize);
        ReplicaHash.Apply(pages, info.PageCount);
    }

    /// <summary>Rotates the guard without a gap: the new one opens and reads before the old one closes.</summary>
    public void RotateGuard()
    {
        var next = SqliteConnections.OpenExisting(PrimaryPath);
        next.Execute("BEGIN");
        next.Scalar<long>("SELECT count(*) FROM sqlite_schema");
        Drain(apply: true);
        _guard?.Execute("ROLLBACK");
        _guard?.Dispose();
        _guard = next;
    }

    /// <summary>
    /// Runs the application's checkpoint on its own connection and thread while the guard rotates every 20 ms, as the
    /// tailer's rotation timer does; returns how long the checkpoint took.
    /// </summary>
    public TimeSpan CheckpointWhileRotating(string mode)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var checkpoint = Task.Run(() =>
        {
            using var connection = SqliteConnections.OpenExisting(PrimaryPath);
            connection.Execute($"PRAGMA wal_checkpoint({mode})");
        });
        while (!checkpoint.Wait(20)) RotateGuard();
        checkpoint.GetAwaiter().GetResult();
        if (mode.Equals("TRUNCATE", StringComparison.OrdinalIgnoreCase) && Reader.FileLength() == 0) _truncatesSinceRestart++;
        return started.Elapsed;
    }

    /// <summary>Reads every transaction the WAL-index counts as committed, as the tailer does, and applies each to the
    /// replica, checking hashes.</summary>
    public List<WalTransaction> Drain(bool apply = true)
    {
        var all = new List<WalTransaction>();
        while (true)
        {
            _index ??= new WalIndex(PrimaryPath);
            var counted = _index.ReadCommittedEnd();
            Assert.True(counted is not null, $"the WAL-index of {PrimaryPath} cannot be read");
            var result = Reader.Read(visible: counted);
            LastRead = result;
            Assert.NotEqual(WalReadOutcome.InvalidHeader, result.Outcome);
            if (result.Outcome == WalReadOutcome.Restarted)
            {
                // The guard was held throughout and everything was read: each restart of the WAL (walRestartHeader)
                // adds 1 to salt1, so it advances by exactly 1 -- plus 1 for each TRUNCATE checkpoint since, which
                // restarts an emptied WAL without a header anyone could read. Except from a writer connection whose
                // own checkpoint counter is still 0: it picks random salts each time it writes a header (sqlite3.c
                // walFrames: "if( pWal->nCkpt==0 ) sqlite3_randomness(8, pWal->hdr.aSalt)") and records that counter
                // in the header (after a TRUNCATE, and again for the next header if the first one's transaction
                // rolled back).
                var previous = result.PreviousHeader!.Value;
                var current = result.Header!.Value;
                var advance = unchecked(current.Salt1 - previous.Salt1);
                if (current.CheckpointSequence != 0)
                    Assert.True(advance >= 1 && advance <= 1 + (uint)_truncatesSinceRestart,
                        $"salt1 went from {previous.Salt1} to {current.Salt1} across {_truncatesSinceRestart} TRUNCATE checkpoint(s)");
                _truncatesSinceRestart = 0;
                RestartHeaders.Add((previous, current));
                Restarts++;
                continue;
            }
            Assert.NotEqual(WalStop.PartialFrame, result.Stop);
            foreach (var tx in result.Transactions)
            {
                all.Add(tx);
                if (!apply || _applier is null) continue;
                var pages = Reader.ReadPageParts(tx, 1 << 20).SelectMany(p => p).ToList();
                var pre = PrimaryHash!.Value;
                PrimaryHash.Apply(pages, tx.PageCount);
                Assert.Equal(pre, ReplicaHash!.Value);
                _applier.Apply(pages, tx.PageCount);
                ReplicaHash.Apply(pages, tx.PageCount);
                TransactionsApplied++;
            }
            if (result.Outcome != WalReadOutcome.Restarted) return all;
        }
    }

    /// <summary>Runs SQL on the primary as the application, then replicates and checks the replica exactly.</summary>
    public void Commit(string sql)
    {
        App.Execute(sql);
        Drain();
        RotateGuard();
        AssertReplicaEqualsPrimary();
    }

    /// <summary>Runs SQL on the primary from another process (the sqlite3 shell built with Litecast's SQLite), then
    /// replicates and checks the replica exactly.</summary>
    public void CommitViaShell(string sql)
    {
        var start = new System.Diagnostics.ProcessStartInfo(NativeSqlite.ShellPath)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add("-bail");
        start.ArgumentList.Add(PrimaryPath);
        using var process = System.Diagnostics.Process.Start(start)!;
        process.StandardInput.WriteLine(".timeout 10000");
        process.StandardInput.WriteLine(sql + ";");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"sqlite3 shell failed ({process.ExitCode}): {stderr} {stdout.Result}");
        Drain();
        RotateGuard();
        AssertReplicaEqualsPrimary();
    }

    /// <summary>Checkpoints the replica's WAL through the applier.</summary>
    public (int LogFrames, int CheckpointedFrames) CheckpointReplica(bool truncate) => _applier!.Checkpoint(truncate);

    public void AssertReplicaEqualsPrimary()
    {
        var primary = ReadPages(PrimaryPath);
        var replica = ReadPages(ReplicaPath);
        Assert.Equal(primary.Count, replica.Count);
        for (var i = 0; i < primary.Count; i++)
        {
            var a = Normalise(i + 1, primary[i]);
            var b = Normalise(i + 1, replica[i]);
            Assert.True(a.AsSpan().SequenceEqual(b), $"page {i + 1} differs between primary and replica");
        }
        using var check = SqliteConnections.OpenReadOnly(ReplicaPath);
        Assert.Equal("ok", check.Scalar<string>("PRAGMA integrity_check"));
        using var primaryConnection = SqliteConnections.OpenReadOnly(PrimaryPath);
        Assert.Equal(DatabaseHash.Compute(primaryConnection).Value, DatabaseHash.Compute(check).Value);
        Assert.Equal(PrimaryHash!.Value, ReplicaHash!.Value);
        Assert.Equal(DatabaseHash.Compute(check).Value, ReplicaHash.Value);
    }

    public static List<byte[]> ReadPages(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT pgno, data FROM sqlite_dbpage ORDER BY pgno";
        using var reader = command.ExecuteReader();
        var pages = new List<byte[]>();
        while (reader.Read()) pages.Add((byte[])reader.GetValue(1));
        return pages;
    }

    private static byte[] Normalise(int pageNumber, byte[] page)
    {
        if (pageNumber != 1) return page;
        var copy = (byte[])page.Clone();
        copy.AsSpan(24, 4).Clear();
        copy.AsSpan(92, 8).Clear();
        return copy;
    }

    public void Dispose()
    {
        _guard?.Dispose();
        _applier?.Dispose();
        _index?.Dispose();
        Reader.Dispose();
        App.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

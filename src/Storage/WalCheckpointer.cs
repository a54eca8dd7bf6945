using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Litecast.Storage;

/// <summary>
/// Keeps the primary's WAL bounded without ever checkpointing past what the tailer has read. Past the threshold of
/// frames already read: a PASSIVE checkpoint (it backfills only up to the guard, which is at everything read, and never
/// blocks the application). When it backfilled everything, the rotated guard reads the database file only, so the
/// application's next commit restarts the WAL from its start. Under a sustained write load the application has always
/// committed past the guard, so that never happens: the checkpointer then reads to the end and backfills without the
/// write lock, and holds the lock only for a moment while the tailer reads what was committed since, backfills it and
/// rotates. Never RESTART. Bound: the threshold's frames, plus what the application appends before the tailer's next
/// attempt (the tailer checks <see cref="PastThreshold"/> as it reads, not only on its poll timer, and tries at most
/// once per <see cref="WriteLockWait"/>), or while a resync snapshot is copied (its pinned read holds every checkpoint
/// back, so the tailer tries none until the copy ends).
/// The write lock is taken at the threshold, not at a multiple of it: past the application's own autocheckpoint
/// threshold (SQLite's default is 1,000 frames, Litecast's too) every commit of the application tries a checkpoint,
/// blocked by the guard (about 7 lock calls, one failing, per commit, counted with strace). A/B at 1,000 tx/s
/// (`probe --rate 1000`, four rounds alternating): the application's commit p99 352-799 us with the lock at 4× the
/// threshold, 370-520 us at the threshold; the pinned-core rate and the lag unchanged.
/// The WAL restarts in place there, reusing its file as SQLite itself does; the file's space is given back only once
/// the application pauses (<see cref="Reclaim"/>): truncating at every reset made a busy writer regrow the file ten
/// times a second and cost it about 13% of its rate (pinned-core benchmark, A/B).
/// </summary>
public sealed class WalCheckpointer(string databasePath, int thresholdPages) : IDisposable
{
    /// <summary>How long the write lock is waited for before giving up until the next poll.</summary>
    public static readonly TimeSpan WriteLockWait = TimeSpan.FromMilliseconds(100);

    /// <summary>How long it is waited for once the WAL is past 4 × the threshold: an application that holds the write
    /// lock for most of the time (long write transactions back to back) frees it only for microseconds between a
    /// commit and its next BEGIN, and a wait shorter than its transactions rarely covered one (a black-box review saw
    /// the WAL reach 4.5 GB for a 65 MB database). The wait spins: it costs a core for up to this long, only then.</summary>
    public static readonly TimeSpan PastBoundWriteLockWait = TimeSpan.FromSeconds(1);

    private SqliteConnection? _checkpointer;
    private SqliteConnection? _writeLocker;
    private sqlite3_stmt? _beginImmediate;
    private long _lastOffset;

    /// <summary>Checkpoints run (PASSIVE and TRUNCATE that completed or were busy).</summary>
    public long Checkpoints { get; private set; }

    /// <summary>True when the reader's position <paramref name="cursor"/> is past the threshold, where <see cref="Run"/>
    /// resets the WAL.</summary>
    public bool PastThreshold(WalCursor cursor, int pageSize) => Frames(cursor, pageSize) >= thresholdPages;

    private static long Frames(WalCursor cursor, int pageSize) =>
        (cursor.Offset - WalFormat.HeaderSize) / (WalFormat.FrameHeaderSize + pageSize);

    /// <summary>
    /// Checkpoints when the reader's position <paramref name="cursor"/> in a WAL with <paramref name="pageSize"/> pages
    /// is past the threshold. <paramref name="readToGuard"/> rotates the tailer's guard and reads (and publishes) up to
    /// it: called after a checkpoint backfilled everything, before the write lock is taken, and under it.
    /// </summary>
    public void Run(WalCursor cursor, int pageSize, Action readToGuard)
    {
        if (!PastThreshold(cursor, pageSize) || cursor.Offset == _lastOffset) return;
        var readSince = cursor.Offset > _lastOffset ? (cursor.Offset - _lastOffset) / (WalFormat.FrameHeaderSize + pageSize) : 0;
        _lastOffset = cursor.Offset;
        // Past the bound the backfill is left to the application (below), unless what was read since the last turn is a
        // transaction too big for that: backfilled under the write lock, it would hold the application's next commit.
        var pastBound = Frames(cursor, pageSize) >= 4L * thresholdPages && readSince < 4L * thresholdPages;
        if (!pastBound && Passive())
        {
            readToGuard();
            return;
        }
        // Read to the end and backfill first, without the lock: under the lock there is then only what the application
        // committed since, so its commits wait for a few frames' backfill instead of up to a poll interval's.
        // A backfill that completes here does not end the lock's turn: a commit between it and the rotation keeps the
        // WAL from restarting, and under a writer that commits back to back one always comes (BoundedWalTests).
        // Past the bound the backfill is left to the application's own checkpoint at its next commit (SQLite's
        // autocheckpoint, on by default): it then copies and syncs a transaction's pages between its COMMIT and its
        // next BEGIN, and that wider moment is when the spin below takes the lock.
        readToGuard();
        if (!pastBound) Passive();
        WriteLocked(pastBound ? PastBoundWriteLockWait : WriteLockWait, () =>
        {
            readToGuard();
            if (Passive()) readToGuard();
        });
    }

    /// <summary>
    /// Gives the WAL file's space back once the application paused, when the file is larger than the threshold's frames:
    /// backfills everything read, rotates the guard onto the database file alone and truncates the WAL, all without
    /// waiting. A commit the tailer has not read stops it (the PASSIVE checkpoint stops at the guard, and a TRUNCATE
    /// returns busy while a reader uses the WAL), and the next pause tries again.
    /// </summary>
    /// <param name="walBytes">The WAL file's length.</param>
    /// <param name="pageSize">The WAL's page size.</param>
    /// <param name="readToGuard">As for <see cref="Run"/>.</param>
    public void Reclaim(long walBytes, int pageSize, Action readToGuard)
    {
        if (walBytes <= WalFormat.HeaderSize + (long)thresholdPages * (WalFormat.FrameHeaderSize + pageSize)) return;
        if (!Passive()) return;
        readToGuard();
        var rc = raw.sqlite3_wal_checkpoint_v2(_checkpointer!.Handle, "main", raw.SQLITE_CHECKPOINT_TRUNCATE, out _, out _);
        if (rc == raw.SQLITE_OK) Checkpoints++;
    }

    /// <summary>A PASSIVE checkpoint without waiting; true when it backfilled every frame of the WAL.</summary>
    private bool Passive()
    {
        // A connection whose pager has no WAL open (it never read the database, or not since the WAL was reset) does
        // nothing on a checkpoint and reports -1 frames (sqlite3PagerCheckpoint). A read first opens the WAL.
        var connection = _checkpointer ??= OpenWithoutBusyWait();
        connection.ReadSchema();
        var rc = raw.sqlite3_wal_checkpoint_v2(connection.Handle, "main", raw.SQLITE_CHECKPOINT_PASSIVE, out var log, out var done);
        if (rc != raw.SQLITE_OK && rc != raw.SQLITE_BUSY) throw new SqliteException($"{databasePath}: PASSIVE checkpoint failed: {raw.sqlite3_errstr(rc).utf8_to_string()}", rc);
        Checkpoints++;
        return rc == raw.SQLITE_OK && log == done;
    }

    private sqlite3_stmt Prepare(SqliteConnection connection, string sql)
    {
        var rc = raw.sqlite3_prepare_v2(connection.Handle, sql, out var statement);
        if (rc != raw.SQLITE_OK) throw new SqliteException($"{databasePath}: preparing {sql} failed: {raw.sqlite3_errmsg(connection.Handle).utf8_to_string()}", rc);
        return statement;
    }

    /// <summary>A connection of the checkpointer's own; SQLite's busy handler never waits on it.</summary>
    private SqliteConnection OpenWithoutBusyWait()
    {
        var connection = SqliteConnections.OpenExisting(databasePath);
        raw.sqlite3_busy_timeout(connection.Handle, 0);
        return connection;
    }

    /// <summary>Runs <paramref name="action"/> holding the write lock (BEGIN IMMEDIATE on a connection of its own,
    /// waiting at most <paramref name="wait"/> for the application's writer); nothing when the lock was not free.</summary>
    private void WriteLocked(TimeSpan wait, Action action)
    {
        _writeLocker ??= OpenWithoutBusyWait();
        _beginImmediate ??= Prepare(_writeLocker, "BEGIN IMMEDIATE");
        // Not through SqliteCommand (it retries SQLITE_BUSY itself in 150 ms sleeps for the whole command timeout) nor
        // SQLite's busy handler (its sleeps of several ms almost never catch the moment between two commits of an
        // application writing in a loop): retry at once, with a statement prepared once so that each try is only the
        // lock attempts, for at most the wait.
        var deadline = Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency);
        int rc;
        while ((rc = raw.sqlite3_step(_beginImmediate)) == raw.SQLITE_BUSY && Stopwatch.GetTimestamp() < deadline)
            raw.sqlite3_reset(_beginImmediate);
        raw.sqlite3_reset(_beginImmediate);
        if (rc == raw.SQLITE_BUSY) return;
        if (rc != raw.SQLITE_DONE) throw new SqliteException($"{databasePath}: BEGIN IMMEDIATE failed", rc);
        try
        {
            action();
        }
        finally
        {
            _writeLocker.Execute("ROLLBACK");
        }
    }

    /// <summary>Closes the checkpointer's connections: the next checkpoint opens them on the file at the path then. A
    /// database file replaced at the path is otherwise checkpointed through connections to the old, deleted one, and
    /// its WAL grows without bound (1.6 GB in a black-box review).</summary>
    public void CloseConnections()
    {
        _beginImmediate?.Dispose();
        _beginImmediate = null;
        _checkpointer?.Dispose();
        _checkpointer = null;
        _writeLocker?.Dispose();
        _writeLocker = null;
        _lastOffset = 0;
    }

    public void Dispose() => CloseConnections();
}

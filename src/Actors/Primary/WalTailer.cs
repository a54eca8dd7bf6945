using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Litecast.Actors.Primary;

/// <summary>
/// Follows the primary's WAL: on a short timer it rotates the guard, reads the newly committed transactions, numbers
/// them, updates the database hash, publishes them as page batches on the database's topic and keeps them in the
/// retained log. It runs the checkpoints that keep the WAL bounded. Its state lives in <see cref="PrimaryState"/>,
/// owned by the database actor, so a restarted tailer resumes exactly where the crashed one stopped.
/// </summary>
internal sealed class WalTailer : ReceiveActor, IWithTimers
{
    /// <summary>Poll now (timer).</summary>
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>The WAL changed (file notification), or SQLite counted a commit the tailer saw written
    /// (<see cref="CommitWatch"/>): read the new commits now, as far as the WAL-index counts them. Reading needs no
    /// guard rotation: the current guard already keeps every frame after it from being overwritten; rotation,
    /// checkpoints and saving the position stay on the timer.</summary>
    private sealed record Wake
    {
        public static readonly Wake Instance = new();
    }

    /// <summary>Take a consistent snapshot into <paramref name="File"/> for a resync; with no file, only hash it (a
    /// scrub). Either way its hash is checked against the stream's. A request that waited behind another snapshot's copy
    /// for longer than <paramref name="AnswerWithin"/> is refused and creates no file: its requester stopped waiting for
    /// it. The wait is measured on the monotonic clock from the request's arrival, so a wall-clock step changes nothing.</summary>
    public sealed record TakeSnapshot(string? File, TimeSpan? AnswerWithin = null);

    /// <summary>Every <see cref="DatabaseSettings.ScrubInterval"/>: hash the database where the tailer stands and compare
    /// it with the stream's hash, as each resync's snapshot is.</summary>
    private sealed record Scrub
    {
        public static readonly Scrub Instance = new();
    }

    /// <summary>The snapshot is pinned and being copied to <paramref name="File"/>: the database at (Generation, Txid),
    /// with the stream's hash of every page in <paramref name="Info"/>. The file's bytes may be served as far as
    /// <paramref name="Copy"/> has got; it fails when the copy fails or the file turns out not to be what the stream
    /// says.</summary>
    public sealed record SnapshotTaken(string File, ulong Generation, ulong Txid, SnapshotInfo Info, SnapshotCopyProgress Copy);

    /// <summary>A snapshot's copy ended on its own thread: the file and its hash, or why not. <paramref name="Progress"/>
    /// is the resync's (null for a scrub).</summary>
    private sealed record SnapshotCopied(TakeSnapshot Request, ulong Generation, ulong Txid, ulong StreamHash,
        SnapshotCopyProgress? Progress, SnapshotInfo? Info, Exception? Failure, TimeSpan Took);

    private static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(2);

    private readonly DatabaseSettings _settings;
    private readonly PrimaryState _state;
    private readonly WalGuard _guard;
    private readonly IActorRef _mediator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _positionPath;
    private readonly string _ceilingPath;
    private ulong _txidCeiling;

    /// <summary>How many txids one durable write of the <see cref="TxidCeiling"/> reserves.</summary>
    internal const ulong TxidReservation = 100_000;

    /// <summary>Pinning a snapshot fails when the WAL restarts between a rotation and the pin (see
    /// <see cref="PinWhereRead"/>); the attempts wait 1, 2, ... ms between them, about 0.2 s in all.</summary>
    private const int MaxPinAttempts = 20;
    private WalReader _reader;
    private readonly WalCheckpointer _checkpointer;
    private (long Offset, long Since)? _stall;
    private PrimaryPosition? _persisted;
    private long _persistedAt;
    private static readonly TimeSpan PersistInterval = TimeSpan.FromSeconds(1);
    private IDisposable? _walWatch;
    private CommitWatch? _commitWatch;
    // Opened at the first wake-up and closed whenever a generation is established (the file may be another one then);
    // the commit watch reads it from its own thread.
    private volatile WalIndex? _walIndex;
    private int _wakePending;

    /// <summary>
    /// A WAL unchanged this long makes the tailer idle: it gives the WAL file's space back, and a watched WAL is polled
    /// every <see cref="IdlePollInterval"/> instead of every <see cref="DatabaseSettings.PollInterval"/> until the first
    /// change notice. The polls rotate the guard, checkpoint and notice a replaced database file; an unchanged WAL needs
    /// none of that often, and fifty polls a second were most of an idle primary's CPU. An unwatched WAL is polled
    /// briskly all the time.
    /// </summary>
    private static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan IdlePollInterval = TimeSpan.FromSeconds(1);
    private long _changedAt = Stopwatch.GetTimestamp();
    private (long Cursor, long WalBytes) _seenAtPoll;
    // When the WAL past its bound was last warned of (see ReportWalBytes).
    private static readonly TimeSpan WalWarningInterval = TimeSpan.FromMinutes(1);
    private long _walWarnedAt = Stopwatch.GetTimestamp() - (long)(WalWarningInterval.TotalSeconds * Stopwatch.Frequency);
    private long _checkpointedAt = Stopwatch.GetTimestamp();
    private bool _idle;

    /// <summary>
    /// A resync's snapshot is copied on a thread of its own while the tailer goes on publishing: the copy of 1.1 GiB
    /// took 1.6-2.5 s, and inline it held back every other replica's batches that long. One copy at a time; requests
    /// that arrive meanwhile wait here. The pinned snapshot keeps checkpoints from passing its view, so none is tried
    /// until the copy ends (inline, none ran either): a reset would take the application's write lock and fail.
    /// </summary>
    private readonly Queue<(TakeSnapshot Request, IActorRef Requester, long ArrivedAt)> _snapshotsWaiting = new();
    private bool _copying;
    private readonly CancellationTokenSource _stopped = new();

    public WalTailer(DatabaseSettings settings, PrimaryState state, WalGuard guard, IActorRef mediator)
    {
        _settings = settings;
        _state = state;
        _guard = guard;
        _mediator = mediator;
        _positionPath = System.IO.Path.Combine(settings.StateDirectory, "primary.json");
        _ceilingPath = System.IO.Path.Combine(settings.StateDirectory, "txid-ceiling.json");
        _reader = new WalReader(WalFormat.WalPath(settings.Path));
        _checkpointer = new WalCheckpointer(settings.Path, settings.CheckpointThresholdPages);

        Receive<Tick>(_ =>
        {
            Poll();
            PaceTimer();
        });
        Receive<Wake>(_ =>
        {
            // Read at once. Under a steady stream commits still travel grouped: while the tailer reads and publishes,
            // new commits raise one pending wake-up, and the next read takes all of them.
            Interlocked.Exchange(ref _wakePending, 0);
            _changedAt = Stopwatch.GetTimestamp();
            if (_idle) SetPollInterval(idle: false);
            if (!_state.Ready || !_guard.IsHeld) return;
            DrainCounted();
            // The bound must not wait for the poll timer: under a busy writer on a loaded machine its tick came
            // hundreds of milliseconds late and the WAL outgrew the bound (BoundedWalTests). Past the threshold a checkpoint
            // may wait up to WriteLockWait for the application's write lock, so it is tried at most once per such wait:
            // the tailer spends at most half its time waiting there and keeps publishing in between.
            if (_reader.Header is { } header && _checkpointer.PastThreshold(_reader.Cursor, header.PageSize)
                && Stopwatch.GetElapsedTime(_checkpointedAt) >= WalCheckpointer.WriteLockWait)
                Checkpoint();
        });
        Receive<SyncWal>(_ =>
        {
            try
            {
                Poll();
            }
            catch (Exception e)
            {
                Sender.Tell(new Status.Failure(e));
                throw;
            }
            var (generation, txid, _, _, _) = _state.Position();
            Sender.Tell(new WalSynced(generation, txid));
        });
        Receive<TakeSnapshot>(request =>
        {
            _snapshotsWaiting.Enqueue((request, Sender, Stopwatch.GetTimestamp()));
            StartNextSnapshot();
        });
        Receive<SnapshotCopied>(SnapshotCopyEnded);
        // A scrub waits behind the resyncs' snapshots like one of them; nobody awaits its answer.
        Receive<Scrub>(_ =>
        {
            _snapshotsWaiting.Enqueue((new TakeSnapshot(null), ActorRefs.Nobody, Stopwatch.GetTimestamp()));
            StartNextSnapshot();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(DatabaseSettings settings, PrimaryState state, WalGuard guard, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new WalTailer(settings, state, guard, mediator));

    protected override void PreStart()
    {
        string? reason = "the previous tailer stopped in the middle of a batch";
        var resume = _state.Resume;
        if (_state.Ready && resume.Consistent && _reader.TryResume(resume.Cursor, GuardedWalFile(resume), out reason))
            _log.Info("Tailer for {Database} resumed at txid {Txid} (WAL {Salt1:x8}, offset {Offset})", _settings.Name, _state.Txid,
                _reader.Header?.Salt1 ?? resume.Cursor.Salt1, _reader.Header is null ? 0 : _reader.Cursor.Offset);
        else
        {
            if (_state.Ready) _log.Warning("Tailer for {Database} cannot resume its WAL position: {Reason}", _settings.Name, reason);
            Establish();
        }
        SetPollInterval(idle: false);
        if (_settings.ScrubInterval is { } scrub) Timers.StartPeriodicTimer("scrub", Scrub.Instance, scrub);
        var self = Self;
        // At most one wake-up waits in the mailbox however many writes the application makes.
        void WakeUp()
        {
            if (Interlocked.Exchange(ref _wakePending, 1) == 0) self.Tell(Wake.Instance);
        }
        _walWatch = _settings.TailerEnvironment.WatchWal(WalFormat.WalPath(_settings.Path), WakeUp);
        _commitWatch = new CommitWatch(() => _walIndex?.ReadCommittedEnd(), WakeUp);
    }

    /// <summary>The WAL file of <paramref name="resume"/> when the guard has been held since its cursor was read and
    /// sees nothing past it: a restart of that WAL since then lost nothing unread (see <see cref="WalReader.TryResume"/>).</summary>
    private FileIdentity? GuardedWalFile(ResumePoint resume) =>
        resume.GuardTenure != 0 && _guard.Tenure == resume.GuardTenure
        && _guard.CurrentVisibleEnd?.IsReadBy(resume.Cursor, _state.Hash.PageSize) != false
            ? resume.WalFile
            : null;

    /// <summary>The resume point at <paramref name="cursor"/>, which the reader just reached under the current guard.</summary>
    private ResumePoint ResumeAt(WalCursor cursor) =>
        _state.Resume with { Cursor = cursor, WalFile = _reader.WalFile, GuardTenure = _guard.Tenure };

    /// <summary>A failure is noted in the report before the supervisor restarts the tailer, for the status to show
    /// (see PrimaryDatabaseActor.TailerFailureShownFor).</summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _state.UpdateReport(r => r with { LastFailure = (e.Message, Stopwatch.GetTimestamp()) });
            throw;
        }
    }

    protected override void PostStop()
    {
        _stopped.Cancel();
        while (_snapshotsWaiting.TryDequeue(out var waiting))
            waiting.Requester.Tell(new Status.Failure(new IOException("the tailer stopped before taking the snapshot")));
        _walWatch?.Dispose();
        _commitWatch?.Dispose();
        _walIndex?.Dispose();
        _reader.Dispose();
        _checkpointer.Dispose();
        try { Persist(durable: true); }
        catch (IOException e) { _log.Warning("Could not save the position of {Database}: {Error}", _settings.Name, e.Message); }
    }

    /// <summary>
    /// Establishes the generation: continues the saved one when the WAL proves continuity (same salts, the saved commit
    /// frame with the saved checksum, the same database file), else starts a new one. Either way the database is
    /// hashed at a snapshot pinned exactly where the reader stopped, without taking the write lock.
    /// </summary>
    /// <param name="contradiction">Why the file contradicts the stream, when it does: a new generation starts even where
    /// the WAL proves continuity, since the saved position's hash came from the stream the file contradicts (continuing
    /// it would keep the generation of a stream that is not the database's).</param>
    private void Establish(string? contradiction = null)
    {
        _state.Resume = _state.Resume with { Consistent = false };
        // A file created anew while the tailer ran (after a deletion, or renamed over the old one) is in the
        // application's journal mode, usually a rollback journal: the guard's read transaction then held a shared lock
        // that failed every write of the application, for good (a black-box review). Switched as at the first start.
        EnsureWalMode(_settings, _log);
        // Such a file is checkpointed through connections of its own (see WalCheckpointer.CloseConnections), and its
        // index read through one.
        _checkpointer.CloseConnections();
        _walIndex?.Dispose();
        _walIndex = null;
        var saved = ReadSavedPosition();
        for (var attempt = 1; ; attempt++)
        {
            if (TryEstablish(saved, contradiction))
            {
                // The file is back (a generation of its own): the primary is healthy again. It answered 503 for as long
                // as it ran (found by a review).
                if (_state.Report.Problem == FileDeleted) SetProblem(null);
                return;
            }
            if (attempt == MaxPinAttempts)
                throw new IOException($"{_settings.Path}: could not pin a snapshot where the WAL reader stopped in {MaxPinAttempts} attempts (the WAL kept restarting)");
        }
    }

    /// <summary>One attempt of <see cref="Establish"/> (<see cref="GenerationSetup"/>); false when the snapshot could
    /// not be pinned where the reader stopped (the WAL restarted meanwhile), and nothing was changed.</summary>
    private bool TryEstablish(PrimaryPosition? saved, string? contradiction)
    {
        _reader.Dispose();
        _reader = new WalReader(WalFormat.WalPath(_settings.Path));
        GenerationStart? start;
        try
        {
            start = GenerationSetup.TryStart(_settings.Path, _reader, _guard, contradiction is null ? saved : null);
        }
        catch (WalStalledException e)
        {
            SetProblem($"stalled: {e.Detail}");
            throw;
        }
        if (start is null) return false;
        _state.Resume = _state.Resume with { DatabaseIdentity = start.Identity };
        var hash = start.Snapshot.Hash;
        if (start.Discontinuity is null && saved is not null)
        {
            _state.Begin(saved.Generation, saved.Txid, hash);
            _state.Resume = ResumeAt(_reader.Cursor);
            if (start.Resumed.Count > 0)
            {
                ReserveTxids(saved.Txid + (ulong)start.Resumed.Count);
                PublishResumed(start.Resumed, saved, hash);
            }
            _log.Info("{Database}: continuing generation {Generation:x16} at txid {Txid}", _settings.Name, saved.Generation, _state.Txid);
        }
        else
        {
            // Txids keep growing across generations (the discontinuity counts as one) and start above every txid the
            // previous generation may have published (the durable ceiling; the saved position can be older), so an
            // application's bookmark never looks reached on a replica still holding the old generation.
            var generation = PrimaryState.NewGenerationId();
            var txid = Math.Max(Math.Max(saved?.Txid ?? 0, _state.Txid), ReadTxidCeiling()) + 1;
            _state.Begin(generation, txid, hash);
            _state.Resume = ResumeAt(_reader.Cursor);
            ReserveTxids(txid);
            _log.Info("{Database}: new generation {Generation:x16} at txid {Txid} ({Reason}); {Pages} pages, hash {Hash}",
                _settings.Name, generation, txid, contradiction ?? start.Discontinuity, start.Snapshot.PageCount, hash);
        }
        _state.Resume = _state.Resume with { Consistent = true };
        Persist(durable: true);
        return true;
    }

    /// <summary>The saved position, or null when there is none or it cannot be read (then a new generation starts,
    /// still above the durable txid ceiling).</summary>
    private PrimaryPosition? ReadSavedPosition()
    {
        try
        {
            return PositionFile.Read<PrimaryPosition>(_positionPath);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            _log.Warning("{Database}: ignoring the saved position: {Error}", _settings.Name, e.Message);
            return null;
        }
    }

    /// <summary>
    /// After a restart with proven continuity, the transactions committed while Litecast was down travel as one batch
    /// of their final page images: its pre-hash is the saved hash and its post-hash the hash just computed.
    /// </summary>
    private void PublishResumed(IReadOnlyList<WalTransaction> transactions, PrimaryPosition saved, DatabaseHash hashAtEnd)
    {
        var pages = MergePages(transactions);
        PublishParts(saved.Txid + 1, saved.Txid + (ulong)transactions.Count, transactions[^1].PageCount, saved.Hash,
            hashAtEnd.Value, pages, hashAtEnd.PageSize);
    }

    private void Poll()
    {
        _settings.TailerEnvironment.Reached(TailerPoint.Poll);
        var identity = FileIdentity.Of(_settings.Path);
        if (identity is null)
        {
            if (_state.Report.Problem != FileDeleted) _log.Warning("{Database}: {Problem}", _settings.Name, FileDeleted);
            SetProblem(FileDeleted);
            return;
        }
        if (identity != _state.Resume.DatabaseIdentity)
        {
            StartOver("the database file was replaced");
            return;
        }

        RotateAndDrain();
        Checkpoint();
        ReportWalBytes();
        Persist(durable: false);
    }

    /// <summary>Goes idle when neither the WAL file nor the reader moved for <see cref="IdleAfter"/>: the application
    /// paused, so the WAL file's space is given back, and a watched WAL is polled slowly. While idle the reclaim is
    /// tried again at each poll: one that could not run when the pause began (a reader of the application, or a
    /// resync's snapshot copy, held the WAL) left a 40-140 MB WAL file in place for minutes (a black-box review).</summary>
    private void PaceTimer()
    {
        var seen = (_reader.Cursor.Offset, _state.Report.WalBytes);
        if (seen != _seenAtPoll)
        {
            _seenAtPoll = seen;
            _changedAt = Stopwatch.GetTimestamp();
            if (_idle) SetPollInterval(idle: false);
        }
        if (Stopwatch.GetElapsedTime(_changedAt) <= IdleAfter) return;
        ReclaimWal();
        // What the reclaim itself changed is not the application's doing.
        _seenAtPoll = (_reader.Cursor.Offset, _state.Report.WalBytes);
        if (!_idle) SetPollInterval(idle: true);
    }

    /// <summary>An unwatched WAL is polled briskly even when idle: no change notice would end the idle pace.</summary>
    private void SetPollInterval(bool idle)
    {
        _idle = idle;
        Timers.StartPeriodicTimer("poll", Tick.Instance, idle && _walWatch is not null ? IdlePollInterval : _settings.PollInterval);
    }

    /// <summary>Gives the WAL file's space back while the application pauses (see <see cref="WalCheckpointer.Reclaim"/>).</summary>
    private void ReclaimWal()
    {
        if (_copying || !_state.Ready || !_guard.IsHeld || _reader.Header is not { } header) return;
        CountCheckpoints(() => _checkpointer.Reclaim(_reader.FileLength(), header.PageSize, RotateAndDrain));
        ReportWalBytes();
    }

    /// <summary>Shows the WAL file's current length in the status, and warns (at most once a minute) while it is past
    /// 16 × the threshold: the bound could not be kept, and the disk fills.</summary>
    private void ReportWalBytes()
    {
        var walBytes = _reader.FileLength();
        if (walBytes != _state.Report.WalBytes) _state.UpdateReport(r => r with { WalBytes = walBytes });
        if (_reader.Header is not { } header
            || walBytes <= 16L * _settings.CheckpointThresholdPages * (WalFormat.FrameHeaderSize + header.PageSize)
            || Stopwatch.GetElapsedTime(_walWarnedAt) < WalWarningInterval) return;
        _walWarnedAt = Stopwatch.GetTimestamp();
        _log.Warning("{Database}: the WAL is {Megabytes} MB, past 16 x checkpoint-threshold-pages, and Litecast could not start it over: " +
                     "a transaction that large, a reader of the application's that never ends, or an application that takes the write lock " +
                     "again at once after each commit with its autocheckpoint off", _settings.Name, walBytes >> 20);
    }


    /// <summary>A primary that is not in WAL mode is switched to WAL, and the log says so: before the tailer first
    /// starts (PrimaryDatabaseActor, which reports a failure as what it waits for) and whenever it establishes a
    /// generation.</summary>
    internal static void EnsureWalMode(DatabaseSettings settings, ILoggingAdapter log)
    {
        if (SqliteConnections.SwitchToWal(settings.Path) is { } mode)
            log.Warning("{Database}: journal_mode was {Mode}; switched it to WAL, which replication requires", settings.Name, mode);
    }

    private string FileDeleted => $"{_settings.Path} was deleted; waiting for the application to create it again";

    /// <summary>Drops the guard and establishes the generation again (a new one: the saved position no longer matches).</summary>
    private void StartOver(string reason)
    {
        _log.Warning("{Database}: {Reason}; starting a new generation", _settings.Name, reason);
        _guard.Release();
        Establish();
    }

    /// <summary>
    /// Reads and publishes what the WAL-index counts as committed now, without a guard rotation (the current guard keeps
    /// every frame after it in place). Frames written past it are a commit SQLite has not counted yet, or never will (its
    /// writer was killed); the commit watch wakes the tailer when the index moves. An index that cannot be read as it
    /// stands is left to SQLite: a rotation's read transaction recovers it.
    /// </summary>
    private void DrainCounted()
    {
        try
        {
            _walIndex ??= new WalIndex(_settings.Path);
        }
        catch (SqliteException)
        {
            // The file is gone or replaced: the poll notices and says so.
            return;
        }
        if (_walIndex.ReadCommittedEnd() is not { } counted)
        {
            RotateAndDrain();
            return;
        }
        DrainAndPublish(counted);
        if (_reader.HasFramesAfterCursor()) _commitWatch?.Await(counted);
    }

    /// <summary>Reads and publishes the committed transactions after the cursor, up to <paramref name="visible"/>.</summary>
    private void DrainAndPublish(WalVisibleEnd visible)
    {
        while (true)
        {
            var cursor = _reader.Cursor.Offset;
            var result = _reader.Read(1024, visible);
            if (result.Outcome == WalReadOutcome.Read) _settings.TailerEnvironment.FramesChecked(result.StopOffset - cursor);
            switch (result.Outcome)
            {
                case WalReadOutcome.Restarted:
                    var previous = result.PreviousHeader!.Value;
                    var next = result.Header!.Value;
                    // Under the guard SQLite restarts the WAL only once every frame is backfilled and no reader uses
                    // it (a guard reading the database file only blocks every backfill), and the guard is rotated only
                    // after the tailer read everything the new guard sees: nothing unread can have been overwritten,
                    // whatever the new salts are. Requiring salt1 + 1 is wrong: a connection that never restarted a WAL
                    // itself draws fresh random salts when it writes the first frame after another connection's
                    // RESTART or TRUNCATE checkpoint (sqlite3.c, sqlite3WalFrames: `if( pWal->nCkpt==0 )
                    // sqlite3_randomness(8, pWal->hdr.aSalt)`) — the application's TRUNCATE, or the tailer's own.
                    if (_guard.IsHeld) continue;
                    _log.Warning("{Database}: the WAL restarted discontinuously (salt1 {Old:x8} -> {New:x8}); new generation",
                        _settings.Name, previous.Salt1, next.Salt1);
                    Establish();
                    return;
                case WalReadOutcome.Replaced:
                    // The guard protects the WAL file it was opened on, not a new one: commits in a replaced WAL (the
                    // database renamed over, the WAL removed) belong to another database, never to this generation.
                    StartOver("the WAL file was replaced");
                    return;
                case WalReadOutcome.NoWal:
                case WalReadOutcome.InvalidHeader:
                    return;
            }
            // Checked after the read, before publishing: an application renames a new database over the path before
            // it writes that database's WAL, so commits read from such a WAL are always caught here.
            if (result.Transactions.Count > 0 && FileIdentity.Of(_settings.Path) != _state.Resume.DatabaseIdentity)
            {
                StartOver("the database file was replaced");
                return;
            }
            foreach (var group in Group(result.Transactions)) Publish(group);
            _state.Resume = ResumeAt(_reader.Cursor);
            TrackStall(result);
            if (result.Stop != WalStop.Limit) return;
        }
    }

    private void TrackStall(WalReadResult result)
    {
        if (result.Stop != WalStop.ChecksumMismatch || result.Transactions.Count > 0)
        {
            _stall = null;
            if (_state.Report.Problem?.StartsWith("stalled", StringComparison.Ordinal) == true) SetProblem(null);
            return;
        }
        var now = Stopwatch.GetTimestamp();
        if (_stall is not { } stall || stall.Offset != result.StopOffset) _stall = (result.StopOffset, now);
        else if (Stopwatch.GetElapsedTime(stall.Since, now) > StallAfter && _reader.FileLength() > result.StopOffset)
        {
            var problem = $"stalled: {result.Detail}";
            if (_state.Report.Problem != problem) _log.Error("{Database}: tailer {Problem}", _settings.Name, problem);
            SetProblem(problem);
        }
    }

    /// <summary>
    /// Groups consecutive transactions into one batch (a replica then applies several commits in one transaction; every
    /// state a reader sees is still a committed primary state). A group carries each page once, in its latest image, so
    /// it is sized by its distinct pages: a stream of small commits rewriting the same few pages travels as one batch
    /// of those pages. A group ends before its distinct pages would exceed one message, and after a transaction that
    /// shrinks the database.
    /// </summary>
    private IEnumerable<List<WalTransaction>> Group(IReadOnlyList<WalTransaction> transactions)
    {
        var group = new List<WalTransaction>();
        var pages = new HashSet<uint>();
        foreach (var tx in transactions)
        {
            var added = 0;
            foreach (var page in tx.Pages)
                if (!pages.Contains(page.PageNumber)) added++;
            if (group.Count > 0 && (long)(pages.Count + added) * tx.PageSize > _settings.MaxPartBytes)
            {
                yield return group;
                group = [];
                pages.Clear();
            }
            group.Add(tx);
            foreach (var page in tx.Pages) pages.Add(page.PageNumber);
            if (group.Count > 1 && !TransactionRun.MayContinueAfter(group[^2].PageCount, tx.PageCount))
            {
                yield return group;
                group = [];
                pages.Clear();
            }
        }
        if (group.Count > 0) yield return group;
    }

    private static List<(WalTransaction Transaction, WalPageRef Page)> MergePages(IReadOnlyList<WalTransaction> group) =>
        TransactionRun.FinalPages(group.Select(tx => tx.Pages.Select(page => (Transaction: tx, Page: page))), p => p.Page.PageNumber,
            group[^1].PageCount);

    /// <summary>
    /// Publishes one group. While it is under way the shared state is marked inconsistent (the hash is half updated):
    /// a tailer that crashes here is replaced by one that re-establishes the generation from the saved position.
    /// </summary>
    private void Publish(List<WalTransaction> group)
    {
        ReserveTxids(_state.Txid + (ulong)group.Count);
        _state.Resume = _state.Resume with { Consistent = false };
        PublishParts(_state.Txid + 1, _state.Txid + (ulong)group.Count, group[^1].PageCount, _state.Hash.Value, null,
            MergePages(group), group[0].PageSize);
        _state.Resume = ResumeAt(group[^1].EndCursor) with { Consistent = true };
    }

    /// <summary>
    /// Publishes a batch part by part, reading each part's pages from the WAL only when it is sent (a huge transaction
    /// is never held whole in memory), and updates the hash as it goes. When <paramref name="knownPost"/> is given the
    /// hash state is already final (a resumed batch).
    /// </summary>
    private void PublishParts(ulong first, ulong last, uint pageCount, ulong pre, ulong? knownPost,
        List<(WalTransaction Transaction, WalPageRef Page)> pages, int pageSize)
    {
        var hash = _state.Hash;
        var perPart = Math.Max(1, _settings.MaxPartBytes / pageSize);
        var partCount = Math.Max(1, (pages.Count + perPart - 1) / perPart);
        for (var index = 0; index < partCount; index++)
        {
            var chunk = pages.GetRange(index * perPart, Math.Min(perPart, pages.Count - index * perPart));
            var part = new List<PageImage>(perPart);
            foreach (var (transaction, page) in chunk)
            {
                var image = new PageImage(page.PageNumber, _reader.ReadPage(transaction, page));
                if (knownPost is null) hash.SetPage(image.PageNumber, image.Data);
                part.Add(image);
            }
            var isLast = index == partCount - 1;
            if (isLast && knownPost is null) hash.SetPageCount(pageCount);
            var post = isLast ? knownPost ?? hash.Value : 0;
            Emit(new PageBatch(_settings.Name, _state.Generation, first, last, pageSize, pageCount, pre, post, index, partCount, part));
            _settings.TailerEnvironment.Reached(TailerPoint.PartPublished);
        }
        _state.Published(last, Stopwatch.GetTimestamp());
        _state.UpdateReport(r => r with { TransactionsPublished = r.TransactionsPublished + (long)(last - first + 1) });
    }

    private void Emit(PageBatch batch)
    {
        _mediator.Tell(new Publish(_settings.Topic, batch));
        _state.Log.Append(batch);
        long bytes = 0;
        foreach (var page in batch.Pages) bytes += page.Data.Length;
        _state.UpdateReport(r => r with { BytesPublished = r.BytesPublished + bytes });
    }

    /// <summary>Keeps the WAL bounded (see <see cref="WalCheckpointer"/>); what it reads to the guard is published.</summary>
    private void Checkpoint()
    {
        if (_copying || _reader.Header is not { } header) return;
        _checkpointedAt = Stopwatch.GetTimestamp();
        CountCheckpoints(() => _checkpointer.Run(_reader.Cursor, header.PageSize, RotateAndDrain));
    }

    /// <summary>Runs a step of the checkpointer and adds the checkpoints it ran to the status.</summary>
    private void CountCheckpoints(Action step)
    {
        var before = _checkpointer.Checkpoints;
        step();
        var checkpoints = _checkpointer.Checkpoints - before;
        if (checkpoints > 0) _state.UpdateReport(r => r with { Checkpoints = r.Checkpoints + checkpoints });
    }

    private void RotateAndDrain()
    {
        DrainAndPublish(_guard.BeginRotation());
        _guard.CompleteRotation();
    }

    private void SetProblem(string? problem) => _state.UpdateReport(r => r with { Problem = problem });

    private void Persist(bool durable)
    {
        if (!_state.Ready || !_state.Resume.Consistent) return;
        var (generation, txid, hash, pageSize, pageCount) = _state.Position();
        var cursor = _state.Resume.Cursor;
        var identity = _state.Resume.DatabaseIdentity ?? default(FileIdentity);
        var position = new PrimaryPosition(generation, txid, hash, pageSize, pageCount, cursor.Salt1, cursor.Salt2, cursor.Offset,
            cursor.Checksum.S1, cursor.Checksum.S2, identity.Device, identity.Inode);
        // Between durable saves (start, new generation, stop) the position is saved at most once a second: an older
        // saved position is safe (a restart republishes from it, and replicas skip or resync by hash), and writing it
        // on every poll would cost a file write per commit.
        if (!durable && (position == _persisted || Stopwatch.GetElapsedTime(_persistedAt) < PersistInterval)) return;
        PositionFile.Write(_positionPath, position, durable);
        _persisted = position;
        _persistedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>Takes the snapshots asked for, one after the other: a request whose pin fails is answered at once.</summary>
    private void StartNextSnapshot()
    {
        while (!_copying && _snapshotsWaiting.TryDequeue(out var next))
        {
            var waited = Stopwatch.GetElapsedTime(next.ArrivedAt);
            if (next.Request.AnswerWithin is { } within && waited > within)
                next.Requester.Tell(new Status.Failure(new TimeoutException(
                    $"the snapshot into {next.Request.File} waited {waited.TotalSeconds:F1} s behind another snapshot's copy, longer than its requester waits ({within.TotalSeconds:F1} s)")));
            else Snapshot(next.Request, next.Requester);
        }
    }

    /// <summary>Pins a snapshot where the tailer stands (here, briefly) and copies it on a thread of its own. A resync's
    /// requester is answered at once, with the stream's page hashes: the pinned snapshot is exactly where the stream
    /// stands, and the copy's own hash is checked against the stream's when it ends.</summary>
    private void Snapshot(TakeSnapshot request, IActorRef requester)
    {
        PrimarySnapshot? snapshot = null;
        SnapshotCopyProgress? progress = null;
        ulong generation, txid, hash;
        try
        {
            snapshot = PinWhereRead(out var failure);
            if (snapshot is null)
            {
                // Nothing is wrong with the tailer's state: the requester hears why and asks again.
                _log.Warning("{Database}: {Failure}", _settings.Name, failure);
                requester.Tell(new Status.Failure(new IOException(failure)));
                return;
            }
            // Where the pin stands: pinning read up to the guard's view.
            (generation, txid, hash, _, _) = _state.Position();
            if (request.File is { } file)
            {
                var pages = _state.Hash.Clone();
                progress = new SnapshotCopyProgress((long)pages.PageCount * pages.PageSize);
                // The file exists before anyone is told of it: the resync source opens it while the copy writes it.
                File.Create(file).Dispose();
                requester.Tell(new SnapshotTaken(file, generation, txid, new SnapshotInfo(pages.PageSize, pages.PageCount, pages), progress));
            }
        }
        catch (Exception e)
        {
            // A pinned read left open would hold every checkpoint back and the WAL would grow without bound.
            snapshot?.Dispose();
            // The requester hears of the failure now (and retries) instead of waiting out its timeout; the supervisor
            // restarts this tailer from the shared state.
            requester.Tell(new Status.Failure(e));
            throw;
        }
        var environment = _settings.TailerEnvironment;
        var stopped = _stopped.Token;
        _copying = true;
        Task.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            using (snapshot)
            {
                try
                {
                    environment.Reached(TailerPoint.SnapshotCopying);
                    var info = snapshot.CopyTo(request.File, progress is null ? null : progress.Copied);
                    if (stopped.IsCancellationRequested)
                    {
                        // A tailer stopped meanwhile hears nothing: the file would be left behind, its readers waiting.
                        if (request.File is not null) File.Delete(request.File);
                        progress?.Fail(new IOException($"the tailer of {request.File} stopped while its snapshot was copied"));
                    }
                    return new SnapshotCopied(request, generation, txid, hash, progress, info, null, clock.Elapsed);
                }
                catch (Exception e)
                {
                    return new SnapshotCopied(request, generation, txid, hash, progress, null, e, clock.Elapsed);
                }
            }
        }).PipeTo(Self, failure: e => new SnapshotCopied(request, generation, txid, hash, progress, null, e, TimeSpan.Zero));
    }

    private void SnapshotCopyEnded(SnapshotCopied copied)
    {
        _copying = false;
        var request = copied.Request;
        if (copied.Info is not { } info)
        {
            var reason = request.File is null
                ? $"the scrub at txid {copied.Txid} could not read {_settings.Path}: {copied.Failure?.Message}"
                : $"copying the snapshot at txid {copied.Txid} to {request.File} failed: {copied.Failure?.Message}";
            _log.Warning("{Database}: {Problem}", _settings.Name, reason);
            copied.Progress?.Fail(new IOException(reason, copied.Failure));
        }
        else if (request.File is null) ScrubEnded(copied, info);
        else
        {
            _log.Info("{Database}: snapshot at txid {Txid} copied and hashed in {Seconds:F2} s ({Pages} pages)",
                _settings.Name, copied.Txid, copied.Took.TotalSeconds, info.PageCount);
            // Pages of a file that contradicts the stream do not check on the replica (each fetched page against the
            // stream's hash, the whole file before it is used); failing the session makes it ask again, of the new
            // generation.
            if (FileContradictsStream(copied, info))
                copied.Progress?.Fail(new IOException($"the primary's file at txid {copied.Txid} is not what its stream says; a new generation started"));
            else if (copied.Generation != _state.Generation)
                copied.Progress?.Fail(new IOException(
                    $"generation {copied.Generation:x16} ended while its snapshot was copied; the current one is {_state.Generation:x16}"));
        }
        StartNextSnapshot();
    }

    /// <summary>A scrub's hash of the file where the tailer stood, against the stream's: shown in the status, and a
    /// new generation when they differ. A generation begun meanwhile took its hashes from the file: nothing to compare.</summary>
    private void ScrubEnded(SnapshotCopied copied, SnapshotInfo info)
    {
        if (copied.Generation != _state.Generation) return;
        var sound = !FileContradictsStream(copied, info);
        if (sound)
            _log.Info("{Database}: scrub verified {Pages} pages at txid {Txid} in {Ms} ms", _settings.Name, info.PageCount, copied.Txid,
                (long)copied.Took.TotalMilliseconds);
        _state.UpdateReport(r => r with { LastScrub = new ScrubView(DateTimeOffset.UtcNow, copied.Txid, info.PageCount, sound) });
    }

    /// <summary>
    /// True when the file, hashed where the tailer stood, is not what the stream says for the same generation: a page
    /// changed behind SQLite's back (a tool writing the file in place, a restore over it, a bad disk). The stream's
    /// hash is then not the database's and nothing is served from it: a new generation starts from the file as it is,
    /// and every replica resyncs to it.
    /// </summary>
    private bool FileContradictsStream(SnapshotCopied copied, SnapshotInfo info)
    {
        if (info.Hash.Value == copied.StreamHash || copied.Generation != _state.Generation) return false;
        var problem = $"the primary's file hash {info.Hash} differs from the stream's {copied.StreamHash:x16} at txid {copied.Txid}";
        _log.Error("{Database}: {Problem}; starting a new generation", _settings.Name, problem);
        SetProblem(problem);
        _guard.Release();
        Establish(problem);
        return true;
    }

    /// <summary>
    /// Pins a snapshot at exactly the position the tailer has read and published; null (with why) when that did not
    /// happen in <see cref="MaxPinAttempts"/> attempts.
    /// </summary>
    /// <remarks>
    /// Every read stops where SQLite's index counts the commits, so after a rotation the reader stands exactly at the
    /// new guard's view, unless the application restarted the WAL under a guard that read the database file only (the
    /// view is then of the previous WAL, and the next rotation sees the new one). Before reads were bounded so, a
    /// wake-up read commits SQLite had not counted yet, and under a writer committing back to back 20 immediate
    /// retries all fell inside one commit's fsync (the chaos harness, seed 301): the attempts still wait a little.
    /// </remarks>
    private PrimarySnapshot? PinWhereRead(out string failure)
    {
        failure = "";
        for (var attempt = 1; attempt <= MaxPinAttempts; attempt++)
        {
            RotateAndDrain();
            if (!_reader.IsAt(_guard.CurrentVisibleEnd))
            {
                failure = $"the reader stopped at {_reader.Cursor}, the guard sees {_guard.CurrentVisibleEnd}";
                Thread.Sleep(attempt);
            }
            else if (PrimarySnapshot.TryPin(_settings.Path, _guard) is { } snapshot) return snapshot;
            else failure = $"SQLite could not open the guard's view {_guard.CurrentVisibleEnd}";
        }
        failure = $"{_settings.Path}: could not pin a snapshot where the tailer stopped in {MaxPinAttempts} attempts ({failure})";
        return null;
    }

    /// <summary>The ceiling saved durably, 0 when none was saved yet.</summary>
    private ulong ReadTxidCeiling()
    {
        try
        {
            return PositionFile.Read<TxidCeiling>(_ceilingPath)?.Ceiling ?? 0;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            _log.Warning("{Database}: ignoring the txid ceiling: {Error}", _settings.Name, e.Message);
            return 0;
        }
    }

    /// <summary>Makes sure txids up to <paramref name="lastTxid"/> are below the durable ceiling before they are
    /// published; raising it costs one durable write per <see cref="TxidReservation"/> txids.</summary>
    private void ReserveTxids(ulong lastTxid)
    {
        if (lastTxid <= _txidCeiling) return;
        _txidCeiling = lastTxid + TxidReservation;
        PositionFile.Write(_ceilingPath, new TxidCeiling(_txidCeiling), durable: true);
    }
}

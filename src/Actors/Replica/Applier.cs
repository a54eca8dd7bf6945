using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Akka.Actor;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Replica;

/// <summary>
/// The actor that owns a replica file (through its <see cref="ReplicaPageWriter"/>, nothing else writes it). Applies
/// each batch as one SQLite transaction (a batch in parts stays one transaction), only when the replica's hash equals
/// the batch's pre-apply hash, and persists the position after each commit. Runs the replica side of a resync: answers
/// offers with the pages whose hashes differ, stages the pages in a local file, and applies them all as ONE
/// transaction, so readers see the old or the new database, never a mix. Verifies the file against the saved position
/// at startup.
/// </summary>
internal sealed class Applier : ReceiveActor, IWithTimers
{
    /// <summary>Apply this batch (the database actor checked its place in the sequence).</summary>
    public sealed record Apply(PageBatch Batch);

    /// <summary>Reported to the parent at startup (and after a restart): the verified position, or why there is none.
    /// <paramref name="SavedAt"/> is when the position was last saved (this machine's clock), the last moment the
    /// data is known to have been current.</summary>
    public sealed record Ready(ReplicaPosition? Position, string? Problem, DateTime? SavedAt = null);

    /// <summary>A batch was committed (or found already applied) at <paramref name="AppliedAt"/> (a Stopwatch timestamp).</summary>
    public sealed record Applied(ulong Generation, ulong FirstTxid, ulong LastTxid, ulong Hash, long Bytes, long AppliedAt);

    /// <summary>A checkpoint of the replica's WAL ran (for the checkpoint counter).</summary>
    public sealed record Checkpointed
    {
        public static readonly Checkpointed Instance = new();
    }

    /// <summary>A batch could not be applied: the replica must catch up (a lost part) or resync (a mismatch).</summary>
    public sealed record Rejected(string Reason, bool NeedsResync);

    /// <summary>Start a resync session: subsequent offers and pages with this id are accepted.</summary>
    public sealed record BeginResync(Guid Session);

    /// <summary>The session's snapshot is in the file and its hash verified.</summary>
    public sealed record ResyncDone(Guid Session, ulong Generation, ulong Txid, ulong Hash, long PagesWritten);

    /// <summary>A range of the session's pages was fetched outside the cluster's messages (for the progress view).</summary>
    public sealed record ResyncFetched(Guid Session, uint FirstPage, long Bytes);

    /// <summary>The session was given up; the file is as it was before it.</summary>
    public sealed record ResyncAborted(Guid Session, string Reason);

    /// <summary>Another connection committed to the replica: a local write.</summary>
    public sealed record LocalWriteDetected(string Detail);

    /// <summary>The replica's file was deleted or replaced under the applier: it has no position any more.</summary>
    public sealed record FileLost(string Detail);

    /// <summary>A scrub read the whole file. <paramref name="Damage"/> is set when it found pages other than the ones
    /// applied: something wrote the file behind SQLite's back (a tool editing it in place, a restore over it, a bad
    /// disk), and the replica must resync.</summary>
    public sealed record Scrubbed(ScrubView Scrub, string? Damage);

    /// <summary>The end of a fetch of a range through <see cref="ISnapshotFetcher"/>: its pages checked and staged,
    /// or why not.</summary>
    private sealed record RangeFetched(Guid Session, uint FirstPage, long Bytes, string? Failure);

    /// <summary>Once a second: notice local writes, and checkpoint the replica's WAL between batches.</summary>
    private sealed record Maintenance
    {
        public static readonly Maintenance Instance = new();
    }

    /// <summary>Every <see cref="DatabaseSettings.ScrubInterval"/>: hash the replica's file again and compare.</summary>
    private sealed record Scrub
    {
        public static readonly Scrub Instance = new();
    }

    /// <summary>The end of a scrub started at <paramref name="Txid"/>, when the applied pages hashed to
    /// <paramref name="Expected"/>: the file's own hash at that moment, or why it could not be taken.
    /// <paramref name="Scrub"/> is the scrub's cancellation, which tells this incarnation's scrub from one a previous
    /// incarnation started (a restarted actor keeps its address, so the end of a cancelled scrub still arrives).</summary>
    private sealed record ScrubDone(CancellationTokenSource? Scrub, ulong Txid, ulong Expected, FileIdentity? File, long DataVersion,
        DatabaseHash? Found, TimeSpan Took, Exception? Failure);

    /// <summary>A scrub due while a batch in parts or a resync is under way is tried again this much later, not a whole
    /// interval later.</summary>
    private static readonly TimeSpan ScrubRetryDelay = TimeSpan.FromSeconds(5);

    private readonly DatabaseSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _positionPath;
    private readonly PositionFileWriter _positionFile;
    private readonly string _stagingPath;
    private ReplicaPageWriter? _applier;
    private ReplicaPageWriter? _checkpointer;
    private Task<(int LogFrames, int CheckpointedFrames)>? _checkpoint;
    // The scrub under way, if any; cancelled when the actor stops, so a stopped applier leaves no read of its file going.
    private CancellationTokenSource? _scrub;
    // Set when a local write was reported: the file then differs from the pages applied until a resync rehashes it, and
    // a scrub would blame a tool or the disk for it.
    private bool _localWriteUnresolved;
    private DatabaseHash? _hash;
    private ReplicaPosition? _position;
    private long _dataVersion;
    private FileIdentity? _fileIdentity;

    // The batch (in parts) being applied, and whether it is followed without writing (already applied).
    private PageBatch? _open;
    private bool _skipOpen;
    private long _openBytes;

    // The resync session being staged: the pages demanded so far, the ranges whose pages are not all in yet (oldest
    // first; the primary answers demands in order), the page the next offer must start at, and the session's first
    // offer, whose snapshot every later offer must describe. The primary's source of the session gets the demands; the
    // fetches of whole ranges outside the cluster are cancelled with the session, and after one fails the rest of the
    // session's pages come through the cluster.
    private Guid? _session;
    private IActorRef _source = ActorRefs.Nobody;
    private CancellationTokenSource? _fetches;
    private bool _fetchFailed;
    private long _bytesFetched;
    private FileStream? _staging;
    private readonly List<uint> _demanded = [];
    private readonly Queue<RangeInFlight> _ranges = new();
    private uint _nextRange;
    private ResyncOffer? _firstOffer;
    // The replica's data version when the session hashed the file: another connection's commit since makes those hashes stale.
    private long? _sessionDataVersion;
    // Set when the replica file did not exist at the session's start: the staged file becomes the replica, and this is
    // its hash, taken from the pages as they are staged (created at the first offer, which tells the page size).
    private bool _replicaAbsent;
    private DatabaseHash? _newFile;

    /// <summary>An offered range: its pages' hashes as offered, the pages still missing, and the demand that answers
    /// it (null while its pages are being fetched: the demand, then empty, waits for them). Demands are sent in the
    /// order of the offers.</summary>
    private sealed class RangeInFlight(uint firstPage, ulong[] hashes, int missing)
    {
        public uint FirstPage { get; } = firstPage;
        public uint LastPage { get; } = firstPage + (uint)hashes.Length - 1;
        public ulong[] Hashes { get; } = hashes;
        public int Missing { get; set; } = missing;
        public uint[]? Demand { get; set; }
        public bool DemandSent { get; set; }
    }

    /// <summary>How many offer ranges this replica accepts ahead of its demands (see <see cref="ResyncRequest"/>).</summary>
    public const int ResyncRangesInFlight = 3;

    public Applier(DatabaseSettings settings)
    {
        _settings = settings;
        _positionPath = settings.ReplicaPositionPath;
        _positionFile = new PositionFileWriter(_positionPath);
        _stagingPath = System.IO.Path.Combine(settings.StateDirectory, "resync.pages");
        Receive<Apply>(a => ApplyBatch(a.Batch));
        Receive<BeginResync>(b => StartSession(b.Session));
        Receive<ResyncOffer>(o => o.SessionId == _session, Offer);
        Receive<ResyncPages>(p => p.SessionId == _session, Pages);
        Receive<RangeFetched>(f => f.Session == _session, Fetched);
        Receive<ResyncOffer>(_ => { });
        Receive<ResyncPages>(_ => { });
        Receive<RangeFetched>(_ => { });
        Receive<Maintenance>(_ =>
        {
            if (DetectFileLost() || DetectLocalWrite() || _open is not null) return;
            StartCheckpoint();
        });
        Receive<Scrub>(_ => StartScrub());
        Receive<ScrubDone>(done =>
        {
            if (done.Scrub != _scrub) return;
            _scrub!.Dispose();
            _scrub = null;
            ScrubFinished(done);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(DatabaseSettings settings) => Akka.Actor.Props.Create(() => new Applier(settings));

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("maintenance", Maintenance.Instance, TimeSpan.FromSeconds(1));
        var ready = Verify();
        Context.Parent.Tell(ready);
        if (_settings.ScrubInterval is not { } scrub) return;
        Timers.StartPeriodicTimer("scrub", Scrub.Instance, scrub);
        // The startup check hashed the whole file against the saved position: a scrub, and the last one for a replica
        // restarted more often than its interval. One that found the file changed while Litecast was down is an
        // unsound scrub (the status showed none); the Ready above already asks for the resync.
        if (_position is { } saved && _hash is { } found)
            Context.Parent.Tell(new Scrubbed(new ScrubView(DateTimeOffset.UtcNow, saved.Txid, found.PageCount, Sound: ready.Position is not null), null));
    }

    protected override void PostStop()
    {
        _scrub?.Cancel();
        CloseApplier();
        _positionFile.Dispose();
        CloseStaging();
    }

    /// <summary>
    /// The startup check: the saved position can be ahead of the data after a power loss, or the file can have been
    /// changed while Litecast was down. Hash the file and compare.
    /// </summary>
    private Ready Verify()
    {
        string? unreadable = null;
        try
        {
            _position = PositionFile.Read<ReplicaPosition>(_positionPath);
        }
        catch (InvalidDataException e)
        {
            // A position write torn by a power loss, or a damaged file: the primary has the truth, resync from it.
            _position = null;
            unreadable = e.Message;
        }
        if (!File.Exists(_settings.Path) || new FileInfo(_settings.Path).Length == 0)
            return new Ready(null, $"{_settings.Path} does not exist yet");
        // The resync sets an unreadable file aside (StartSession); failing here restarted the applier for ever.
        if (RehashOrUnreadable() is { } unreadableFile) return new Ready(null, unreadableFile);
        OpenApplier(_hash!.PageSize);
        if (_position is null) return new Ready(null, unreadable ?? "no saved position");
        if (_position.Hash != _hash.Value)
            return new Ready(null, $"the file's hash {_hash} differs from the saved position's {_position.Hash:x16} (txid {_position.Txid})");
        return new Ready(_position, null, File.GetLastWriteTimeUtc(_positionPath));
    }

    private void OpenApplier(int pageSize)
    {
        if (_applier is { } existing && existing.PageSize == pageSize) return;
        CloseApplier();
        // SQLite's automatic checkpoint would run inside each commit (halving apply speed for big batches): the
        // maintenance tick checkpoints on a connection of its own instead, and journal_size_limit trims the WAL file.
        // Both open the same file: the first creates it when it does not exist.
        _applier = ReplicaPageWriter.Open(_settings.Path, pageSize, checkpointOnCommit: false);
        _checkpointer = ReplicaPageWriter.Open(_settings.Path, pageSize, checkpointOnCommit: false);
        _fileIdentity = FileIdentity.Of(_settings.Path);
        _dataVersion = _applier.DataVersion();
        if (_hash is null || _hash.PageSize != pageSize)
        {
            using var connection = SqliteConnections.OpenReadOnly(_settings.Path);
            _hash = DatabaseHash.Compute(connection);
        }
    }

    /// <summary>
    /// Checkpoints the replica's WAL on the checkpointer's connection, off this actor's thread. A checkpoint ends with an
    /// fsync of the database file; run on the applier's connection, it held up the batches arriving meanwhile: lag p99
    /// at 1,000 tx/s 8-15 ms with it there, about 6 ms without it (docs/benchmarks.md). SQLite runs a PASSIVE checkpoint
    /// beside a writer. One at a time; a failed one fails the applier at the next tick, as it did inline.
    /// </summary>
    private void StartCheckpoint()
    {
        if (_checkpoint is { IsCompleted: false } || _checkpointer is not { } checkpointer) return;
        if (_checkpoint?.Exception is { } failed) ExceptionDispatchInfo.Throw(failed.InnerException ?? failed);
        if (_checkpoint is { IsCompletedSuccessfully: true, Result.LogFrames: > 0 }) Context.Parent.Tell(Checkpointed.Instance);
        _checkpoint = Task.Run(() => checkpointer.Checkpoint(truncate: false));
    }

    /// <summary>
    /// Keeps the replica's WAL within 4 × <see cref="DatabaseSettings.CheckpointThresholdPages"/> frames. The
    /// background checkpoint backfills it, but SQLite starts a WAL over only when a writer begins after a complete
    /// backfill, which batches arriving back to back never allow: a replica's WAL reached 2.9 GB for a 65 MB database
    /// (a black-box review). Past the bound, the applier truncates it itself between two batches, without waiting for
    /// readers: one still reading part of the WAL keeps it, as SQLite's own checkpoint would.
    /// </summary>
    private void BoundWal()
    {
        if (_applier is not { } applier || _checkpoint is { IsCompleted: false }) return;
        var wal = new FileInfo(WalFormat.WalPath(_settings.Path));
        if (!wal.Exists || wal.Length <= 4L * _settings.CheckpointThresholdPages * (WalFormat.FrameHeaderSize + applier.PageSize)) return;
        if (applier.TryTruncateWal()) Context.Parent.Tell(Checkpointed.Instance);
    }

    /// <summary>
    /// Hashes the whole replica file again, off this actor's thread, and compares it with the hash of the pages applied.
    /// Every batch is checked against the primary's hash as it is applied, but only through the pages it writes; a page
    /// changed behind SQLite's back (a tool editing the file in place, a bad disk) would be served to readers until a
    /// batch happened to overwrite it. The scrub's read transaction starts here, between batches, so the file it reads
    /// is exactly the one the applied hash describes; batches go on meanwhile (WAL mode keeps its snapshot).
    /// </summary>
    private void StartScrub()
    {
        if (_scrub is not null || _applier is null || _hash is null || _position is null || _localWriteUnresolved) return;
        if (_open is not null || _session is not null)
        {
            Timers.StartSingleTimer("scrub-retry", Scrub.Instance, ScrubRetryDelay);
            return;
        }
        // A hash that is not the position's was taken from a file the position does not describe (a failed startup
        // check): a resync is due, and comparing the file with itself proves nothing.
        if (_hash.Value != _position.Hash || DetectFileLost() || DetectLocalWrite()) return;
        var (txid, expected, file, dataVersion) = (_position.Txid, _hash.Value, _fileIdentity, _dataVersion);
        ReplicaScrubRead read;
        try
        {
            read = ReplicaScrubRead.Begin(_settings.Path);
        }
        catch (Exception e)
        {
            // Not a reason to fail the applier (a busy lock passes); damage is reported as such.
            ScrubFinished(new ScrubDone(null, txid, expected, file, dataVersion, null, TimeSpan.Zero, e));
            return;
        }
        var scrub = _scrub = new CancellationTokenSource();
        var cancellation = scrub.Token;
        var watch = Stopwatch.StartNew();
        Task.Run(() =>
        {
            using (read) return read.Hash(cancellation);
        }).PipeTo(Self,
            success: found => new ScrubDone(scrub, txid, expected, file, dataVersion, found, watch.Elapsed, null),
            failure: e => new ScrubDone(scrub, txid, expected, file, dataVersion, null, watch.Elapsed, e));
    }

    private void ScrubFinished(ScrubDone done)
    {
        string damage;
        uint pages;
        if (done.Found is { } found)
        {
            if (found.Value == done.Expected)
            {
                _log.Info("{Database}: scrub verified {Pages} pages at txid {Txid} in {Ms} ms", _settings.Name, found.PageCount, done.Txid,
                    (long)done.Took.TotalMilliseconds);
                Context.Parent.Tell(new Scrubbed(new ScrubView(DateTimeOffset.UtcNow, done.Txid, found.PageCount, Sound: true), null));
                return;
            }
            damage = $"{_settings.Path} hashes to {found} at txid {done.Txid}, but the pages applied give {done.Expected:x16}: " +
                     "the file was changed behind SQLite's back (a tool writing it in place, a restore over it, a bad disk)";
            pages = found.PageCount;
        }
        else if (done.Failure is { } failure && ReplicaScrubRead.IsDamage(failure))
        {
            damage = $"the scrub could not read {_settings.Path} at txid {done.Txid}: {failure.Message}";
            pages = 0;
        }
        else
        {
            _log.Warning("{Database}: the scrub of {Path} at txid {Txid} could not read the file: {Error}", _settings.Name, _settings.Path,
                done.Txid, done.Failure?.Message);
            return;
        }
        // Not this file any more, or written through SQLite by another connection meanwhile: the file-lost and
        // local-write checks report those, and a resync under way hashes the file afresh.
        if (_applier is null || _session is not null || _localWriteUnresolved ||
            FileIdentity.Of(_settings.Path) != done.File || _applier.DataVersion() != done.DataVersion) return;
        _log.Error("{Database}: {Detail}; resyncing", _settings.Name, damage);
        Context.Parent.Tell(new Scrubbed(new ScrubView(DateTimeOffset.UtcNow, done.Txid, pages, Sound: false), damage));
    }

    /// <summary>Closes the applier's and the checkpointer's connections, once a checkpoint under way has ended: before
    /// the file is replaced, deleted or opened again.</summary>
    private void CloseApplier()
    {
        try
        {
            _checkpoint?.Wait();
        }
        catch (AggregateException e)
        {
            _log.Warning("{Database}: a checkpoint of the replica's WAL failed: {Error}", _settings.Name, e.InnerException?.Message);
        }
        _checkpoint = null;
        _checkpointer?.Dispose();
        _checkpointer = null;
        _applier?.Dispose();
        _applier = null;
    }

    /// <summary>
    /// True (and reported) when the file the applier writes is no longer the one at the replica's path: deleted (the
    /// usual way to force a fresh copy) or replaced. The applier would go on writing an unlinked file that no reader can
    /// open; instead it forgets the file and its position, and the database actor resyncs into a new one.
    /// </summary>
    private bool DetectFileLost()
    {
        if (_applier is null || FileIdentity.Of(_settings.Path) == _fileIdentity) return false;
        var detail = $"{_settings.Path} was deleted or replaced while Litecast was applying to it";
        _log.Error("{Database}: {Detail}; resyncing into a new file", _settings.Name, detail);
        AbandonOpen();
        CloseApplier();
        _hash = null;
        _position = null;
        Context.Parent.Tell(new FileLost(detail));
        return true;
    }

    /// <summary>True (and reported) when another connection committed to the replica since the last check.</summary>
    private bool DetectLocalWrite()
    {
        if (_applier is null || _open is not null) return false;
        var version = _applier.DataVersion();
        if (version == _dataVersion) return false;
        _dataVersion = version;
        var detail = $"{_settings.Path} was written by another connection; replicas are read-only (open them with mode=ro)";
        _log.Error("LOCAL WRITE on replica {Database}: {Detail}", _settings.Name, detail);
        _localWriteUnresolved = true;
        Context.Parent.Tell(new LocalWriteDetected(detail));
        return true;
    }

    private void ApplyBatch(PageBatch batch)
    {
        if (_applier is null || _hash is null || _position is null || batch.PageSize != _applier.PageSize)
        {
            Reject($"the replica has no position for batch {batch.FirstTxid}..{batch.LastTxid}", needsResync: true);
            return;
        }
        // Already applied (a catch-up resent it): nothing to do, and no reason for alarm.
        if (batch.Generation == _position.Generation && batch.LastTxid <= _position.Txid && _open?.FirstTxid != batch.FirstTxid) return;
        if (batch.Part == 0)
        {
            AbandonOpen();
            // Checked at each batch, not only on the maintenance tick: the batches of the second after a deletion went
            // into the unlinked file, and its open readers, promised a copy frozen where it was deleted, saw them.
            if (DetectFileLost() || DetectLocalWrite()) return;
            // A hash equal to the post-apply hash means the batch is already applied (a restart after the commit but
            // before the position was saved); only the last part carries that hash, so such a batch is followed to
            // its end without writing.
            _skipOpen = _hash.Value != batch.PreHash;
            _openBytes = 0;
            if (!_skipOpen) _applier.Begin();
        }
        else if (_open is not { } open || open.FirstTxid != batch.FirstTxid || open.Generation != batch.Generation || open.Part + 1 != batch.Part)
        {
            AbandonOpen();
            Reject($"part {batch.Part} of batch {batch.FirstTxid}..{batch.LastTxid} arrived out of sequence", needsResync: false);
            return;
        }
        _open = batch;
        var last = batch.Part == batch.PartCount - 1;
        if (_skipOpen)
        {
            if (!last) return;
            _open = null;
            if (_hash.Value == batch.PostHash) Commit(batch, skipped: true);
            else Reject($"the replica's hash {_hash} matches neither side of batch {batch.FirstTxid}..{batch.LastTxid} " +
                        $"(pre {batch.PreHash:x16}, post {batch.PostHash:x16})", needsResync: true);
            return;
        }
        _applier.Write(batch.Pages);
        foreach (var page in batch.Pages)
        {
            _hash.SetPage(page.PageNumber, page.Data);
            _openBytes += page.Data.Length;
        }
        if (!last) return;

        _open = null;
        _hash.SetPageCount(batch.PageCount);
        if (_hash.Value != batch.PostHash)
        {
            _applier.Rollback();
            RehashFromFile();
            Reject($"batch {batch.FirstTxid}..{batch.LastTxid} would leave hash {batch.PostHash:x16} on the primary but gives {_hash} here", needsResync: true);
            return;
        }
        _applier.Commit(batch.PageCount);
        BoundWal();
        Commit(batch, skipped: false);
    }

    private void Reject(string reason, bool needsResync)
    {
        _log.Warning("{Database}: {Reason}", _settings.Name, reason);
        Context.Parent.Tell(new Rejected(reason, needsResync));
    }

    private void Commit(PageBatch batch, bool skipped)
    {
        _position = new ReplicaPosition(batch.Generation, batch.LastTxid, _hash!.Value, batch.PageSize, batch.PageCount);
        _positionFile.Write(_position, durable: false);
        if (skipped) _log.Info("{Database}: batch {First}..{Last} was already applied", _settings.Name, batch.FirstTxid, batch.LastTxid);
        Context.Parent.Tell(new Applied(batch.Generation, batch.FirstTxid, batch.LastTxid, _hash.Value, skipped ? 0 : _openBytes,
            Stopwatch.GetTimestamp()));
    }

    private void AbandonOpen()
    {
        if (_open is null) return;
        if (!_skipOpen)
        {
            _applier?.Rollback();
            RehashFromFile();
        }
        _open = null;
    }

    private void RehashFromFile()
    {
        using var connection = SqliteConnections.OpenReadOnly(_settings.Path);
        _hash = DatabaseHash.Compute(connection);
        _localWriteUnresolved = false;
    }

    /// <summary>Hashes the file as it is (<see cref="RehashFromFile"/>); null when that worked, else why SQLite cannot
    /// read it as a database.</summary>
    private string? RehashOrUnreadable()
    {
        try
        {
            RehashFromFile();
            return null;
        }
        catch (Exception e) when (ReplicaScrubRead.IsDamage(e))
        {
            return $"{_settings.Path} cannot be read as a database ({e.Message})";
        }
    }

    /// <summary>
    /// Moves a replica file SQLite cannot read (with its WAL) into the state directory, so the resync makes the replica
    /// anew at the path. Kept, not deleted: the path may name a file that is not Litecast's. Readers that have it open
    /// keep what they have, which they could not read either.
    /// </summary>
    private void SetAside(string reason)
    {
        CloseApplier();
        _hash = null;
        Directory.CreateDirectory(_settings.StateDirectory);
        var aside = System.IO.Path.Combine(_settings.StateDirectory, $"unreadable-{DateTime.UtcNow:yyyyMMdd'T'HHmmss.fff'Z'}.db");
        File.Move(_settings.Path, aside);
        if (File.Exists(_settings.Path + "-wal")) File.Move(_settings.Path + "-wal", aside + "-wal");
        File.Delete(_settings.Path + "-shm");
        _log.Warning("{Database}: {Reason}; moved it to {Aside}, the resync makes the replica anew", _settings.Name, reason, aside);
    }

    private void StartSession(Guid session)
    {
        AbandonOpen();
        CloseStaging();
        _session = session;
        _source = ActorRefs.Nobody;
        _fetches = new CancellationTokenSource();
        _fetchFailed = false;
        _bytesFetched = 0;
        _demanded.Clear();
        _firstOffer = null;
        _nextRange = 1;
        _newFile = null;
        // Compare against the file as it is, not as the applier last left it: a local write changed pages behind the
        // in-memory hashes. The data version is taken first, so a write during the rehash shows as a change.
        _sessionDataVersion = _applier?.DataVersion();
        if (File.Exists(_settings.Path) && new FileInfo(_settings.Path).Length > 0 && RehashOrUnreadable() is { } unreadable)
            SetAside(unreadable);
        // No file at all (an empty file may be held open by a process that created it): nothing can be reading the
        // replica, so the staged file can become it whole (see Install).
        _replicaAbsent = !File.Exists(_settings.Path);
        Directory.CreateDirectory(_settings.StateDirectory);
        // CloseStaging deleted the name, and CreateNew never truncates: after a crash between Install's link and its
        // unlink, this name was a second link to the replica's own file.
        _staging = new FileStream(_stagingPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
    }

    private void Offer(ResyncOffer offer)
    {
        if (_firstOffer is { } first && (first.Generation, first.Txid, first.PageSize, first.PageCount, first.Hash) !=
            (offer.Generation, offer.Txid, offer.PageSize, offer.PageCount, offer.Hash))
        {
            Abort($"offer for range {offer.FirstPage} describes another snapshot than the session's first offer");
            return;
        }
        if (offer.FirstPage != _nextRange || offer.PageHashes.Length == 0)
        {
            Abort($"offer for range {offer.FirstPage} ({offer.PageHashes.Length} pages) where range {_nextRange} was expected");
            return;
        }
        if (_hash is not null && _hash.PageSize != offer.PageSize && File.Exists(_settings.Path) && new FileInfo(_settings.Path).Length > 0)
        {
            Abort($"the replica file has page size {_hash.PageSize} but the primary's is {offer.PageSize}; move {_settings.Path} away to resync it");
            return;
        }
        if (_firstOffer is null && _replicaAbsent) _newFile = new DatabaseHash(offer.PageSize);
        _firstOffer ??= offer;
        _source = Sender;
        var demand = new List<uint>();
        // Without a file of the same page size, every page is demanded.
        var local = _newFile is null && _hash is { } hash && hash.PageSize == offer.PageSize ? hash : null;
        for (var i = 0; i < offer.PageHashes.Length; i++)
        {
            var pageNumber = offer.FirstPage + (uint)i;
            if (local is null || pageNumber > local.PageCount || local.PageHashAt(pageNumber) != offer.PageHashes[i]) demand.Add(pageNumber);
        }
        _demanded.AddRange(demand);
        var range = new RangeInFlight(offer.FirstPage, offer.PageHashes, demand.Count);
        _ranges.Enqueue(range);
        _nextRange = range.LastPage + 1;
        if (demand.Count == offer.PageHashes.Length && _settings.SnapshotFetcher is { } fetcher && !_fetchFailed) Fetch(fetcher, range, offer.PageSize);
        else range.Demand = demand.ToArray();
        SendDemands();
        CompleteRanges();
    }

    /// <summary>Fetches a range the replica needs whole outside the cluster's messages and stages it, off the actor's
    /// thread; its demand (empty) is sent once the pages are in, which is what lets the primary offer a further range.
    /// </summary>
    private void Fetch(ISnapshotFetcher fetcher, RangeInFlight range, int pageSize)
    {
        var session = _session!.Value;
        var first = range.FirstPage;
        var bytes = (long)range.Hashes.Length * pageSize;
        FetchedRange.StageAsync(fetcher, session, first, range.Hashes, pageSize, _staging!.SafeFileHandle, _fetches!.Token)
            .PipeTo(Self, success: () => new RangeFetched(session, first, bytes, null),
                failure: e => new RangeFetched(session, first, bytes, e.GetBaseException().Message));
    }

    /// <summary>
    /// A fetch ended: its pages were checked against the hashes the primary offered and staged, or it failed. A range
    /// that failed or does not check is asked for through the cluster instead, and so is the rest of the session (an
    /// older primary has no endpoint for it; a network or a proxy that fails once is likely to again).
    /// </summary>
    private void Fetched(RangeFetched fetched)
    {
        var range = _ranges.FirstOrDefault(r => r.FirstPage == fetched.FirstPage && r.Demand is null);
        if (range is null) { Abort($"pages for range {fetched.FirstPage} were fetched, which no offer awaits"); return; }
        if (fetched.Failure is { } problem)
        {
            if (!_fetchFailed)
                _log.Warning("{Database}: fetching resync pages from the primary failed ({Reason}); the rest of resync {Session} comes through the cluster",
                    _settings.Name, problem, fetched.Session);
            _fetchFailed = true;
            range.Demand = Enumerable.Range(0, range.Hashes.Length).Select(i => range.FirstPage + (uint)i).ToArray();
            SendDemands();
            return;
        }
        for (var i = 0; i < range.Hashes.Length; i++) _newFile?.SetPageHash(range.FirstPage + (uint)i, range.Hashes[i]);
        range.Missing = 0;
        range.Demand = [];
        _bytesFetched += fetched.Bytes;
        Context.Parent.Tell(new ResyncFetched(fetched.Session, range.FirstPage, fetched.Bytes));
        SendDemands();
        CompleteRanges();
    }

    /// <summary>Sends the demands that are ready, in the order of the offers: one waiting for its fetch holds back the
    /// later ones, since the primary takes demands in order.</summary>
    private void SendDemands()
    {
        foreach (var range in _ranges)
        {
            if (range.DemandSent) continue;
            if (range.Demand is null) return;
            _source.Tell(new ResyncDemand(_session!.Value, range.FirstPage, range.Demand));
            range.DemandSent = true;
        }
    }

    private void Pages(ResyncPages pages)
    {
        // A message without pages (allowed: a range of which nothing was demanded) completes nothing; its range may
        // already be done.
        if (pages.Pages.Count == 0) return;
        if (!_ranges.TryPeek(out var range) || pages.FirstPage != range.FirstPage)
        {
            Abort($"pages for range {pages.FirstPage} arrived while {(_ranges.Count > 0 ? $"range {range!.FirstPage}" : "no range")} awaits pages");
            return;
        }
        var pageSize = _firstOffer!.PageSize;
        // Pages with consecutive numbers (all of them in a full resync) are staged with one vectored write: a write
        // per 4 KiB page cost a system call per page, about a second of the replica's CPU per GiB.
        var run = new List<ReadOnlyMemory<byte>>(pages.Pages.Count);
        var runStart = 0u;
        foreach (var page in pages.Pages)
        {
            if (page.Data.Length != pageSize) { Abort($"page {page.PageNumber} is {page.Data.Length} bytes, expected {pageSize}"); return; }
            if (page.PageNumber < range.FirstPage || page.PageNumber > range.LastPage)
            {
                Abort($"page {page.PageNumber} arrived for range {range.FirstPage}..{range.LastPage}");
                return;
            }
            if (run.Count > 0 && page.PageNumber != runStart + (uint)run.Count) StageRun(run, runStart, pageSize);
            if (run.Count == 0) runStart = page.PageNumber;
            run.Add(page.Data);
            _newFile?.SetPage(page.PageNumber, page.Data);
        }
        StageRun(run, runStart, pageSize);
        range.Missing -= pages.Pages.Count;
        if (range.Missing < 0) { Abort("more pages arrived than were demanded"); return; }
        CompleteRanges();
    }

    /// <summary>Writes pages <paramref name="first"/>.. at their offsets in the staging file, and empties the run.</summary>
    private void StageRun(List<ReadOnlyMemory<byte>> run, uint first, int pageSize)
    {
        if (run.Count == 0) return;
        RandomAccess.Write(_staging!.SafeFileHandle, run, (long)(first - 1) * pageSize);
        FileWriteback.Start(_staging.SafeFileHandle, (long)(first - 1) * pageSize, (long)run.Count * pageSize);
        run.Clear();
    }

    /// <summary>Drops the ranges whose pages are all in; after the last range, finishes the session.</summary>
    private void CompleteRanges()
    {
        while (_ranges.TryPeek(out var range) && range.Missing == 0 && range.DemandSent) _ranges.Dequeue();
        if (_ranges.Count == 0 && _firstOffer is { } offer && _nextRange > offer.PageCount) Finish(offer);
    }

    /// <summary>Turns the staged pages into the replica: installs the staged file when there was none, else applies
    /// the pages as ONE transaction. Either way the result's hash is checked before any reader can see it.</summary>
    private void Finish(ResyncOffer offer)
    {
        var clock = Stopwatch.StartNew();
        var session = _session!.Value;
        var pagesWritten = _demanded.Count;
        // When a file appeared at the path during the session, the pages go into that file through SQLite.
        var done = _newFile is null ? ApplyStaged(offer) : Install(_newFile, offer) switch
        {
            Installation.Installed => true,
            Installation.PathTaken => ApplyStaged(offer),
            _ => false,
        };
        CloseStaging();
        _session = null;
        if (!done)
        {
            Context.Parent.Tell(new ResyncAborted(session, $"the staged pages do not give the primary's snapshot hash {offer.Hash:x16}; the replica was left as it was"));
            return;
        }
        _log.Info("{Database}: resync of {Pages} pages made the replica in {Seconds:F2} s after its last page ({Fetched} bytes of them fetched from the primary's admin endpoint)",
            _settings.Name, pagesWritten, clock.Elapsed.TotalSeconds, _bytesFetched);
        _position = new ReplicaPosition(offer.Generation, offer.Txid, _hash!.Value, offer.PageSize, offer.PageCount);
        _positionFile.Write(_position, durable: true);
        Context.Parent.Tell(new ResyncDone(session, offer.Generation, offer.Txid, _hash.Value, pagesWritten));
    }

    /// <summary>
    /// The replica file did not exist when the session started: the staged file, holding every page at its offset, IS
    /// the new database. It is checked against the snapshot's hash, made durable, and linked into place only if the
    /// path is still free (File.Move without overwrite links, which fails when a file appeared meanwhile): no reader
    /// could have had the replica open, and a reader opening it now finds the whole database. Writing 1 GiB through
    /// sqlite_dbpage and checkpointing it again cost more than the whole transfer. <see cref="Installation.PathTaken"/>
    /// when a file appeared at the path: the caller applies the pages into it through SQLite instead.
    /// </summary>
    private Installation Install(DatabaseHash newFile, ResyncOffer offer)
    {
        newFile.SetPageCount(offer.PageCount);
        if (newFile.Value != offer.Hash)
        {
            _log.Warning("{Database}: the staged resync gives hash {Wrong}, not the snapshot's {Expected:x16}; nothing was installed",
                _settings.Name, newFile, offer.Hash);
            return Installation.HashMismatch;
        }
        var staging = _staging!;
        staging.SetLength((long)offer.PageCount * offer.PageSize);
        staging.Flush(flushToDisk: true);
        // Closed before the file becomes the database: closing a descriptor of a database file drops every POSIX lock
        // this process holds on it, SQLite's included.
        staging.Dispose();
        _staging = null;
        // A WAL and wal-index left by an earlier database at this path would be taken for the new one's by the next
        // connection. A process that still has that deleted database open keeps its own (unlinked) copies of them.
        foreach (var suffix in new[] { "-wal", "-shm" }) File.Delete(_settings.Path + suffix);
        try
        {
            File.Move(_stagingPath, _settings.Path, overwrite: false);
        }
        catch (IOException) when (File.Exists(_settings.Path))
        {
            _log.Warning("{Database}: {Path} appeared during the resync; applying the staged pages into it", _settings.Name, _settings.Path);
            _staging = new FileStream(_stagingPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            return Installation.PathTaken;
        }
        ForgetReplacedFile();
        _hash = newFile;
        OpenApplier(offer.PageSize);
        _dataVersion = _applier!.DataVersion();
        return Installation.Installed;
    }

    private enum Installation { Installed, HashMismatch, PathTaken }

    /// <summary>
    /// Applies the staged pages and the new size as ONE transaction; commits only when the result's hash is the
    /// snapshot's, so readers never see a replica the resync got wrong. False (nothing changed) on a mismatch.
    /// </summary>
    private bool ApplyStaged(ResyncOffer offer)
    {
        ForgetReplacedFile();
        OpenApplier(offer.PageSize);
        var applier = _applier!;
        applier.Begin();
        try
        {
            // The demands compared the primary's hashes with the file's at the session's start; if another connection
            // committed since, the in-memory hashes are stale: take them from the file as it is now, which the write
            // lock held since Begin keeps so until the commit. (That local write was reported when the maintenance
            // tick saw it, or is superseded by this resync.)
            _dataVersion = applier.DataVersion();
            if (_sessionDataVersion != _dataVersion) RehashFromFile();
            var buffer = new List<PageImage>(256);
            foreach (var pageNumber in _demanded)
            {
                var data = new byte[offer.PageSize];
                RandomAccess.Read(_staging!.SafeFileHandle, data, (long)(pageNumber - 1) * offer.PageSize);
                buffer.Add(new PageImage(pageNumber, data));
                _hash!.SetPage(pageNumber, data);
                if (buffer.Count == 256) { applier.Write(buffer); buffer.Clear(); }
            }
            applier.Write(buffer);
            _hash!.SetPageCount(offer.PageCount);
            if (_hash.Value != offer.Hash)
            {
                applier.Rollback();
                var wrong = _hash;
                RehashFromFile();
                _log.Warning("{Database}: the staged resync gives hash {Wrong}, not the snapshot's {Expected:x16}; nothing was applied",
                    _settings.Name, wrong, offer.Hash);
                return false;
            }
            applier.Commit(offer.PageCount);
            return true;
        }
        catch
        {
            applier.Rollback();
            RehashFromFile();
            throw;
        }
    }

    /// <summary>
    /// Drops the applier's connection when the file at the replica's path is no longer the one it has open (deleted
    /// during the session, before the maintenance tick noticed, and then installed or created anew): the pages must go
    /// into the file readers open, never into an unlinked one.
    /// </summary>
    private void ForgetReplacedFile()
    {
        if (_applier is null || FileIdentity.Of(_settings.Path) == _fileIdentity) return;
        CloseApplier();
        _hash = null;
    }

    private void Abort(string reason)
    {
        var session = _session!.Value;
        CloseStaging();
        _session = null;
        Context.Parent.Tell(new ResyncAborted(session, reason));
    }

    private void CloseStaging()
    {
        _fetches?.Cancel();
        _fetches?.Dispose();
        _fetches = null;
        _staging?.Dispose();
        _staging = null;
        _ranges.Clear();
        try { File.Delete(_stagingPath); }
        catch (IOException) { }
    }
}

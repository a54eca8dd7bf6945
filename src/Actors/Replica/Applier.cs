using System.Diagnostics;
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

    /// <summary>A batch could not be applied: the replica must catch up (a lost part) or resync (a mismatch).</summary>
    public sealed record Rejected(string Reason, bool NeedsResync);

    /// <summary>Start a resync session: subsequent offers and pages with this id are accepted.</summary>
    public sealed record BeginResync(Guid Session);

    /// <summary>The session's snapshot is in the file and its hash verified.</summary>
    public sealed record ResyncDone(Guid Session, ulong Generation, ulong Txid, ulong Hash, long PagesWritten);

    /// <summary>The session was given up; the file is as it was before it.</summary>
    public sealed record ResyncAborted(Guid Session, string Reason);

    /// <summary>Another connection committed to the replica: a local write.</summary>
    public sealed record LocalWriteDetected(string Detail);

    /// <summary>The replica's file was deleted or replaced under the applier: it has no position any more.</summary>
    public sealed record FileLost(string Detail);

    /// <summary>Once a second: notice local writes, and checkpoint the replica's WAL between batches.</summary>
    private sealed record Maintenance
    {
        public static readonly Maintenance Instance = new();
    }

    private readonly DatabaseSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _positionPath;
    private readonly PositionFileWriter _positionFile;
    private readonly string _stagingPath;
    private ReplicaPageWriter? _applier;
    private DatabaseHash? _hash;
    private ReplicaPosition? _position;
    private long _dataVersion;
    private FileIdentity? _fileIdentity;

    // The batch (in parts) being applied, and whether it is followed without writing (already applied).
    private PageBatch? _open;
    private bool _skipOpen;
    private long _openBytes;

    // The resync session being staged.
    private Guid? _session;
    private FileStream? _staging;
    private readonly List<uint> _demanded = [];
    private int _pendingInRange;
    private ResyncOffer? _lastOffer;

    public Applier(DatabaseSettings settings)
    {
        _settings = settings;
        _positionPath = System.IO.Path.Combine(settings.StateDirectory, "replica.json");
        _positionFile = new PositionFileWriter(_positionPath);
        _stagingPath = System.IO.Path.Combine(settings.StateDirectory, "resync.pages");
        Receive<Apply>(a => ApplyBatch(a.Batch));
        Receive<BeginResync>(b => StartSession(b.Session));
        Receive<ResyncOffer>(o => o.SessionId == _session, Offer);
        Receive<ResyncPages>(p => p.SessionId == _session, Pages);
        Receive<ResyncOffer>(_ => { });
        Receive<ResyncPages>(_ => { });
        Receive<Maintenance>(_ =>
        {
            if (DetectFileLost() || DetectLocalWrite() || _open is not null) return;
            _applier?.Checkpoint(truncate: false);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(DatabaseSettings settings) => Akka.Actor.Props.Create(() => new Applier(settings));

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("maintenance", Maintenance.Instance, TimeSpan.FromSeconds(1));
        Context.Parent.Tell(Verify());
    }

    protected override void PostStop()
    {
        _applier?.Dispose();
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
        using (var connection = SqliteConnections.OpenReadOnly(_settings.Path))
            _hash = DatabaseHash.Compute(connection);
        OpenApplier(_hash.PageSize);
        if (_position is null) return new Ready(null, unreadable ?? "no saved position");
        if (_position.Hash != _hash.Value)
            return new Ready(null, $"the file's hash {_hash} differs from the saved position's {_position.Hash:x16} (txid {_position.Txid})");
        return new Ready(_position, null, File.GetLastWriteTimeUtc(_positionPath));
    }

    private void OpenApplier(int pageSize)
    {
        if (_applier is { } existing && existing.PageSize == pageSize) return;
        _applier?.Dispose();
        // SQLite's automatic checkpoint would run inside each commit (halving apply speed for big batches): the
        // maintenance tick checkpoints between batches instead, and journal_size_limit trims the WAL file.
        _applier = ReplicaPageWriter.Open(_settings.Path, pageSize, checkpointOnCommit: false);
        _fileIdentity = FileIdentity.Of(_settings.Path);
        _dataVersion = _applier.DataVersion();
        if (_hash is null || _hash.PageSize != pageSize)
        {
            using var connection = SqliteConnections.OpenReadOnly(_settings.Path);
            _hash = DatabaseHash.Compute(connection);
        }
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
        _applier.Dispose();
        _applier = null;
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
            if (DetectLocalWrite()) return;
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
    }

    private void StartSession(Guid session)
    {
        AbandonOpen();
        CloseStaging();
        _session = session;
        _demanded.Clear();
        // Compare against the file as it is, not as the applier last left it: a local write changed pages behind the
        // in-memory hashes.
        if (File.Exists(_settings.Path) && new FileInfo(_settings.Path).Length > 0) RehashFromFile();
        _lastOffer = null;
        Directory.CreateDirectory(_settings.StateDirectory);
        _staging = new FileStream(_stagingPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16);
    }

    private void Offer(ResyncOffer offer)
    {
        if (_pendingInRange > 0)
        {
            Abort($"offer for range {offer.FirstPage} arrived while {_pendingInRange} pages of the previous range are missing");
            return;
        }
        if (_hash is not null && _hash.PageSize != offer.PageSize && File.Exists(_settings.Path) && new FileInfo(_settings.Path).Length > 0)
        {
            Abort($"the replica file has page size {_hash.PageSize} but the primary's is {offer.PageSize}; move {_settings.Path} away to resync it");
            return;
        }
        _lastOffer = offer;
        var demand = new List<uint>();
        // Without a file of the same page size, every page is demanded.
        var local = _hash is { } hash && hash.PageSize == offer.PageSize ? hash : null;
        for (var i = 0; i < offer.PageHashes.Length; i++)
        {
            var pageNumber = offer.FirstPage + (uint)i;
            if (local is null || pageNumber > local.PageCount || local.PageHashAt(pageNumber) != offer.PageHashes[i]) demand.Add(pageNumber);
        }
        _demanded.AddRange(demand);
        _pendingInRange = demand.Count;
        Sender.Tell(new ResyncDemand(offer.SessionId, offer.FirstPage, demand.ToArray()));
        if (demand.Count == 0) RangeComplete(offer);
    }

    private void Pages(ResyncPages pages)
    {
        var offer = _lastOffer;
        if (offer is null || pages.FirstPage != offer.FirstPage)
        {
            Abort($"pages for range {pages.FirstPage} arrived without its offer");
            return;
        }
        foreach (var page in pages.Pages)
        {
            if (page.Data.Length != offer.PageSize) { Abort($"page {page.PageNumber} is {page.Data.Length} bytes, expected {offer.PageSize}"); return; }
            RandomAccess.Write(_staging!.SafeFileHandle, page.Data, (long)(page.PageNumber - 1) * offer.PageSize);
        }
        _pendingInRange -= pages.Pages.Count;
        if (_pendingInRange < 0) { Abort("more pages arrived than were demanded"); return; }
        if (_pendingInRange == 0) RangeComplete(offer);
    }

    private void RangeComplete(ResyncOffer offer)
    {
        var lastPage = offer.FirstPage + (uint)offer.PageHashes.Length - 1;
        if (lastPage < offer.PageCount) return;
        Finish(offer);
    }

    /// <summary>Applies every staged page and the new size as ONE transaction, then checks the result's hash.</summary>
    private void Finish(ResyncOffer offer)
    {
        OpenApplier(offer.PageSize);
        var applier = _applier!;
        _dataVersion = applier.DataVersion();
        applier.Begin();
        try
        {
            var buffer = new List<PageImage>(256);
            foreach (var pageNumber in _demanded)
            {
                var data = new byte[offer.PageSize];
                RandomAccess.Read(_staging!.SafeFileHandle, data, (long)(pageNumber - 1) * offer.PageSize);
                buffer.Add(new PageImage(pageNumber, data));
                if (buffer.Count == 256) { applier.Write(buffer); buffer.Clear(); }
            }
            applier.Write(buffer);
            applier.Commit(offer.PageCount);
        }
        catch
        {
            applier.Rollback();
            throw;
        }
        RehashFromFile();
        var pagesWritten = _demanded.Count;
        var session = _session!.Value;
        CloseStaging();
        _session = null;
        if (_hash!.Value != offer.Hash)
        {
            Context.Parent.Tell(new ResyncAborted(session, $"after the resync the replica's hash is {_hash} but the primary's snapshot is {offer.Hash:x16}"));
            return;
        }
        _position = new ReplicaPosition(offer.Generation, offer.Txid, _hash.Value, offer.PageSize, offer.PageCount);
        _positionFile.Write(_position, durable: true);
        Context.Parent.Tell(new ResyncDone(session, offer.Generation, offer.Txid, _hash.Value, pagesWritten));
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
        _staging?.Dispose();
        _staging = null;
        _pendingInRange = 0;
        try { File.Delete(_stagingPath); }
        catch (IOException) { }
    }
}

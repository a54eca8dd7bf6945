using Akka.Actor;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// Serves one replica's resync from a snapshot file: offers the per-page hashes of a range of pages; the replica
/// answers with the pages it lacks; only then are those pages sent, followed by a further range's offer. The replica's
/// demands are the flow control: at most <see cref="ResyncRequest.RangesInFlight"/> ranges are in flight. With one, the
/// link idled while each range's last pages, the demand and the next offer crossed it (about 110 MB/s on loopback);
/// a few overlap those gaps. Many more do not help: 64 MiB in flight was slower than 4 (the remote endpoint's queue
/// and the garbage collector absorb the burst). Ranges are offered while the snapshot is still being copied (the hashes
/// are the stream's); pages are read from the file only once the copy has passed them, so a demand for pages ahead of
/// it waits (stashed) for the copy. Deletes the snapshot file when done, failed or abandoned.
/// </summary>
internal sealed class ResyncSource : ReceiveActor, IWithUnboundedStash
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    private readonly Guid _session;
    private readonly IActorRef _replica;
    private readonly WalTailer.SnapshotTaken _snapshot;
    private readonly int _rangePages;
    private readonly int _pagesPerMessage;
    private readonly int _rangesInFlight;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private FileStream? _file;
    // First pages of the ranges offered and not demanded yet, in order; and the first page of the next range to offer.
    private readonly Queue<uint> _offered = new();
    private uint _nextOffer = 1;

    public ResyncSource(Guid session, IActorRef replica, WalTailer.SnapshotTaken snapshot, int maxPartBytes, int rangesInFlight)
    {
        _session = session;
        _replica = replica;
        _snapshot = snapshot;
        _rangesInFlight = Math.Max(1, rangesInFlight);
        var pageSize = snapshot.Info.PageSize;
        _pagesPerMessage = Math.Max(1, maxPartBytes / pageSize);
        _rangePages = Math.Max(_pagesPerMessage, 4 * 1024 * 1024 / pageSize);
        Serving();
    }

    /// <summary>The copy has passed the pages of the demand that waited for it. A session that ended before its copy
    /// (a delta resync that needed no pages) still hears of the copy's end: not a dead letter worth a warning.</summary>
    private sealed record CopyReached : IDeadLetterSuppression
    {
        public static readonly CopyReached Instance = new();
    }

    /// <summary>The snapshot cannot be served: its copy failed, or the file contradicted the stream.</summary>
    private sealed record CopyFailed(Exception Failure) : IDeadLetterSuppression;

    public IStash Stash { get; set; } = null!;

    private void Serving()
    {
        Receive<ResyncDemand>(d => d.SessionId == _session, Demand);
        Receive<CopyReached>(_ => { });
        CommonHandlers();
    }

    /// <summary>A demand for pages the copy has not reached yet was stashed; later demands wait behind it.</summary>
    private void WaitingForCopy()
    {
        Receive<ResyncDemand>(d => d.SessionId == _session, _ => Stash.Stash());
        Receive<CopyReached>(_ =>
        {
            Become(Serving);
            Stash.UnstashAll();
        });
        CommonHandlers();
    }

    private void CommonHandlers()
    {
        Receive<FindResyncSnapshot>(find =>
        {
            Context.Parent.Tell(new Sent(find.To - find.From + 1 ?? _snapshot.Copy.Length));
            Sender.Tell(new ResyncSnapshotFile(_snapshot.File, _snapshot.Copy.WhenCopied(find.To + 1 ?? _snapshot.Copy.Length), _snapshot.Copy.Length));
        });
        Receive<CopyFailed>(failed => Fail($"the snapshot cannot be served: {failed.Failure.Message}"));
        // The replica gave the session up (its file cannot take this snapshot): the snapshot's file goes at once.
        Receive<ResyncFailed>(f => f.SessionId == _session, f =>
        {
            _log.Info("Resync {Session} given up by the replica: {Reason}", _session, f.Reason);
            Context.Stop(Self);
        });
        Receive<ReceiveTimeout>(_ =>
        {
            _log.Warning("Resync {Session} abandoned: the replica sent no demand for {Timeout}", _session, IdleTimeout);
            Context.Stop(Self);
        });
    }

    /// <summary>Told to the parent after each message of pages, and for each range the admin endpoint serves: the
    /// bytes sent (for the resync byte counter).</summary>
    public sealed record Sent(long Bytes);

    /// <summary>The most ranges kept in flight, whatever a replica asks for (4 MiB each at 4 KiB pages).</summary>
    public const int MaxRangesInFlight = 4;

    public static Props Props(Guid session, IActorRef replica, WalTailer.SnapshotTaken snapshot, int maxPartBytes, int rangesInFlight) =>
        Akka.Actor.Props.Create(() => new ResyncSource(session, replica, snapshot, maxPartBytes, Math.Min(rangesInFlight, MaxRangesInFlight)));

    protected override void PreStart()
    {
        _file = new FileStream(_snapshot.File, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.RandomAccess);
        Context.SetReceiveTimeout(IdleTimeout);
        // A copy that fails ends the session at once, not only when a demand or a fetch runs into it.
        _snapshot.Copy.WhenCopied(_snapshot.Copy.Length).PipeTo(Self, success: () => CopyReached.Instance, failure: e => new CopyFailed(e));
        while (_offered.Count < _rangesInFlight && Offer()) { }
    }

    protected override void PostStop()
    {
        _file?.Dispose();
        try { File.Delete(_snapshot.File); }
        catch (IOException e) { _log.Warning("Could not delete snapshot {File}: {Error}", _snapshot.File, e.Message); }
    }

    private uint PageCount => _snapshot.Info.PageCount;

    private uint RangeEnd(uint start) => start + (uint)Math.Min(_rangePages, PageCount - start + 1) - 1;

    /// <summary>Offers the next range; false when every range was offered.</summary>
    private bool Offer()
    {
        if (_nextOffer > PageCount) return false;
        var start = _nextOffer;
        var hashes = _snapshot.Info.Hash.PageHashes(start, (int)(RangeEnd(start) - start + 1));
        _replica.Tell(new ResyncOffer(_session, _snapshot.Generation, _snapshot.Txid, _snapshot.Info.PageSize, PageCount,
            _snapshot.Info.Hash.Value, start, hashes));
        _offered.Enqueue(start);
        _nextOffer = RangeEnd(start) + 1;
        return true;
    }

    private void Demand(ResyncDemand demand)
    {
        if (!_offered.TryPeek(out var rangeStart) || demand.FirstPage != rangeStart)
        {
            Fail($"demand for range {demand.FirstPage} while range {(_offered.Count > 0 ? rangeStart : "none")} is the oldest offered");
            return;
        }
        var rangeEnd = RangeEnd(rangeStart);
        var last = rangeEnd == PageCount;
        var pageSize = _snapshot.Info.PageSize;
        if (demand.PageNumbers.Length > 0 && _snapshot.Copy.WhenCopied((long)demand.PageNumbers.Max() * pageSize) is { IsCompletedSuccessfully: false } copied)
        {
            Stash.Stash();
            Become(WaitingForCopy);
            copied.PipeTo(Self, success: () => CopyReached.Instance, failure: e => new CopyFailed(e));
            return;
        }
        var batch = new List<PageImage>(_pagesPerMessage);
        foreach (var pageNumber in demand.PageNumbers)
        {
            if (pageNumber < rangeStart || pageNumber > rangeEnd)
            {
                Fail($"demanded page {pageNumber} outside the offered range {rangeStart}..{rangeEnd}");
                return;
            }
            batch.Add(new PageImage(pageNumber, new byte[pageSize]));
            if (batch.Count == _pagesPerMessage && !Send(rangeStart, ref batch, last)) return;
        }
        if (batch.Count > 0 && !Send(rangeStart, ref batch, last)) return;
        _offered.Dequeue();
        if (last)
        {
            Context.Stop(Self);
            return;
        }
        Offer();
    }

    /// <summary>Reads the pages' images from the snapshot, then sends them; false (the session failed) when the
    /// snapshot file is shorter than its page count. Pages with consecutive numbers (all of them in a full resync) are
    /// read with one vectored read instead of a system call per page.</summary>
    private bool Send(uint rangeStart, ref List<PageImage> pages, bool lastRange)
    {
        var pageSize = _snapshot.Info.PageSize;
        var run = new List<Memory<byte>>(pages.Count);
        for (var i = 0; i < pages.Count; i++)
        {
            run.Add(pages[i].Data);
            if (i + 1 < pages.Count && pages[i + 1].PageNumber == pages[i].PageNumber + 1) continue;
            var first = pages[i].PageNumber - (uint)run.Count + 1;
            var read = RandomAccess.Read(_file!.SafeFileHandle, run, (long)(first - 1) * pageSize);
            if (read != (long)run.Count * pageSize)
            {
                Fail($"{_snapshot.File}: pages {first}..{pages[i].PageNumber} are past the end of the snapshot");
                return false;
            }
            run.Clear();
        }
        _replica.Tell(new ResyncPages(_session, rangeStart, pages, lastRange));
        Context.Parent.Tell(new Sent((long)pages.Count * _snapshot.Info.PageSize));
        pages = new List<PageImage>(_pagesPerMessage);
        return true;
    }

    private void Fail(string reason)
    {
        _log.Warning("Resync {Session} failed: {Reason}", _session, reason);
        _replica.Tell(new ResyncFailed(_session, reason));
        Context.Stop(Self);
    }
}

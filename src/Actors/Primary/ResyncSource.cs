using Akka.Actor;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// Serves one replica's resync from a snapshot file: offers the per-page hashes of one range of pages at a time; the
/// replica answers with the pages it lacks; only then are those pages sent, followed by the next range's offer. The
/// replica's demands are the flow control: at most one range of pages is ever in flight. Deletes the snapshot file
/// when done, failed or abandoned.
/// </summary>
internal sealed class ResyncSource : ReceiveActor
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    private readonly Guid _session;
    private readonly IActorRef _replica;
    private readonly WalTailer.SnapshotTaken _snapshot;
    private readonly int _rangePages;
    private readonly int _pagesPerMessage;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private FileStream? _file;
    private uint _rangeStart = 1;

    public ResyncSource(Guid session, IActorRef replica, WalTailer.SnapshotTaken snapshot, int maxPartBytes)
    {
        _session = session;
        _replica = replica;
        _snapshot = snapshot;
        var pageSize = snapshot.Info.PageSize;
        _pagesPerMessage = Math.Max(1, maxPartBytes / pageSize);
        _rangePages = Math.Max(_pagesPerMessage, 4 * 1024 * 1024 / pageSize);
        Receive<ResyncDemand>(d => d.SessionId == _session, Demand);
        Receive<ReceiveTimeout>(_ =>
        {
            _log.Warning("Resync {Session} abandoned: the replica sent no demand for {Timeout}", _session, IdleTimeout);
            Context.Stop(Self);
        });
    }

    /// <summary>Told to the parent after each message of pages: the bytes sent (for the resync byte counter).</summary>
    public sealed record Sent(long Bytes);

    public static Props Props(Guid session, IActorRef replica, WalTailer.SnapshotTaken snapshot, int maxPartBytes) =>
        Akka.Actor.Props.Create(() => new ResyncSource(session, replica, snapshot, maxPartBytes));

    protected override void PreStart()
    {
        _file = new FileStream(_snapshot.File, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.RandomAccess);
        Context.SetReceiveTimeout(IdleTimeout);
        Offer();
    }

    protected override void PostStop()
    {
        _file?.Dispose();
        try { File.Delete(_snapshot.File); }
        catch (IOException e) { _log.Warning("Could not delete snapshot {File}: {Error}", _snapshot.File, e.Message); }
    }

    private uint PageCount => _snapshot.Info.PageCount;

    private void Offer()
    {
        var count = (int)Math.Min(_rangePages, PageCount - _rangeStart + 1);
        var hashes = _snapshot.Info.Hash.PageHashes(_rangeStart, count);
        _replica.Tell(new ResyncOffer(_session, _snapshot.Generation, _snapshot.Txid, _snapshot.Info.PageSize, PageCount,
            _snapshot.Info.Hash.Value, _rangeStart, hashes));
    }

    private void Demand(ResyncDemand demand)
    {
        if (demand.FirstPage != _rangeStart)
        {
            Fail($"demand for range {demand.FirstPage} while range {_rangeStart} is offered");
            return;
        }
        var rangeEnd = _rangeStart + (uint)Math.Min(_rangePages, PageCount - _rangeStart + 1) - 1;
        var last = rangeEnd == PageCount;
        var pageSize = _snapshot.Info.PageSize;
        var batch = new List<PageImage>(_pagesPerMessage);
        foreach (var pageNumber in demand.PageNumbers)
        {
            if (pageNumber < _rangeStart || pageNumber > rangeEnd)
            {
                Fail($"demanded page {pageNumber} outside the offered range {_rangeStart}..{rangeEnd}");
                return;
            }
            var data = new byte[pageSize];
            RandomAccess.Read(_file!.SafeFileHandle, data, (long)(pageNumber - 1) * pageSize);
            batch.Add(new PageImage(pageNumber, data));
            if (batch.Count == _pagesPerMessage) Send(ref batch, last);
        }
        if (batch.Count > 0) Send(ref batch, last);
        if (last)
        {
            Context.Stop(Self);
            return;
        }
        _rangeStart = rangeEnd + 1;
        Offer();
    }

    private void Send(ref List<PageImage> pages, bool lastRange)
    {
        _replica.Tell(new ResyncPages(_session, _rangeStart, pages, lastRange));
        Context.Parent.Tell(new Sent((long)pages.Count * _snapshot.Info.PageSize));
        pages = new List<PageImage>(_pagesPerMessage);
    }

    private void Fail(string reason)
    {
        _log.Warning("Resync {Session} failed: {Reason}", _session, reason);
        _replica.Tell(new ResyncFailed(_session, reason));
        Context.Stop(Self);
    }
}

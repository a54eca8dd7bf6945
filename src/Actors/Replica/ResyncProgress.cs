using System.Diagnostics;
using Litecast.Messages;

namespace Litecast.Actors.Replica;

/// <summary>
/// How far the resync in flight is, from the offers and pages passing through the replica's actor. The primary offers
/// the file range by range, and the applier takes a new range only once every page it demanded of the previous one
/// arrived (it aborts otherwise), so the pages before the latest offer are done: checked, and fetched where they
/// differed.
/// </summary>
internal sealed class ResyncProgress
{
    private readonly long _startedTicks = Stopwatch.GetTimestamp();
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private uint _pagesDone;
    private uint _pagesTotal;
    private int _pageSize;
    private long _bytesReceived;

    public void Offered(ResyncOffer offer)
    {
        _pagesTotal = offer.PageCount;
        _pageSize = offer.PageSize;
        _pagesDone = offer.FirstPage - 1;
    }

    public void Received(ResyncPages pages)
    {
        foreach (var page in pages.Pages) _bytesReceived += page.Data.Length;
        if (pages.LastRange) _pagesDone = _pagesTotal;
    }

    /// <summary>Where it stands now; the rate is of pages done (checked or fetched), the time left at that rate.</summary>
    public ResyncProgressView View()
    {
        var elapsed = Stopwatch.GetElapsedTime(_startedTicks).TotalSeconds;
        long bytesDone = (long)_pagesDone * _pageSize, bytesTotal = (long)_pagesTotal * _pageSize;
        var rate = elapsed > 0 ? bytesDone / elapsed : 0;
        double? left = rate > 0 ? (bytesTotal - bytesDone) / rate : null;
        return new ResyncProgressView(_pagesDone, _pagesTotal, bytesDone, bytesTotal, _bytesReceived, _startedAt, rate, left);
    }
}

using System.Diagnostics;
using Litecast.Messages;

namespace Litecast.Actors.Replica;

/// <summary>
/// How far the resync in flight is, from the offers and pages passing through the replica's actor (and the ranges the
/// applier fetched outside the cluster's messages). The primary offers
/// the file range by range, at most <c>rangesInFlight</c> ranges ahead of the replica's demands, and sends each range's
/// pages before a further offer: when an offer arrives, the pages more than that many ranges before it are done
/// (checked, and fetched where they differed); so are the pages before a range whose pages arrive.
/// </summary>
internal sealed class ResyncProgress(int rangesInFlight)
{
    private readonly long _startedTicks = Stopwatch.GetTimestamp();
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private uint _pagesDone;
    private uint _pagesTotal;
    private int _pageSize;
    private long _bytesReceived;

    /// <summary>Bytes of page data received so far, over the cluster or fetched.</summary>
    public long BytesReceived => _bytesReceived;

    public void Offered(ResyncOffer offer)
    {
        _pagesTotal = offer.PageCount;
        _pageSize = offer.PageSize;
        var ahead = (long)(rangesInFlight - 1) * offer.PageHashes.Length;
        _pagesDone = Math.Max(_pagesDone, (uint)Math.Max(0, offer.FirstPage - 1 - ahead));
    }

    public void Received(ResyncPages pages)
    {
        foreach (var page in pages.Pages) _bytesReceived += page.Data.Length;
        _pagesDone = Math.Max(_pagesDone, pages.FirstPage - 1);
        if (pages.LastRange) _pagesDone = _pagesTotal;
    }

    /// <summary>The range starting at <paramref name="firstPage"/> was fetched outside the cluster's messages.</summary>
    public void Fetched(uint firstPage, long bytes)
    {
        _bytesReceived += bytes;
        _pagesDone = Math.Max(_pagesDone, firstPage - 1);
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

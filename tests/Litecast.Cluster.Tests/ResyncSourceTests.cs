using Akka.Actor;
using Litecast.Actors;
using Litecast.Actors.Primary;
using Litecast.Messages;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The primary's side of a resync alone, over a snapshot file of known pages: the window of offers ahead of demands,
/// the pages sent for a demand (read back from the file), the order demands must keep, and the snapshot's copy that
/// pages wait for.
/// </summary>
public class ResyncSourceTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    // 64 KiB pages make 4 MiB ranges of 64 pages: four ranges in a 14 MiB file.
    private const int PageSize = 65536;
    private const int RangePages = 64;
    private const uint PageCount = 3 * RangePages + 20;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-source-" + Guid.NewGuid().ToString("N"));
    private readonly List<byte[]> _pages = [];
    private readonly WalTailer.SnapshotTaken _snapshot;

    public ResyncSourceTests(ITestOutputHelper output) : base(output: output)
    {
        Directory.CreateDirectory(_directory);
        var random = new Random(5);
        var hash = new DatabaseHash(PageSize);
        var file = Path.Combine(_directory, "snapshot.pages");
        using (var stream = File.Create(file))
            for (var p = 1u; p <= PageCount; p++)
            {
                var page = new byte[PageSize];
                random.NextBytes(page);
                _pages.Add(page);
                hash.SetPage(p, page);
                stream.Write(page);
            }
        var copied = new SnapshotCopyProgress((long)PageCount * PageSize);
        copied.Copied(copied.Length);
        _snapshot = new WalTailer.SnapshotTaken(file, 9, 42, new SnapshotInfo(PageSize, PageCount, hash), copied);
    }

    /// <summary>A source over the test's snapshot file; with <paramref name="copy"/>, as if the file were still being
    /// copied that far (the file itself is whole, so a page sent too early would still read back right).</summary>
    private IActorRef Start(Guid session, int rangesInFlight, SnapshotCopyProgress? copy = null) =>
        ChildActorOf(ResyncSource.Props(session, TestActor, copy is null ? _snapshot : _snapshot with { Copy = copy }, 256 * 1024, rangesInFlight));

    private SnapshotCopyProgress NothingCopied() => new((long)PageCount * PageSize);

    private T Expect<T>() => (T)FishForMessage(m => m is T, Timeout);

    [Fact]
    public void OffersTheRequestedWindowAheadAndOneMorePerDemandWithTheDemandedPagesInBetween()
    {
        var session = Guid.NewGuid();
        var source = Start(session, rangesInFlight: 3);
        var offers = Enumerable.Range(0, 3).Select(_ => Expect<ResyncOffer>()).ToList();
        Assert.Equal([1u, 1 + RangePages, 1 + 2 * RangePages], offers.Select(o => o.FirstPage));
        Assert.Equal(_snapshot.Info.Hash.PageHashes(1 + RangePages, RangePages), offers[1].PageHashes);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        source.Tell(new ResyncDemand(session, 1, [2, 7, 64]));
        var pages = Expect<ResyncPages>();
        Assert.Equal(1u, pages.FirstPage);
        Assert.Equal([2u, 7, 64], pages.Pages.Select(p => p.PageNumber));
        foreach (var page in pages.Pages) Assert.Equal(_pages[(int)page.PageNumber - 1], page.Data);
        var fourth = Expect<ResyncOffer>();
        Assert.Equal(1u + 3 * RangePages, fourth.FirstPage);
        Assert.Equal(20, fourth.PageHashes.Length);

        Watch(source);
        foreach (var offer in offers.Skip(1).Append(fourth))
            source.Tell(new ResyncDemand(session, offer.FirstPage, []));
        ExpectTerminated(source, Timeout);
        Assert.False(File.Exists(_snapshot.File));
    }

    [Fact]
    public void ADemandOutOfTheOffersOrderFailsTheSession()
    {
        var session = Guid.NewGuid();
        var source = Start(session, rangesInFlight: 2);
        Expect<ResyncOffer>();
        Expect<ResyncOffer>();
        Watch(source);

        source.Tell(new ResyncDemand(session, 1 + RangePages, [1 + RangePages]));

        Assert.Contains($"demand for range {1 + RangePages} while range 1 is the oldest offered", Expect<ResyncFailed>().Reason);
        ExpectTerminated(source, Timeout);
        Assert.False(File.Exists(_snapshot.File));
    }

    [Fact]
    public void AnOlderReplicaAskingForOneRangeAtATimeGetsOneOfferAtATime()
    {
        var session = Guid.NewGuid();
        var source = Start(session, rangesInFlight: 1);
        Assert.Equal(1u, Expect<ResyncOffer>().FirstPage);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        source.Tell(new ResyncDemand(session, 1, []));
        Assert.Equal(1u + RangePages, Expect<ResyncOffer>().FirstPage);
    }

    [Fact]
    public void OffersRangesBeforeTheCopyReachesThemAndSendsADemandsPagesOnceTheCopyHasPassedThem()
    {
        var session = Guid.NewGuid();
        var copy = NothingCopied();
        var source = Start(session, rangesInFlight: 2, copy);
        var offers = new[] { Expect<ResyncOffer>(), Expect<ResyncOffer>() };
        Assert.Equal([1u, 1 + RangePages], offers.Select(o => o.FirstPage));
        Assert.Equal(_snapshot.Info.Hash.PageHashes(1, RangePages), offers[0].PageHashes);

        source.Tell(new ResyncDemand(session, 1, [2, RangePages]));
        source.Tell(new ResyncDemand(session, 1 + RangePages, [1 + RangePages]));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        copy.Copied((RangePages - 1L) * PageSize);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        copy.Copied((long)RangePages * PageSize);
        var pages = Expect<ResyncPages>();
        Assert.Equal(1u, pages.FirstPage);
        Assert.Equal([2u, RangePages], pages.Pages.Select(p => p.PageNumber));
        foreach (var page in pages.Pages) Assert.Equal(_pages[(int)page.PageNumber - 1], page.Data);
        Assert.Equal(1u + 2 * RangePages, Expect<ResyncOffer>().FirstPage);
        // The second range's demand waited behind the first and waits on for its own page.
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        copy.Copied(copy.Length);
        var second = Expect<ResyncPages>();
        Assert.Equal(1u + RangePages, second.FirstPage);
        Assert.Equal(_pages[RangePages], Assert.Single(second.Pages).Data);
    }

    [Fact]
    public async Task TheAdminEndpointIsToldToWaitUntilTheCopyHasPassedTheBytesItServes()
    {
        var session = Guid.NewGuid();
        var copy = NothingCopied();
        var source = Start(session, rangesInFlight: 1, copy);
        Expect<ResyncOffer>();

        source.Tell(new FindResyncSnapshot(session, PageSize, 2L * PageSize - 1));
        var file = Expect<ResyncSnapshotFile>();
        Assert.Equal(_snapshot.File, file.Path);
        copy.Copied(PageSize);
        Assert.False(file.Copied.IsCompleted, "page 2 was not copied yet");
        copy.Copied(2L * PageSize);
        await file.Copied.WaitAsync(Timeout);
    }

    [Fact]
    public async Task ACopyThatFailsEndsTheSessionWithItsReason()
    {
        var session = Guid.NewGuid();
        var copy = NothingCopied();
        var source = Start(session, rangesInFlight: 1, copy);
        Expect<ResyncOffer>();
        source.Tell(new FindResyncSnapshot(session, 0, PageSize - 1));
        var waiting = Expect<ResyncSnapshotFile>().Copied;
        Watch(source);

        copy.Fail(new IOException("No space left on device"));

        Assert.Contains("No space left on device", Expect<ResyncFailed>().Reason);
        ExpectTerminated(source, Timeout);
        Assert.False(File.Exists(_snapshot.File));
        await Assert.ThrowsAsync<IOException>(() => waiting.WaitAsync(Timeout));
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }
}

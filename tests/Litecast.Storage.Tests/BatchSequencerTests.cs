using Litecast.Actors.Replica;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Storage.Tests;

/// <summary>
/// The replica's ordering rules (<see cref="BatchSequencer"/>): what reaches the applier, in which order, merged how,
/// and when a gap asks for catch-up. Hashes chain as the primary's do (each batch's pre-hash is the previous post-hash).
/// </summary>
public class BatchSequencerTests
{
    private const ulong Generation = 7;

    /// <summary>A whole batch of one txid writing page <paramref name="page"/>; the database has 10 pages.</summary>
    private static PageBatch Whole(ulong txid, uint page = 1) =>
        new("app.db", Generation, txid, txid, 4096, 10, txid, txid + 1, 0, 1, [new PageImage(page, new byte[4096])]);

    private static PageBatch Part(ulong txid, int part, int parts) =>
        new("app.db", Generation, txid, txid, 4096, 10, txid, part == parts - 1 ? txid + 1 : 0, part, parts, [new PageImage((uint)part + 1, new byte[4096])]);

    private static BatchSequencer At(ulong txid, int maxHeld = 100)
    {
        var sequencer = new BatchSequencer(maxHeld);
        sequencer.ResetTo(txid, pageCount: 10);
        return sequencer;
    }

    [Fact]
    public void OutOfOrderBatchesGoInTxidOrderOnceTheGapCloses()
    {
        var sequencer = At(10);
        sequencer.Hold(Whole(12));
        Assert.Empty(sequencer.TakeReady(Generation, 10, out var gap));
        Assert.True(gap);

        sequencer.Hold(Whole(11));
        var ready = sequencer.TakeReady(Generation, 10, out gap);
        Assert.False(gap);
        // Both whole batches continue each other's hash: they travel merged, as one transaction for 11..12.
        var merged = Assert.Single(ready);
        Assert.Equal((11ul, 12ul), (merged.FirstTxid, merged.LastTxid));
        Assert.Equal(12ul, sequencer.Forwarded);
    }

    [Fact]
    public void WhileTheApplierWorksLaterBatchesWaitAndThenTravelMerged()
    {
        var sequencer = At(10);
        sequencer.Hold(Whole(11));
        Assert.Single(sequencer.TakeReady(Generation, 10, out _));
        Assert.True(sequencer.IsBusy(10));

        foreach (var txid in new ulong[] { 12, 13, 14 }) sequencer.Hold(Whole(txid, page: (uint)txid % 3 + 1));
        Assert.Empty(sequencer.TakeReady(Generation, 10, out var gap));
        Assert.False(gap);

        // The applier applied 11.
        var merged = Assert.Single(sequencer.TakeReady(Generation, 11, out _));
        Assert.Equal((12ul, 14ul), (merged.FirstTxid, merged.LastTxid));
        Assert.Equal(3, merged.Pages.Count);
    }

    [Fact]
    public void PartsOfABigBatchGoInPartOrderAndTheNextBatchWaitsForTheLast()
    {
        var sequencer = At(10);
        sequencer.Hold(Whole(12));
        sequencer.Hold(Part(11, 2, 3));
        sequencer.Hold(Part(11, 1, 3));
        Assert.Empty(sequencer.TakeReady(Generation, 10, out var gap));
        Assert.True(gap);

        sequencer.Hold(Part(11, 0, 3));
        var ready = sequencer.TakeReady(Generation, 10, out gap);
        Assert.False(gap);
        // The parts of the batch in flight go on as they come (the applier checks their sequence); batch 12 waits until
        // the applier has applied 11.
        Assert.Equal([(11ul, 0), (11ul, 1), (11ul, 2)], ready.Select(b => (b.FirstTxid, b.Part)));
        Assert.Equal(11ul, sequencer.Forwarded);
        Assert.Empty(sequencer.TakeReady(Generation, 10, out _));
        Assert.Equal(12ul, Assert.Single(sequencer.TakeReady(Generation, 11, out _)).FirstTxid);
    }

    [Fact]
    public void AFirstPartPublishedAgainAbandonsTheBatchInFlight()
    {
        var sequencer = At(10);
        sequencer.Hold(Part(11, 0, 3));
        Assert.Single(sequencer.TakeReady(Generation, 10, out _));
        // The primary's tailer restarted mid-batch and publishes txid 11 again, now as one whole batch.
        sequencer.Hold(Whole(11));
        var again = Assert.Single(sequencer.TakeReady(Generation, 10, out _));
        Assert.Equal((0, 1), (again.Part, again.PartCount));
        Assert.Equal(11ul, sequencer.Forwarded);
    }

    [Fact]
    public void DuplicatesAndOtherGenerationsAreDropped()
    {
        var sequencer = At(10);
        sequencer.Hold(Whole(11));
        sequencer.TakeReady(Generation, 10, out _);
        Assert.True(sequencer.IsStale(Whole(11)));
        Assert.True(sequencer.IsStale(Whole(9)));
        Assert.False(sequencer.IsStale(Whole(12)));

        sequencer.Hold(Whole(12) with { Generation = Generation + 1 });
        Assert.Empty(sequencer.TakeReady(Generation, 11, out var gap));
        Assert.False(gap);
        Assert.Equal(0, sequencer.HeldCount);
    }

    [Fact]
    public void PastTheBoundTheNewestAreDroppedAndTheOverflowIsSaidOnce()
    {
        var sequencer = At(10, maxHeld: 3);
        Assert.False(sequencer.Hold(Whole(13)));
        Assert.False(sequencer.Hold(Whole(14)));
        Assert.False(sequencer.Hold(Whole(15)));
        Assert.True(sequencer.Hold(Whole(12)));   // keeps 12, drops 15
        Assert.False(sequencer.Hold(Whole(16)));  // newer than all: dropped, already said
        Assert.True(sequencer.Overflowed);
        Assert.Equal(3, sequencer.HeldCount);

        // The next batch in line is kept too: the newest (14) makes room for it.
        sequencer.Hold(Whole(11));
        var merged = Assert.Single(sequencer.TakeReady(Generation, 10, out _));
        Assert.Equal((11ul, 13ul), (merged.FirstTxid, merged.LastTxid));
        sequencer.ClearOverflow();
        Assert.False(sequencer.Overflowed);
    }

    [Fact]
    public void AfterAShrinkingBatchTheRunIsNotMerged()
    {
        var sequencer = At(10);
        sequencer.Hold(Whole(11) with { PageCount = 8 });
        sequencer.Hold(Whole(12));
        var ready = sequencer.TakeReady(Generation, 10, out _);
        Assert.Equal((11ul, 11ul), (ready[0].FirstTxid, ready[0].LastTxid));
        Assert.Single(ready);
        Assert.Single(sequencer.TakeReady(Generation, 11, out _));
    }
}

using Litecast.Messages;

namespace Litecast.Actors.Replica;

/// <summary>
/// The replica's ordering rules, without Akka: batches (and parts of big ones) arrive in any order, twice, or not at
/// all; the applier must get them in txid order, one whole batch (or one batch's parts) at a time, with runs of whole
/// batches merged into one (<see cref="BatchMerger"/>). Holds what cannot go yet, bounded, and says when a gap needs a
/// catch-up.
/// </summary>
internal sealed class BatchSequencer(int maxHeld)
{
    private readonly SortedDictionary<(ulong FirstTxid, int Part), PageBatch> _held = new();
    private ulong _forwardingFirst;
    private uint _forwardedPageCount;

    /// <summary>The txid up to which whole batches were handed to the applier (or applied).</summary>
    public ulong Forwarded { get; private set; }

    /// <summary>Batches held back until their turn.</summary>
    public int HeldCount => _held.Count;

    /// <summary>True once batches were dropped past the bound; they must be caught up once the held ones are applied.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>True while the applier has been handed batches it has not applied yet (<paramref name="appliedTxid"/> is
    /// where it stands).</summary>
    public bool IsBusy(ulong appliedTxid) => _forwardingFirst != 0 || Forwarded > appliedTxid;

    /// <summary>
    /// Nothing is in flight any more: the applier stands at <paramref name="appliedTxid"/> (it started, rejected a
    /// batch, resynced, or catch-up resends from there). <paramref name="pageCount"/> is the database's size there
    /// (0: unknown, so the next run is not merged); <paramref name="forgetHeld"/> drops the held batches too.
    /// </summary>
    public void ResetTo(ulong appliedTxid, uint pageCount, bool forgetHeld = false)
    {
        Forwarded = appliedTxid;
        _forwardingFirst = 0;
        _forwardedPageCount = pageCount;
        if (forgetHeld) _held.Clear();
    }

    /// <summary>True for a batch already handed on (a duplicate, or one catch-up resent).</summary>
    public bool IsStale(PageBatch batch) => batch.LastTxid <= Forwarded && !(batch.Part > 0 && batch.FirstTxid == _forwardingFirst);

    /// <summary>
    /// Keeps a batch until its turn. Past the bound the newest is dropped (this one, or the newest held); the result is
    /// true when that happened for the first time since <see cref="ClearOverflow"/>. (Dropping them all lost the head of
    /// a catch-up reply bigger than the bound too: asked for again and lost again, never converging.)
    /// </summary>
    public bool Hold(PageBatch batch)
    {
        var key = (batch.FirstTxid, batch.Part);
        var firstOverflow = false;
        if (_held.Count >= maxHeld && !_held.ContainsKey(key))
        {
            firstOverflow = !Overflowed;
            Overflowed = true;
            var newest = _held.Keys.Max();
            if (key.CompareTo(newest) > 0) return firstOverflow;
            _held.Remove(newest);
        }
        _held[key] = batch;
        return firstOverflow;
    }

    /// <summary>The dropped batches are being caught up.</summary>
    public void ClearOverflow() => Overflowed = false;

    /// <summary>
    /// Takes the held batches that continue the sequence, for a replica at <paramref name="appliedTxid"/> of
    /// <paramref name="generation"/>, in the order the applier must get them: while the applier works, later whole
    /// batches wait and then go merged into one. <paramref name="gap"/> is true when the next held batch does not
    /// continue the sequence (the missing ones must be caught up).
    /// </summary>
    public List<PageBatch> TakeReady(ulong generation, ulong appliedTxid, out bool gap)
    {
        var ready = new List<PageBatch>();
        gap = false;
        while (_held.Count > 0)
        {
            var (key, batch) = _held.First();
            if (batch.Generation != generation || batch.LastTxid <= Forwarded && batch.FirstTxid != _forwardingFirst)
            {
                _held.Remove(key);
                continue;
            }
            // A first part at or before the batch whose parts are in flight: the primary publishes again from there (its
            // tailer restarted in the middle of that batch), and the rest of the batch will never come. Stop waiting for
            // it; the applier abandons its open transaction when it gets a first part.
            if (batch.Part == 0 && _forwardingFirst != 0 && batch.FirstTxid <= _forwardingFirst)
            {
                _forwardingFirst = 0;
                Forwarded = appliedTxid;
            }
            var continues = batch.Part == 0 ? batch.FirstTxid == Forwarded + 1 : batch.FirstTxid == _forwardingFirst;
            if (!continues)
            {
                gap = true;
                return ready;
            }
            if (batch.Part == 0 && IsBusy(appliedTxid)) return ready;
            _held.Remove(key);
            if (batch.PartCount == 1) batch = MergeHeldAfter(batch);
            ready.Add(batch);
            _forwardingFirst = batch.FirstTxid;
            if (batch.Part == batch.PartCount - 1)
            {
                Forwarded = batch.LastTxid;
                _forwardedPageCount = batch.PageCount;
                _forwardingFirst = 0;
            }
        }
        return ready;
    }

    /// <summary>Takes the held batches that can be merged after <paramref name="first"/> and returns the merged batch.</summary>
    private PageBatch MergeHeldAfter(PageBatch first)
    {
        var run = new List<PageBatch> { first };
        var before = _forwardedPageCount;
        while (_held.Count > 0)
        {
            var (key, next) = _held.First();
            if (!BatchMerger.CanFollow(run[^1], next, before)) break;
            _held.Remove(key);
            before = run[^1].PageCount;
            run.Add(next);
        }
        return BatchMerger.Merge(run);
    }
}

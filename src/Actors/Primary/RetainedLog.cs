using Litecast.Messages;

namespace Litecast.Actors.Primary;

/// <summary>
/// The primary's bounded log of recently published batches, kept for catch-up: a replica that missed batches (a
/// short partition, a restart) gets them from here instead of a resync. Bounded by bytes; the oldest batches leave
/// first. Thread-safe: the tailer appends while the database actor serves catch-up.
/// </summary>
public sealed class RetainedLog
{
    private readonly object _gate = new();
    private readonly LinkedList<(PageBatch Batch, long Bytes)> _batches = new();
    private long _bytes;

    public RetainedLog(long maxBytes)
    {
        if (maxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "the retained log needs a positive size");
        MaxBytes = maxBytes;
    }

    public long MaxBytes { get; }

    /// <summary>Bytes of page data currently retained.</summary>
    public long Bytes { get { lock (_gate) return _bytes; } }

    /// <summary>First txid still retained for <paramref name="generation"/>, or null when nothing is.</summary>
    public ulong? OldestTxid(ulong generation)
    {
        lock (_gate)
            return _batches.First is { } first && first.Value.Batch.Generation == generation ? first.Value.Batch.FirstTxid : null;
    }

    /// <summary>Appends a published batch (or one part of it); drops whole old batches past the size bound.</summary>
    public void Append(PageBatch batch)
    {
        long bytes = 64;
        foreach (var page in batch.Pages) bytes += page.Data.Length + 8;
        lock (_gate)
        {
            if (_batches.Last is { } last && last.Value.Batch.Generation != batch.Generation) Clear();
            _batches.AddLast((batch, bytes));
            _bytes += bytes;
            // Evict whole transactions: every part of the oldest txid range leaves together.
            while (_bytes > MaxBytes && _batches.First is { } first && first.Value.Batch.FirstTxid != batch.FirstTxid)
            {
                var txid = first.Value.Batch.FirstTxid;
                while (_batches.First is { } node && node.Value.Batch.FirstTxid == txid)
                {
                    _bytes -= node.Value.Bytes;
                    _batches.RemoveFirst();
                }
            }
        }
    }

    /// <summary>
    /// The retained batches after <paramref name="afterTxid"/>, in order, when the log still holds the one that starts
    /// right after it; otherwise false (the replica must resync).
    /// </summary>
    public bool TryGetAfter(ulong generation, ulong afterTxid, out List<PageBatch> batches)
    {
        batches = [];
        lock (_gate)
        {
            var found = false;
            foreach (var (batch, _) in _batches)
            {
                if (batch.Generation != generation) continue;
                if (!found)
                {
                    if (batch.FirstTxid != afterTxid + 1 || batch.Part != 0) continue;
                    found = true;
                }
                batches.Add(batch);
            }
            if (found) return true;
            // Nothing newer than afterTxid exists: the replica is up to date.
            return _batches.Last is { } last && last.Value.Batch.Generation == generation && last.Value.Batch.LastTxid == afterTxid;
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _batches.Clear();
            _bytes = 0;
        }
    }
}

using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// The primary's bounded log of recently published batches, kept for catch-up: a replica that missed batches (a
/// short partition, a restart) gets them from here instead of a resync. Bounded by bytes; the oldest batches leave
/// first, every part of a txid range together. Thread-safe: the tailer appends while the database actor serves
/// catch-up.
/// </summary>
/// <remarks>
/// The pages live on disk (<see cref="RetainedLogFile"/>), so that the log costs the process no resident memory; the
/// OS page cache keeps the recent ones. Only a small index stays here: each batch's header (a <see cref="PageBatch"/>
/// without pages) and where its record lies. Evicted batches leave the index at once, their disk space a whole segment
/// (an eighth of <see cref="MaxBytes"/>, at least 64 KiB) at a time, so the files exceed the bound by at most one segment.
/// The log is a cache: it starts empty (a previous process's segments are deleted), and a failing disk costs catch-up,
/// never publishing: a batch that cannot be written drops the whole log, a record that cannot be read back or fails
/// its checksum makes <see cref="TryGetAfter"/> answer false (the replica resyncs), and either is reported with the file
/// and txid.
/// </remarks>
public sealed class RetainedLog : IDisposable
{
    private readonly object _gate = new();
    private readonly Queue<Entry> _entries = new();
    private readonly RetainedLogFile _file;
    private readonly Action<string> _report;
    private long _bytes;
    // True from a failed append to the next one that works, so a full disk is reported once, not per batch.
    private bool _failing;
    private bool _disposed;

    private readonly record struct Entry(PageBatch Header, RetainedRecord Record, long Bytes);

    /// <param name="directory">Where the segment files go (the database's state directory holds it).</param>
    /// <param name="maxBytes">The bound on retained batches, each counted as 64 bytes plus 8 and the page's bytes a page (as when
    /// the log was on the heap, so configured sizes keep their meaning).</param>
    /// <param name="report">Told each problem with the log's files, with its context; called from the appending or reading thread.</param>
    public RetainedLog(string directory, long maxBytes, Action<string> report)
    {
        if (maxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "the retained log needs a positive size");
        MaxBytes = maxBytes;
        _report = report;
        // Eight full segments fit the bound, the ninth is being filled: eviction frees a segment every eighth of it.
        _file = new RetainedLogFile(directory, Math.Max(maxBytes / 8, 64 * 1024));
        if (ClearFiles() is { } problem) report(problem);
    }

    public long MaxBytes { get; }

    /// <summary>Bytes of page data currently retained.</summary>
    public long Bytes { get { lock (_gate) return _bytes; } }

    /// <summary>Bytes the segment files hold: at most <see cref="Bytes"/> plus what eviction left in the oldest segment.</summary>
    public long DiskBytes => _file.DiskBytes;

    /// <summary>First txid still retained for <paramref name="generation"/>, or null when nothing is.</summary>
    public ulong? OldestTxid(ulong generation)
    {
        lock (_gate)
            return _entries.TryPeek(out var first) && first.Header.Generation == generation ? first.Header.FirstTxid : null;
    }

    /// <summary>
    /// Appends a published batch (or one part of it); drops whole old batches past the size bound. Never throws for a
    /// disk problem: the log is dropped instead and catch-up waits for a write that works.
    /// </summary>
    public void Append(PageBatch batch)
    {
        long bytes = 64;
        foreach (var page in batch.Pages) bytes += page.Data.Length + 8;
        string? problem = null;
        lock (_gate)
        {
            if (_disposed) return;
            // Every entry is of one generation (a new one clears the log), so the oldest tells.
            if (_entries.Count > 0 && _entries.Peek().Header.Generation != batch.Generation) problem = ClearLocked();
            // The log never starts in the middle of a transaction (after a failed part, the rest of it is skipped).
            if (_entries.Count == 0 && batch.Part != 0) return;
            try
            {
                var record = _file.Append(batch.Pages, batch.PageSize);
                _entries.Enqueue(new Entry(batch with { Pages = [] }, record, bytes));
                _bytes += bytes;
                // Evict whole transactions: every part of the oldest txid range leaves together.
                while (_bytes > MaxBytes && _entries.Peek().Header.FirstTxid != batch.FirstTxid)
                {
                    var txid = _entries.Peek().Header.FirstTxid;
                    while (_entries.TryPeek(out var oldest) && oldest.Header.FirstTxid == txid)
                    {
                        _bytes -= oldest.Bytes;
                        _entries.Dequeue();
                    }
                }
                _file.DropBefore(_entries.Peek().Record.Segment);
                if (_failing)
                    problem = (problem is null ? "" : problem + "; ") + $"the retained log under {_file.Directory} works again from txid {batch.FirstTxid}";
                _failing = false;
            }
            // ArgumentException too (a page that is not the batch's page size): the log is a cache and must never stop the tailer.
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                var cleared = ClearLocked();
                if (!_failing)
                    problem = $"cannot write txid {batch.FirstTxid} part {batch.Part} (generation {batch.Generation:x16}) to the retained log " +
                        $"under {_file.Directory}: {e.Message}; the log is dropped, and replicas that fall behind resync until a write works" +
                        (cleared is null ? "" : $"; {cleared}");
                _failing = true;
            }
        }
        if (problem is not null) _report(problem);
    }

    /// <summary>
    /// The retained batches after <paramref name="afterTxid"/>, in order, when the log still holds the one that starts
    /// right after it; otherwise false (the replica must resync). Also false when a record cannot be read back intact
    /// (reported), or was evicted while being read.
    /// </summary>
    public bool TryGetAfter(ulong generation, ulong afterTxid, out List<PageBatch> batches)
    {
        batches = [];
        var wanted = new List<Entry>();
        lock (_gate)
        {
            if (_disposed) return false;
            var found = false;
            Entry? last = null;
            foreach (var entry in _entries)
            {
                last = entry;
                var batch = entry.Header;
                if (batch.Generation != generation) continue;
                if (!found)
                {
                    if (batch.FirstTxid != afterTxid + 1 || batch.Part != 0) continue;
                    found = true;
                }
                wanted.Add(entry);
            }
            if (!found)
            {
                // Nothing newer than afterTxid exists: the replica is up to date.
                return last is { } newest && newest.Header.Generation == generation && newest.Header.LastTxid == afterTxid;
            }
        }
        // Read outside the lock, so a long catch-up never holds up the tailer; a segment evicted meanwhile reads as gone.
        foreach (var entry in wanted)
        {
            try
            {
                if (!_file.TryRead(entry.Record, out var pages))
                {
                    batches = [];
                    return false;
                }
                batches.Add(entry.Header with { Pages = pages });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                _report($"cannot read txid {entry.Header.FirstTxid} part {entry.Header.Part} (generation {generation:x16}) back from the " +
                    $"retained log: {e.Message}; the replica catching up after txid {afterTxid} resyncs instead");
                batches = [];
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Why <see cref="TryGetAfter"/> found no batches to serve after <paramref name="afterTxid"/>, from what the log
    /// holds: the txid was evicted, lies inside a batch (a batch's pages are merged, so it applies only on top of the
    /// txid before its first), is past the newest, or could not be read back.
    /// </summary>
    public string Unavailable(ulong generation, ulong afterTxid)
    {
        var wanted = afterTxid + 1;
        lock (_gate)
        {
            var held = _entries.Select(e => e.Header).Where(b => b.Generation == generation).ToList();
            if (held.Count == 0) return $"the retained log holds no txid of generation {generation:x16} (it starts empty when the primary starts)";
            var (oldest, newest) = (held[0].FirstTxid, held[^1].LastTxid);
            if (wanted < oldest) return $"txid {wanted} is no longer retained (the retained log starts at txid {oldest})";
            if (afterTxid > newest) return $"the replica's txid {afterTxid} is past the newest the retained log holds ({newest})";
            if (held.FirstOrDefault(b => b.FirstTxid < wanted && wanted <= b.LastTxid) is { } merged)
                return $"txid {wanted} is inside the retained batch of txids {merged.FirstTxid}..{merged.LastTxid}, whose pages are " +
                    $"merged (commits published together, such as those made while the primary's Litecast was down): it applies " +
                    $"only on top of txid {merged.FirstTxid - 1}";
            return $"txid {wanted} could not be read back from the retained log";
        }
    }

    public void Clear()
    {
        string? problem;
        lock (_gate) problem = ClearLocked();
        if (problem is not null) _report(problem);
    }

    /// <summary>Empties the index and the files; the problem deleting them, if any.</summary>
    private string? ClearLocked()
    {
        _entries.Clear();
        _bytes = 0;
        return ClearFiles();
    }

    private string? ClearFiles()
    {
        try
        {
            _file.Clear();
            return null;
        }
        catch (IOException e)
        {
            return $"cannot delete the retained log's old segments: {e.Message}";
        }
    }

    /// <summary>Closes and deletes the segment files; the log keeps nothing after this.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _entries.Clear();
            _bytes = 0;
        }
        try
        {
            _file.Dispose();
        }
        catch (IOException e)
        {
            _report($"cannot delete the retained log's segments on stop: {e.Message}");
        }
    }
}

using System.Diagnostics;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// The primary's replication state for one database, shared by its database actor (which owns it and survives tailer
/// crashes) and the <see cref="WalTailer"/> (its only writer): the position and hash under a lock, the retained log,
/// and two immutable values the tailer replaces whole, where a restarted tailer resumes (<see cref="ResumePoint"/>) and
/// what the status shows (<see cref="TailerReport"/>).
/// </summary>
internal sealed class PrimaryState
{
    private const int PublishTimesKept = 65536;

    private readonly object _gate = new();
    // When each recent batch was published: (its last txid, Stopwatch timestamp), in txid order.
    private readonly List<(ulong LastTxid, long Ticks)> _published = new();

    /// <param name="retainedLogDirectory">Where the retained log keeps its files.</param>
    /// <param name="retainedLogBytes">The retained log's bound.</param>
    /// <param name="report">Told the retained log's file problems.</param>
    public PrimaryState(string retainedLogDirectory, long retainedLogBytes, Action<string> report) =>
        Log = new RetainedLog(retainedLogDirectory, retainedLogBytes, report);

    public RetainedLog Log { get; }

    public ulong Generation { get { lock (_gate) return _generation; } }
    public ulong Txid { get { lock (_gate) return _txid; } }
    public bool Ready { get { lock (_gate) return _hash is not null; } }

    private ulong _generation;
    private long _begunAt;
    private ulong _txid;
    private DatabaseHash? _hash;

    private volatile ResumePoint _resume = ResumePoint.None;
    private volatile TailerReport _report = TailerReport.None;

    /// <summary>Where a restarted tailer resumes (written by the tailer only, replaced whole).</summary>
    public ResumePoint Resume
    {
        get => _resume;
        set => _resume = value;
    }

    /// <summary>The tailer's counters and problem for the status (written by the tailer only, replaced whole).</summary>
    public TailerReport Report => _report;

    /// <summary>Replaces the report with a changed copy (the tailer is its only writer).</summary>
    public void UpdateReport(Func<TailerReport, TailerReport> change) => _report = change(_report);

    /// <summary>The tailer's hash; only the tailer mutates it.</summary>
    public DatabaseHash Hash => _hash ?? throw new InvalidOperationException("the primary has no generation yet");

    public (ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount) Position()
    {
        lock (_gate)
            return _hash is null ? (_generation, _txid, 0, 0, 0) : (_generation, _txid, _hash.Value, _hash.PageSize, _hash.PageCount);
    }

    /// <summary>When the current generation began (Stopwatch timestamp): a replica still in another one has had none of
    /// it since then.</summary>
    public long BegunAt { get { lock (_gate) return _begunAt; } }

    /// <summary>Starts a generation at txid <paramref name="txid"/> with the hash of the database there.</summary>
    public void Begin(ulong generation, ulong txid, DatabaseHash hash)
    {
        lock (_gate)
        {
            _begunAt = Stopwatch.GetTimestamp();
            _generation = generation;
            _txid = txid;
            _hash = hash;
            _published.Clear();
        }
        Log.Clear();
    }

    /// <summary>Records that txids up to <paramref name="lastTxid"/> were published now.</summary>
    public void Published(ulong lastTxid, long nowTicks)
    {
        lock (_gate)
        {
            _txid = lastTxid;
            _published.Add((lastTxid, nowTicks));
            // Trimmed in chunks, so that keeping the list bounded costs nothing per batch.
            if (_published.Count > 2 * PublishTimesKept) _published.RemoveRange(0, _published.Count - PublishTimesKept);
        }
    }

    /// <summary>When the batch ending at <paramref name="txid"/> was published (primary's clock), if still known.</summary>
    public long? PublishedAt(ulong txid)
    {
        lock (_gate)
        {
            var index = FirstEndingAtOrAfter(txid);
            return index < _published.Count && _published[index].LastTxid == txid ? _published[index].Ticks : null;
        }
    }

    /// <summary>When the first batch holding a txid after <paramref name="txid"/> was published, if any is known.</summary>
    public long? FirstPublishedAfter(ulong txid)
    {
        lock (_gate)
        {
            var index = FirstEndingAtOrAfter(txid + 1);
            return index < _published.Count ? _published[index].Ticks : null;
        }
    }

    private int FirstEndingAtOrAfter(ulong txid)
    {
        int low = 0, high = _published.Count;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (_published[middle].LastTxid < txid) low = middle + 1;
            else high = middle;
        }
        return low;
    }

    /// <summary>A new generation id: random, never 0.</summary>
    public static ulong NewGenerationId()
    {
        ulong id;
        do id = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue); while (id == 0);
        return id;
    }
}

/// <summary>Where the tailer stands in the WAL, for the next incarnation after a crash.</summary>
/// <param name="Cursor">The WAL position after the last published transaction.</param>
/// <param name="Consistent">False while a batch is half published (the hash is partly updated): a restarted tailer
/// must establish the generation again instead of resuming.</param>
/// <param name="DatabaseIdentity">The database file the position belongs to.</param>
/// <param name="WalFile">The WAL file the cursor was read from.</param>
/// <param name="GuardTenure">The guard's <see cref="WalGuard.Tenure"/> when the cursor was read: while it holds, a WAL
/// restarted since lost nothing unread (see <see cref="WalReader.TryResume"/>).</param>
internal sealed record ResumePoint(WalCursor Cursor, bool Consistent, FileIdentity? DatabaseIdentity, FileIdentity? WalFile, long GuardTenure)
{
    public static readonly ResumePoint None = new(default, false, null, null, 0);
}

/// <summary>What the tailer reports for the status: its counters, the WAL's size, the problem it is stuck on, and its
/// last failure (the exception's message, and when on the <see cref="System.Diagnostics.Stopwatch"/> clock).</summary>
internal sealed record TailerReport(long TransactionsPublished, long BytesPublished, long Checkpoints, long WalBytes, string? Problem,
    ScrubView? LastScrub = null, (string Reason, long At)? LastFailure = null)
{
    public static readonly TailerReport None = new(0, 0, 0, 0, null);
}

using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// The primary's replication state for one database, shared by its <see cref="DatabaseActor"/> (which owns it and
/// survives tailer crashes) and the <see cref="WalTailer"/> (its only writer). Readers take consistent values under
/// the lock.
/// </summary>
internal sealed class PrimaryState
{
    private const int PublishTimesKept = 65536;

    private readonly object _gate = new();
    private readonly Dictionary<ulong, long> _publishTicks = new();
    private readonly Queue<ulong> _publishOrder = new();

    public PrimaryState(long retainedLogBytes) => Log = new RetainedLog(retainedLogBytes);

    public RetainedLog Log { get; }

    public ulong Generation { get { lock (_gate) return _generation; } }
    public ulong Txid { get { lock (_gate) return _txid; } }
    public bool Ready { get { lock (_gate) return _hash is not null; } }

    private ulong _generation;
    private ulong _txid;
    private DatabaseHash? _hash;

    // Written by the tailer only.
    public WalCursor Cursor;
    /// <summary>False while the tailer is half-way through publishing a batch (the hash is partly updated).</summary>
    public volatile bool Consistent;
    public FileIdentity? DatabaseIdentity;
    public long TransactionsPublished;
    public long BytesPublished;
    public long Checkpoints;
    public long ResyncBytesSent;
    public long WalBytes;
    public string? Problem;

    /// <summary>The tailer's hash; only the tailer mutates it.</summary>
    public DatabaseHash Hash => _hash ?? throw new InvalidOperationException("the primary has no generation yet");

    public (ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount) Position()
    {
        lock (_gate)
            return _hash is null ? (_generation, _txid, 0, 0, 0) : (_generation, _txid, _hash.Value, _hash.PageSize, _hash.PageCount);
    }

    /// <summary>Starts a generation at txid <paramref name="txid"/> with the hash of the database there.</summary>
    public void Begin(ulong generation, ulong txid, DatabaseHash hash)
    {
        lock (_gate)
        {
            _generation = generation;
            _txid = txid;
            _hash = hash;
            _publishTicks.Clear();
            _publishOrder.Clear();
        }
        Log.Clear();
    }

    /// <summary>Records that txids up to <paramref name="lastTxid"/> were published now.</summary>
    public void Published(ulong lastTxid, long nowTicks)
    {
        lock (_gate)
        {
            _txid = lastTxid;
            _publishTicks[lastTxid] = nowTicks;
            _publishOrder.Enqueue(lastTxid);
            while (_publishOrder.Count > PublishTimesKept) _publishTicks.Remove(_publishOrder.Dequeue());
        }
    }

    /// <summary>When the batch ending at <paramref name="txid"/> was published (primary's clock), if still known.</summary>
    public long? PublishedAt(ulong txid)
    {
        lock (_gate) return _publishTicks.TryGetValue(txid, out var ticks) ? ticks : null;
    }

    /// <summary>A new generation id: random, never 0.</summary>
    public static ulong NewGenerationId()
    {
        ulong id;
        do id = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue); while (id == 0);
        return id;
    }
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Event;

namespace Litecast.Actors;

/// <summary>
/// One configured database on this node. On the primary (no upstream) it owns the guard and the replication state,
/// runs the <see cref="Primary.WalTailer"/> under a backoff supervisor, publishes heartbeats, and serves catch-up and
/// resync requests. On a replica it subscribes to the primary's topic, keeps batches in order, and drives its
/// <see cref="Replica.Applier"/>: catch-up on a txid gap, resync on a new generation, a hash mismatch, a failed
/// startup check, a local write or an operator request.
/// </summary>
public sealed partial class DatabaseActor : ReceiveActor, IWithTimers
{
    private readonly DatabaseSettings _settings;
    private readonly IActorRef _mediator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<(WaitForTxid Request, IActorRef ReplyTo, long Deadline)> _waiters = [];

    private long _transactionsReplicated;
    private long _bytesReplicated;
    private long _resyncs;
    private long _localWrites;

    public DatabaseActor(DatabaseSettings settings, IActorRef mediator)
    {
        _settings = settings;
        _mediator = mediator;
        if (settings.IsPrimary) Primary();
        else Replica();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates a database actor; <paramref name="mediator"/> is the cluster's DistributedPubSub mediator.</summary>
    public static Props Props(DatabaseSettings settings, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new DatabaseActor(settings, mediator));

    protected override void PreStart()
    {
        if (_settings.IsPrimary) StartPrimary();
        else StartReplica();
    }

    /// <summary>How a replica's problem starts when its applier failed (cleared by the next applied batch).</summary>
    private const string ApplyFailedPrefix = "applying failed: ";

    /// <summary>
    /// Supervision of this database's children, in one place: the replica's applier and the primary's resync sources
    /// are restarted after a failure (a restarted applier verifies the file again before it applies anything). On a
    /// replica the failure becomes the reported problem until a batch applies again, so a full disk or an unwritable
    /// file shows in /status and /healthz at once. The tailer runs under its own backoff supervisor.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        if (!_settings.IsPrimary) _replicaProblem = ApplyFailedPrefix + e.Message;
        return Directive.Restart;
    });

    protected override void PostStop()
    {
        if (_settings.IsPrimary) StopPrimary();
        else StopReplica();
    }

    private void AddWaiter(WaitForTxid request)
    {
        _waiters.Add((request, Sender, Stopwatch.GetTimestamp() + (long)(request.Timeout.TotalSeconds * Stopwatch.Frequency)));
        AnswerWaiters();
    }

    /// <summary>Answers every waiter whose txid the local copy has reached; forgets those whose asker gave up.</summary>
    private void AnswerWaiters()
    {
        if (_waiters.Count == 0) return;
        var (generation, txid) = LocalPosition();
        var now = Stopwatch.GetTimestamp();
        _waiters.RemoveAll(w =>
        {
            if (txid >= w.Request.Txid && generation != 0 && generation == CurrentGeneration()
                && (w.Request.Generation is null || w.Request.Generation == generation))
            {
                w.ReplyTo.Tell(new TxidReached(generation, txid));
                return true;
            }
            return now > w.Deadline;
        });
    }

    /// <summary>
    /// The primary's current generation as this node knows it: a txid bookmark means nothing in another one. A replica
    /// knows it from the primary's heartbeat only; before the first (starting, rejoining) it answers no wait, since
    /// the primary may have started a generation whose txids the replica's old copy seems to have reached.
    /// </summary>
    private ulong CurrentGeneration() => _settings.IsPrimary ? _state?.Generation ?? 0 : _lastHeartbeat?.Generation ?? 0;

    private (ulong Generation, ulong Txid) LocalPosition() =>
        _settings.IsPrimary ? (_state?.Generation ?? 0, _state?.Txid ?? 0) : (_position?.Generation ?? 0, _position?.Txid ?? 0);
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Replica;

/// <summary>
/// A database this node holds a replica of: it subscribes to the primary's topic, keeps batches in order
/// (<see cref="BatchSequencer"/>), and drives its <see cref="Applier"/>: catch-up on a txid gap, resync on a new
/// generation, a hash mismatch, a failed startup check, a local write or an operator request. Three behaviours:
/// <see cref="Starting"/> until the applier has checked the file, <see cref="Streaming"/> (following or catching up),
/// and <see cref="Resyncing"/>.
/// </summary>
public sealed class ReplicaDatabaseActor : ReceiveActor, IWithTimers
{
    private readonly DatabaseSettings _settings;
    private readonly IActorRef _mediator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TxidWaiters _waiters = new();
    private long _transactionsReplicated;
    private long _bytesReplicated;
    private long _resyncs;
    private long _localWrites;

    private sealed record ReplicaTick
    {
        public static readonly ReplicaTick Instance = new();
    }

    /// <summary>Report the position to the primary now (the throttle's timer).</summary>
    private sealed record ReportDue
    {
        public static readonly ReportDue Instance = new();
    }

    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(5);
    /// <summary>A resync with no offer or pages from the primary for this long is given up and asked again (a
    /// snapshot lost in a tailer restart, a primary that went away); a long resync that progresses is never cut.</summary>
    private static readonly TimeSpan ResyncTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Behind the primary with no progress this long: the replica is stalled (reported, counted) and asks
    /// for the missing batches again.</summary>
    private static readonly TimeSpan StallAfter = TimeSpan.FromSeconds(10);

    /// <summary>Stalled this long without a resync: catch-up is not getting anywhere, so the replica resyncs.</summary>
    private static readonly TimeSpan ResyncAfterStall = TimeSpan.FromSeconds(20);

    /// <summary>How often a resync in flight logs its progress.</summary>
    private static readonly TimeSpan ResyncLogInterval = TimeSpan.FromSeconds(5);

    /// <summary>The wait before a new session after the first failed one, doubled after each further failure up to
    /// <see cref="MaxResyncRetryDelay"/>. A failure that does not go away (a replica file of another page size) was
    /// retried on every heartbeat and batch, about three times a second, each time making the primary copy and hash
    /// the whole database.</summary>
    private static readonly TimeSpan ResyncRetryDelay = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MaxResyncRetryDelay = TimeSpan.FromSeconds(60);

    private IActorRef _applier = ActorRefs.Nobody;
    private ReplicaPosition? _position;
    private IActorRef? _primary;
    private Heartbeat? _lastHeartbeat;
    private long _lastHeartbeatAt;
    // The last heartbeat or batch from the primary: either shows it alive.
    private long _primaryHeardAt;
    private long _reportedAt;
    /// <summary>The highest txid the primary asked to hear of as soon as it is applied (write-ack), while this replica
    /// is short of it: until then every apply is reported at once, so every txid asked for below it is too.</summary>
    private ulong? _reportWanted;
    private long? _appliedAt;

    // Sequencing: the txid up to which batches were handed to the applier (or applied), and batches held back.
    private readonly BatchSequencer _sequencer;
    private ulong _forwardedAtLastTick;
    private long? _catchUpSince;
    private bool _catchUpDeferred;
    private (Guid Session, long Since)? _resync;
    private string? _resyncReason;
    private long _resyncProgressAt;
    private ResyncProgress? _resyncProgress;
    private IActorRef? _resyncAskedOf;
    // Sessions failed since the last complete resync, and when the next may start (Stopwatch timestamp).
    private int _failedSessions;
    private long _nextSessionAt;
    private long _resyncLoggedAt;
    private string? _replicaProblem;
    // The applier's last failure logged, and how often it came again since (see SupervisorStrategy).
    private (string? Message, long LoggedAt, int Repeats) _lastApplyFailure;
    private static readonly TimeSpan RepeatedFailureLoggedEvery = TimeSpan.FromSeconds(30);
    private ScrubView? _lastScrub;

    // What the replica knows of the primary's progress, and of its own: the highest txid the primary is known to have
    // in the replica's generation (heartbeats and batches), the last moment the replica was known to be current (a
    // heartbeat or batch arrived that it had already applied, or it applied everything announced), and when the
    // applied txid last advanced. From them: the state, the lag on this node's clock, and stall escalation. The lag
    // is the age of the replica's data: a replica resumed after a pause, or cut off, is as far behind as it was away,
    // not as far as since the first heartbeat it hears again.
    private ulong _primaryTxid;
    private long _currentAt = Stopwatch.GetTimestamp();
    // Whether this actor has seen the replica current (then _currentAt is its own observation, not a file's age).
    private bool _currentSeen;
    // Pause detection: when the actor last handled a tick or a heartbeat, and when it found it had been paused.
    private long _aliveAt = Stopwatch.GetTimestamp();
    private long? _resumedAt;
    private long _progressAt = Stopwatch.GetTimestamp();
    private string _replicaState = ReplicaStates.Disconnected;
    private DateTimeOffset _replicaStateSince = DateTimeOffset.UtcNow;
    private long _stalls;
    private long _checkpoints;
    /// <summary>Bytes of page data received by the resync sessions before the last one (<see cref="_resyncProgress"/>
    /// counts the last one's).</summary>
    private long _resyncBytesBefore;
    // Members removed from the cluster: this node's failure detector stops watching them, so they read as available.
    private readonly HashSet<Address> _removed = new();
    private long? _primaryUnreachableSince;
    // Nodes other than the primary that sent this replica the primary's messages, by kind (each logged once).
    private readonly HashSet<(Address Node, Type Message)> _impostors = new();

    public ReplicaDatabaseActor(DatabaseSettings settings, IActorRef mediator)
    {
        _settings = settings;
        _mediator = mediator;
        _sequencer = new BatchSequencer(settings.MaxHeldBatches);
        Starting();
    }

    /// <summary>
    /// Until the applier has checked the file and says where it stands: batches are not taken yet (catch-up or a
    /// resync brings whatever passes meanwhile).
    /// </summary>
    private void Starting()
    {
        Receive<PageBatch>(_ => { });
        Receive<RequestResync>(r =>
        {
            _resyncReason = $"operator request: {r.Reason}";
            Sender.Tell(new ResyncStarted(true, "resync will start once the replica file is checked"));
        });
        Common();
    }

    /// <summary>
    /// Following the primary, or catching up with it: batches go to the applier in order; a gap asks for catch-up,
    /// and whatever cannot be caught up (a new generation, a mismatch, a local write) leads to a resync.
    /// </summary>
    private void Streaming()
    {
        Receive<Heartbeat>(heartbeat =>
        {
            HeartbeatReceived(heartbeat);
            if (_position is not null && heartbeat.Generation != _position.Generation)
                Resync($"the primary started generation {heartbeat.Generation:x16}");
            else if (_position is not null && heartbeat.Txid > _sequencer.Forwarded && _catchUpSince is null && _sequencer.HeldCount > 0 && !ApplierBusy)
                RequestCatchUp();
            ReportPosition();
        });
        Receive<PageBatch>(batch =>
        {
            BatchHeard(batch);
            if (_position is null || batch.Generation != _position.Generation)
            {
                Hold(batch);
                if (_position is not null)
                    Resync($"a batch of generation {batch.Generation:x16} arrived; the replica is at {_position.Generation:x16}");
                return;
            }
            if (_sequencer.IsStale(batch)) return;
            Hold(batch);
            ForwardHeld();
        });
        Receive<Applier.Applied>(applied =>
        {
            Applied(applied);
            if (_catchUpSince is not null && _sequencer.HeldCount == 0) _catchUpSince = null;
            if (_catchUpDeferred && !ApplierBusy) RequestCatchUp();
            ForwardHeld();
            CatchUpAfterOverflow();
        });
        Receive<Applier.Rejected>(r =>
        {
            // The applier dropped the batch it was applying: nothing it was handed is pending any more.
            _sequencer.ResetTo(_position?.Txid ?? 0, pageCount: 0);
            if (r.NeedsResync) Resync(r.Reason);
            else RequestCatchUp();
        });
        Receive<CatchUpUnavailable>(u => Resync($"catch-up unavailable: {u.Reason}"));
        Receive<Applier.LocalWriteDetected>(w =>
        {
            LocalWriteDetected(w);
            Resync("a local write changed the replica");
        });
        Receive<ReplicaTick>(_ =>
        {
            if (_catchUpSince is { } since && Stopwatch.GetElapsedTime(since) > CatchUpTimeout)
            {
                _log.Warning("{Database}: catch-up after txid {Txid} did not complete within {Seconds:F0} s; asking again",
                    _settings.Name, _position?.Txid, CatchUpTimeout.TotalSeconds);
                _catchUpSince = null;
                RequestCatchUp();
            }
            // Behind the primary's heartbeat with nothing arriving since the last tick (the batches were lost, or a gap
            // was seen before the primary was known): ask for them.
            if (_lastHeartbeat is { } heartbeat && _position is not null && heartbeat.Generation == _position.Generation
                && heartbeat.Txid > _sequencer.Forwarded && _sequencer.Forwarded == _forwardedAtLastTick && _catchUpSince is null && !ApplierBusy)
                RequestCatchUp();
            _forwardedAtLastTick = _sequencer.Forwarded;
            Ticked();
            // Catch-up is asked again above while stalled; past this, a resync.
            if (_replicaState == ReplicaStates.Stalled && Stopwatch.GetElapsedTime(_progressAt) > ResyncAfterStall)
                Resync($"no progress for {Stopwatch.GetElapsedTime(_progressAt).TotalSeconds:F0} s at txid {_position?.Txid} while the primary is at {_primaryTxid}");
        });
        Receive<RequestResync>(r =>
        {
            Resync($"operator request: {r.Reason}");
            Sender.Tell(new ResyncStarted(true, _primary is null ? "resync will start when the primary is reachable" : "resync started"));
        });
        Common();
    }

    /// <summary>
    /// A resync is needed: asked of the primary as soon as it is known, and asked again when a session fails or makes
    /// no progress. Live batches are held meanwhile and applied after the snapshot.
    /// </summary>
    private void Resyncing()
    {
        Receive<Heartbeat>(heartbeat =>
        {
            HeartbeatReceived(heartbeat);
            // A batch of a restarted primary's new generation can arrive before its first heartbeat: the session was
            // then asked of the earlier incarnation, and would wait out ResyncTimeout for an answer that never comes.
            if (_resync is { } inFlight && !Equals(_primary, _resyncAskedOf))
            {
                _log.Info("{Database}: resync {Session} was asked of an earlier incarnation of the primary; asking the current one",
                    _settings.Name, inFlight.Session);
                _resync = null;
            }
            StartSession();
            ReportPosition();
        });
        Receive<PageBatch>(batch =>
        {
            BatchHeard(batch);
            Hold(batch);
        });
        Receive<ResyncOffer>(o =>
        {
            if (o.SessionId == _resync?.Session)
            {
                _resyncProgressAt = Stopwatch.GetTimestamp();
                _resyncProgress?.Offered(o);
            }
            _applier.Forward(o);
        });
        Receive<ResyncPages>(p =>
        {
            if (p.SessionId == _resync?.Session)
            {
                _resyncProgressAt = Stopwatch.GetTimestamp();
                _resyncProgress?.Received(p);
            }
            _applier.Forward(p);
        });
        Receive<Applier.ResyncFetched>(f =>
        {
            if (f.Session != _resync?.Session) return;
            _resyncProgressAt = Stopwatch.GetTimestamp();
            _resyncProgress?.Fetched(f.FirstPage, f.Bytes);
        });
        // Only the session in flight: a failure or abort of an earlier, abandoned one must not end the current one.
        Receive<ResyncFailed>(f => f.SessionId == _resync?.Session, f => SessionFailed($"the primary failed the resync: {f.Reason}"));
        Receive<Applier.ResyncAborted>(a => a.Session == _resync?.Session, a =>
        {
            // The primary would otherwise keep serving the session, and its snapshot on disk, until it times out.
            _resyncAskedOf?.Tell(new ResyncFailed(a.Session, a.Reason));
            SessionFailed(a.Reason);
        });
        Receive<Applier.ResyncDone>(ResyncDone);
        Receive<ReplicaTick>(_ =>
        {
            if (_resync is not null && Stopwatch.GetElapsedTime(_resyncProgressAt) > ResyncTimeout)
                SessionFailed("no progress for " + ResyncTimeout);
            LogResyncProgress();
            StartSession();
            Ticked();
        });
        Receive<RequestResync>(_ =>
        {
            // An operator asking while failed sessions back off gets a new session now, and a fresh series of retries;
            // the last failure is cleared, so that a failure shown from now on (litecast resync watches) is a new one.
            _failedSessions = 0;
            if (_resync is null)
            {
                _nextSessionAt = 0;
                if (_replicaProblem?.StartsWith(ReplicaStates.ResyncFailedPrefix, StringComparison.Ordinal) == true) _replicaProblem = null;
            }
            StartSession();
            Sender.Tell(new ResyncStarted(true, "a resync is already under way"));
        });
        Common();
    }

    /// <summary>What every behaviour handles the same way: the primary's heartbeat, cluster reachability, the
    /// applier's (re)start and a lost file, queries, waits, and what arrives out of its time.</summary>
    private void Common()
    {
        Receive<SubscribeAck>(_ => { });
        Receive<Heartbeat>(HeartbeatReceived);
        Receive<Applier.Ready>(ApplierReady);
        Receive<Applier.Checkpointed>(_ => _checkpoints++);
        Receive<Applier.FileLost>(lost =>
        {
            _replicaProblem = lost.Detail;
            _position = null;
            _appliedAt = null;
            _sequencer.ResetTo(0, pageCount: 0);
            Resync(lost.Detail);
        });
        Receive<Applier.Scrubbed>(scrubbed =>
        {
            _lastScrub = scrubbed.Scrub;
            if (scrubbed.Damage is not { } damage) return;
            _replicaProblem = damage;
            Resync(damage);
        });
        Receive<ClusterEvent.MemberRemoved>(r => _removed.Add(r.Member.Address));
        // A primary restarted under the same address is a new member: once it is up, its address is watched again.
        Receive<ClusterEvent.MemberUp>(u => _removed.Remove(u.Member.Address));
        Receive<ReplicaTick>(_ => Ticked());
        Receive<ReportDue>(_ => ReportPosition());
        Receive<ReplicaReportWanted>(wanted =>
        {
            _reportWanted = Math.Max(_reportWanted ?? 0, wanted.Txid);
            if (_position is not null && _position.Txid >= wanted.Txid) ReportWanted();
        });
        Receive<WaitForTxid>(w =>
        {
            _waiters.Add(w, Sender);
            AnswerWaiters();
        });
        Receive<SyncWal>(_ => Sender.Tell(new DatabaseRequestRefused($"{_settings.Name} is a replica here; sync on the primary")));
        Receive<GetDatabaseStatus>(_ => Sender.Tell(ReplicaStatus()));
        // A resync's messages after it ended (the applier ignores stale sessions), a late catch-up answer, or the result
        // of a session given up: nothing to do in this behaviour. A late ResyncDone is handled by Resyncing.
        Receive<ResyncOffer>(o => _applier.Forward(o));
        Receive<ResyncPages>(p => _applier.Forward(p));
        Receive<ResyncFailed>(_ => { });
        Receive<Applier.ResyncAborted>(_ => { });
        Receive<Applier.ResyncFetched>(_ => { });
        Receive<Applier.ResyncDone>(done => _log.Info("{Database}: resync {Session} completed after it had been given up", _settings.Name, done.Session));
        Receive<CatchUpUnavailable>(_ => { });
        // Outside streaming (while resyncing), batches handed on before are still applied (or dropped) by the applier.
        Receive<Applier.Applied>(Applied);
        Receive<Applier.Rejected>(_ => _sequencer.ResetTo(_position?.Txid ?? 0, pageCount: 0));
        Receive<Applier.LocalWriteDetected>(LocalWriteDetected);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates the actor; <paramref name="mediator"/> is the cluster's DistributedPubSub mediator.</summary>
    public static Props Props(DatabaseSettings settings, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new ReplicaDatabaseActor(settings, mediator));

    protected override void PreStart()
    {
        _mediator.Tell(new Subscribe(_settings.Topic, Self));
        _applier = Context.ActorOf(Applier.Props(_settings), "applier");
        Timers.StartPeriodicTimer("replica-tick", ReplicaTick.Instance, TimeSpan.FromSeconds(1));
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.MemberUp));
    }

    /// <summary>How the problem starts when the applier failed (cleared by the next applied batch).</summary>
    private const string ApplyFailedPrefix = "applying failed: ";

    /// <summary>
    /// Supervision of the applier, in one place: it is restarted after a failure and verifies the file again before it
    /// applies anything. The failure becomes the reported problem until a batch applies again, so a full disk or an
    /// unwritable file shows in /status and /healthz at once. A failure of the disk or of SQLite is logged as one line:
    /// a full disk fails every apply until space is freed, and each failure's stack trace made 18 lines of the same
    /// (a black-box review); anything else keeps its stack trace. The same failure again is logged once per
    /// <see cref="RepeatedFailureLoggedEvery"/>, with how often it came: a full disk still logged several lines a second.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _replicaProblem = ApplyFailedPrefix + e.Message;
        if (e.Message == _lastApplyFailure.Message && Stopwatch.GetElapsedTime(_lastApplyFailure.LoggedAt) < RepeatedFailureLoggedEvery)
        {
            _lastApplyFailure.Repeats++;
            return Directive.Restart;
        }
        var repeats = _lastApplyFailure.Message == e.Message && _lastApplyFailure.Repeats > 0
            ? $" (again {_lastApplyFailure.Repeats} times since it was last logged)"
            : "";
        _lastApplyFailure = (e.Message, Stopwatch.GetTimestamp(), 0);
        if (e is IOException or Microsoft.Data.Sqlite.SqliteException)
            _log.Error("{Database}: applying failed, the applier restarts: {Reason}{Repeats}", _settings.Name, e.Message, repeats);
        else
            _log.Error(e, "{Database}: applying failed, the applier restarts{Repeats}", _settings.Name, repeats);
        return Directive.Restart;
    }, loggingEnabled: false);

    protected override void PostStop()
    {
        Cluster.Get(Context.System).Unsubscribe(Self);
        // A current replica hears it at every heartbeat: _currentAt is at most a heartbeat old.
        _settings.Stopped?.Invoke(new ReplicaCopyAtStop(_position?.Generation ?? 0, _position?.Txid ?? 0, _position?.Hash ?? 0,
            _lastHeartbeat?.Generation ?? 0, _currentAt,
            _replicaState == ReplicaStates.Disconnected ? _replicaStateSince : DateTimeOffset.UtcNow));
    }

    /// <summary>
    /// Only the primary speaks for the database. The topic is named after the primary, but any cluster member can
    /// publish to any topic or send to this actor: a heartbeat from another member made its sender the replica's
    /// primary (catch-up and resync requests, and so the whole database, then came from it), and a batch from it
    /// announced txids the primary never published, so the replica counted itself behind. Such messages from any node
    /// but the primary's are dropped, each kind logged once per node. Messages from this node's own actors are not
    /// wire traffic.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        if (message is Heartbeat or PageBatch or CatchUpUnavailable or ResyncOffer or ResyncPages or ResyncFailed or ReplicaReportWanted
            && Sender.Path.Address is { HasGlobalScope: true } from
            && from.ToString() != _settings.Upstream!.PrimaryNode)
        {
            if (_impostors.Add((from, message.GetType())))
                _log.Warning("{Database}: dropped a {Message} from {Node}, which is not the primary ({Primary}); further ones from it are dropped silently",
                    _settings.Name, message.GetType().Name, from, _settings.Upstream.PrimaryNode);
            return true;
        }
        return base.AroundReceive(receive, message);
    }

    /// <summary>
    /// Answers waiters in the primary's current generation as known from its heartbeat only: before the first
    /// (starting, rejoining) none is answered, since the primary may have started a generation whose txids the
    /// replica's old copy seems to have reached.
    /// </summary>
    private void AnswerWaiters() => _waiters.Answer(_position?.Generation ?? 0, _position?.Txid ?? 0, _lastHeartbeat?.Generation ?? 0);

    /// <summary>A batch arrived: the primary is alive, and at least at its last txid.</summary>
    private void BatchHeard(PageBatch batch)
    {
        _primaryHeardAt = Stopwatch.GetTimestamp();
        PrimaryAt(batch.Generation, batch.LastTxid);
    }

    /// <summary>Notes the primary's txid from a heartbeat or batch of the replica's generation.</summary>
    private void PrimaryAt(ulong generation, ulong txid)
    {
        if (_position is null || generation != _position.Generation) return;
        _primaryTxid = Math.Max(_primaryTxid, txid);
        if (txid > _position.Txid || _resumedAt is not null) return;
        _currentAt = Stopwatch.GetTimestamp();
        _currentSeen = true;
    }

    /// <summary>The applied position advanced (or a resync finished).</summary>
    private void Progressed()
    {
        _progressAt = Stopwatch.GetTimestamp();
        if (_position is null || _position.Txid < _primaryTxid || _resumedAt is not null) return;
        _currentAt = _progressAt;
        _currentSeen = true;
    }

    /// <summary>A tick or heartbeat handled this long after the previous one means the process was paused (SIGSTOP, a
    /// frozen VM) or starved: ticks come every second.</summary>
    private static readonly TimeSpan PauseDetectedAfter = TimeSpan.FromSeconds(3);

    /// <summary>A heartbeat handled this long after a pause was detected was sent after it: the ones queued during the
    /// pause arrive within moments of resuming.</summary>
    private static readonly TimeSpan FreshHeartbeatAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Called on each tick and heartbeat. After a pause, heartbeats and batches sent before or during it are handled
    /// first and would make the replica look current at a position the primary has long left. Until a heartbeat sent
    /// after the pause arrives, they only raise the primary's known txid, never mark the replica current, and the
    /// status says why it is not healthy.
    /// </summary>
    private void Alive(Heartbeat? heartbeat)
    {
        var now = Stopwatch.GetTimestamp();
        var gap = Stopwatch.GetElapsedTime(_aliveAt, now);
        _aliveAt = now;
        if (gap > PauseDetectedAfter)
        {
            _resumedAt = now;
            _log.Warning("{Database}: resumed after {Seconds:F1} s without ticks or heartbeats (paused or starved); not current until the primary is heard again",
                _settings.Name, gap.TotalSeconds);
        }
        else if (heartbeat is not null && _resumedAt is { } resumed && Stopwatch.GetElapsedTime(resumed, now) >= FreshHeartbeatAfter)
            _resumedAt = null;
    }

    /// <summary>How old the replica's data is when it is behind the primary's known txid (0 when it is not), on this
    /// node's clock; null when the primary's position is not known. After a pause, until the primary is heard again,
    /// while the primary is in another generation than the copy (a resync is due), and while the primary is silent
    /// (unreachable, or no heartbeat for <see cref="SilentPrimaryAfter"/>), the age since it was last known current: a
    /// replica whose resyncs kept failing reported 0, and so did one cut off from a stopped primary, whose proxy then
    /// kept serving reads past its max-lag (black-box reviews).</summary>
    private TimeSpan? BehindFor() =>
        _position is null ? null
        : _lastHeartbeat is not null && _position.Txid >= _primaryTxid && _resumedAt is null && _lastHeartbeat.Generation == _position.Generation
          && !PrimarySilent()
            ? TimeSpan.Zero
            : Stopwatch.GetElapsedTime(_currentAt);

    /// <summary>A primary that sends a heartbeat every <see cref="DatabaseSettings.HeartbeatInterval"/> and was not heard
    /// (no heartbeat, no batch) for three of them may have committed what this copy lacks. Three, not two: a heartbeat
    /// can queue behind another database's big transaction on the same connection, and a healthy replica's lag then
    /// jumped to seconds for a moment.</summary>
    private TimeSpan SilentPrimaryAfter => 3 * _settings.HeartbeatInterval;

    private bool PrimarySilent() =>
        PrimaryUnreachableSince() is not null || Stopwatch.GetElapsedTime(_primaryHeardAt) > SilentPrimaryAfter;

    /// <summary>
    /// Since when this node cannot reach the primary: its own failure detector calls the primary unavailable, or the
    /// primary was removed from the cluster. Null while it is reachable (or not known yet); the first time it is found
    /// unreachable is kept. A replica paused (SIGSTOP, a frozen VM) finds the primary unavailable when it resumes, while
    /// heartbeats queued before the pause still arrive: the failure detector, not those heartbeats, says whether the
    /// primary is heard. The cluster's UnreachableMember event is not used: it carries any member's observation, so a
    /// link cut between the primary and another replica made this one, which still heard every heartbeat, report
    /// disconnected and fail /healthz.
    /// </summary>
    private long? PrimaryUnreachableSince()
    {
        var unreachable = _primary?.Path.Address is { } address
            && (_removed.Contains(address) || !Cluster.Get(Context.System).FailureDetector.IsAvailable(address));
        if (!unreachable) _primaryUnreachableSince = null;
        else _primaryUnreachableSince ??= Stopwatch.GetTimestamp();
        return _primaryUnreachableSince;
    }

    private string CurrentState()
    {
        if (_resync is not null) return ReplicaStates.Resyncing;
        if (PrimaryUnreachableSince() is not null || _lastHeartbeat is null || Stopwatch.GetElapsedTime(_lastHeartbeatAt) > _settings.MaxLag
            || _resumedAt is not null)
            return ReplicaStates.Disconnected;
        // A resync asked for and not yet under way (waiting for the file check, or for the primary to be known).
        if (_resyncReason is not null) return ReplicaStates.Resyncing;
        if (_position is null) return ReplicaStates.CatchingUp;
        if (_position.Txid >= _primaryTxid) return ReplicaStates.Following;
        return Stopwatch.GetElapsedTime(_progressAt) > StallAfter && Stopwatch.GetElapsedTime(_currentAt) > StallAfter
            ? ReplicaStates.Stalled
            : ReplicaStates.CatchingUp;
    }

    /// <summary>Once a second, in every behaviour: the state, and the waiters whose asker gave up.</summary>
    private void Ticked()
    {
        Alive(null);
        RefreshState();
        AnswerWaiters();
    }

    /// <summary>Takes the current state; on a change, notes since when, and counts and logs a stall.</summary>
    private string RefreshState()
    {
        var state = CurrentState();
        if (state != _replicaState)
        {
            _replicaState = state;
            _replicaStateSince = DateTimeOffset.UtcNow;
            if (state == ReplicaStates.Stalled)
            {
                _stalls++;
                _log.Warning("{Database}: stalled at txid {Txid} while the primary is at {PrimaryTxid}: no progress for {Seconds:F0} s; {Waiting}",
                    _settings.Name, _position?.Txid, _primaryTxid, Stopwatch.GetElapsedTime(_progressAt).TotalSeconds, _replicaProblem ?? WaitingFor());
            }
        }
        return state;
    }

    /// <summary>What the replica is waiting for, in words (log and /status).</summary>
    private string WaitingFor() =>
        _resync is not null ? $"waiting for the resync ({_resyncReason})"
        : ApplierBusy ? $"waiting for the applier to apply up to txid {_sequencer.Forwarded}"
        : _catchUpSince is not null ? $"waiting for catch-up from txid {_position?.Txid + 1}"
        : _sequencer.HeldCount > 0 ? $"waiting for txid {_sequencer.Forwarded + 1} ({_sequencer.HeldCount} later batches held)"
        : "waiting for batches";

    /// <summary>The applier checked the file (at start, or after it was restarted): a resync when it found a problem
    /// or one was asked for meanwhile, otherwise streaming from its position.</summary>
    private void ApplierReady(Applier.Ready ready)
    {
        _position = ready.Position;
        _appliedAt = null;
        _sequencer.ResetTo(ready.Position?.Txid ?? 0, ready.Position?.PageCount ?? 0, forgetHeld: true);
        _catchUpSince = null;
        _catchUpDeferred = false;
        // An applier that failed during a session (a full disk under its staged copy) ended that session: a failed one,
        // so that the retries back off and the primary deletes its snapshot now. Asked again at once, each session left
        // the primary a snapshot until its timeout (86 copies of the database in a black-box review).
        if (_resync is { } lost)
        {
            var reason = _replicaProblem ?? "the applier was restarted";
            _resyncAskedOf?.Tell(new ResyncFailed(lost.Session, reason));
            SessionFailed(reason);
        }
        // A replica starting behind is as stale as its last save, not as its start. An applier restarted later keeps
        // what this actor saw: a save is as recent as the last apply, and the replica may have been current long after
        // it while the primary was idle (its lag jumped by that idle time, found by a black-box review).
        if (ready.SavedAt is { } savedAt && !_currentSeen) _currentAt = ReplicaCopyAtStop.TimestampOf(savedAt);
        if (ready.Problem is { } problem)
        {
            _log.Info("{Database}: replica needs a resync: {Problem}", _settings.Name, problem);
            Resync(problem);
            return;
        }
        _log.Info("{Database}: replica at generation {Generation:x16} txid {Txid}", _settings.Name, _position!.Generation, _position.Txid);
        // A heartbeat heard before the file was checked had no position to compare with: without it, a replica that
        // starts (or rejoins) behind would report itself current until the next heartbeat.
        if (_lastHeartbeat is { } heartbeat) PrimaryAt(heartbeat.Generation, heartbeat.Txid);
        if (_resyncReason is { } pending) Resync(pending);
        else Become(Streaming);
    }

    private void HeartbeatReceived(Heartbeat heartbeat)
    {
        Alive(heartbeat);
        _primary = Sender;
        _lastHeartbeat = heartbeat;
        _lastHeartbeatAt = _primaryHeardAt = Stopwatch.GetTimestamp();
        PrimaryAt(heartbeat.Generation, heartbeat.Txid);
    }

    private void Hold(PageBatch batch)
    {
        if (_sequencer.Hold(batch))
            _log.Warning("{Database}: more than {Max} batches held back; dropping the newest, catch-up follows", _settings.Name, _settings.MaxHeldBatches);
    }

    /// <summary>
    /// After batches were dropped past the bound: ask for them as soon as the kept ones that continue the sequence are
    /// applied (called after <see cref="ForwardHeld"/>, so an idle applier means nothing more can go). Batches held past
    /// a gap do not wait: the gap is what was dropped, and no reply already on its way brings it again.
    /// </summary>
    private void CatchUpAfterOverflow()
    {
        if (!_sequencer.Overflowed || ApplierBusy) return;
        _sequencer.ClearOverflow();
        _catchUpSince = null;
        RequestCatchUp();
    }

    /// <summary>
    /// Hands the applier the held batches that continue the sequence; asks for catch-up on a gap. The applier gets one
    /// batch at a time: while it works, later batches wait here and then travel to it merged into one transaction, so
    /// a replica that falls behind catches up in fewer, larger transactions instead of falling further behind.
    /// </summary>
    private void ForwardHeld()
    {
        if (_position is null) return;
        var ready = _sequencer.TakeReady(_position.Generation, _position.Txid, out var gap);
        foreach (var batch in ready) _applier.Tell(new Applier.Apply(batch));
        if (gap) RequestCatchUp();
    }

    /// <summary>True while the applier has been handed batches it has not applied yet.</summary>
    private bool ApplierBusy => _position is not null && _sequencer.IsBusy(_position.Txid);

    private void RequestCatchUp()
    {
        if (_primary is null || _position is null) return;
        // Catch-up resends from the last APPLIED txid: asked while the applier works on later batches, its batches
        // would straddle what the applier is about to apply. Ask once it is done.
        if (ApplierBusy)
        {
            _catchUpDeferred = true;
            return;
        }
        _catchUpDeferred = false;
        if (_catchUpSince is { } since && Stopwatch.GetElapsedTime(since) < CatchUpTimeout) return;
        _catchUpSince = Stopwatch.GetTimestamp();
        // Whatever part of a batch was in flight is abandoned: catch-up resends whole batches after the last applied.
        _sequencer.ResetTo(_position.Txid, pageCount: 0);
        _log.Info("{Database}: catching up after txid {Txid}", _settings.Name, _position.Txid);
        _primary.Tell(new CatchUpRequest(_settings.Upstream!.PrimaryPath, _settings.NodeId, _position.Generation, _position.Txid, Self));
    }

    private void Applied(Applier.Applied applied)
    {
        _position = new ReplicaPosition(applied.Generation, applied.LastTxid, applied.Hash, _position?.PageSize ?? 0, 0);
        _appliedAt = applied.AppliedAt;
        Progressed();
        _transactionsReplicated += (long)(applied.LastTxid - applied.FirstTxid + 1);
        _bytesReplicated += applied.Bytes;
        if (_replicaProblem?.StartsWith("local write", StringComparison.Ordinal) == true || _replicaProblem?.StartsWith(ApplyFailedPrefix, StringComparison.Ordinal) == true)
            _replicaProblem = null;
        if (_reportWanted is not null) ReportWanted();
        else ReportPositionSoon();
        AnswerWaiters();
    }

    /// <summary>Reports now, for the primary waiting on <see cref="_reportWanted"/>; done with it once the position is
    /// past it (txids grow across generations, so a position of a later generation past it ends the wait too).</summary>
    private void ReportWanted()
    {
        if (_position is not null && _position.Txid >= _reportWanted) _reportWanted = null;
        ReportPosition();
    }

    private void LocalWriteDetected(Applier.LocalWriteDetected write)
    {
        _localWrites++;
        _replicaProblem = $"local write detected: {write.Detail}";
    }

    /// <summary>A resync is needed for <paramref name="reason"/>: the replica resyncs, starting a session now if it can.</summary>
    private void Resync(string reason)
    {
        if (_resync is not null) return;
        var known = _resyncReason == reason;
        _resyncReason = reason;
        _catchUpSince = null;
        _catchUpDeferred = false;
        Become(Resyncing);
        StartSession();
        RefreshState();
        // Said once per reason: every batch of a new generation arriving before its heartbeat asks again.
        if (_resync is null && !known)
            _log.Info("{Database}: resync needed ({Reason}); waiting for the primary's heartbeat", _settings.Name, reason);
    }

    /// <summary>Asks the primary for a snapshot, unless a session is in flight or the primary is not known yet (its
    /// heartbeat or the tick tries again).</summary>
    private void StartSession()
    {
        if (_resync is not null || _primary is null || Stopwatch.GetTimestamp() < _nextSessionAt) return;
        var session = Guid.NewGuid();
        _resync = (session, Stopwatch.GetTimestamp());
        _resyncProgressAt = _resync.Value.Since;
        _resyncBytesBefore += _resyncProgress?.BytesReceived ?? 0;
        _resyncProgress = new ResyncProgress(Applier.ResyncRangesInFlight);
        _resyncLoggedAt = _resync.Value.Since;
        _resyncs++;
        _log.Warning("{Database}: resyncing from the primary ({Reason})", _settings.Name, _resyncReason);
        _applier.Tell(new Applier.BeginResync(session));
        _primary.Tell(new ResyncRequest(_settings.Upstream!.PrimaryPath, _settings.NodeId, session, Self, Applier.ResyncRangesInFlight));
        _resyncAskedOf = _primary;
        ReportPosition();
    }

    private void ResyncDone(Applier.ResyncDone done)
    {
        if (done.Session != _resync?.Session)
        {
            // Given up after its last page reached the applier (the primary failed the session, or it timed out):
            // the copy is complete and verified all the same. A newer session in flight will replace it.
            _log.Info("{Database}: resync {Session} completed after it had been given up", _settings.Name, done.Session);
            if (_resync is not null) return;
        }
        _log.Info("{Database}: resync complete at generation {Generation:x16} txid {Txid} ({Pages} pages written)",
            _settings.Name, done.Generation, done.Txid, done.PagesWritten);
        _position = new ReplicaPosition(done.Generation, done.Txid, done.Hash, 0, 0);
        // A copy is not an apply of the batch that published its txid: the primary measures such a replica by the
        // batches it lacks, not by how long after that publish the copy arrived (a new replica would show as late as
        // the last commit was old).
        _appliedAt = null;
        _primaryTxid = Math.Max(done.Txid, _lastHeartbeat?.Generation == done.Generation ? _lastHeartbeat.Txid : 0);
        // The snapshot was taken after the resync was asked for: the data is at least that recent.
        if (_resync is { } resync) _currentAt = Math.Max(_currentAt, resync.Since);
        Progressed();
        _sequencer.ResetTo(done.Txid, pageCount: 0);
        _resync = null;
        _resyncReason = null;
        _failedSessions = 0;
        _nextSessionAt = 0;
        // A completed resync resolves whatever led to it: a local write, a lost file, an earlier failed attempt.
        _replicaProblem = null;
        Become(Streaming);
        // The state's change is taken now, not at the next tick: a small resync is over within milliseconds, and
        // `litecast resync` tells it is done by the state's time.
        RefreshState();
        ReportPosition();
        AnswerWaiters();
        ForwardHeld();
        CatchUpAfterOverflow();
    }

    /// <summary>The session in flight ended without a copy: said, and asked again once its retry delay has passed
    /// (the tick, a heartbeat or a batch starts it).</summary>
    private void SessionFailed(string reason)
    {
        _failedSessions++;
        var delay = TimeSpan.FromTicks(Math.Min(MaxResyncRetryDelay.Ticks, ResyncRetryDelay.Ticks << Math.Min(_failedSessions - 1, 16)));
        _nextSessionAt = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        _log.Warning("{Database}: resync failed: {Reason}; retrying in {Delay}", _settings.Name, reason, delay);
        _replicaProblem = ReplicaStates.ResyncFailedPrefix + reason;
        _resync = null;
        _resyncReason = reason;
    }

    /// <summary>A long resync says how far it is in the log, every <see cref="ResyncLogInterval"/>.</summary>
    private void LogResyncProgress()
    {
        if (_resync is null || _resyncProgress is null || Stopwatch.GetElapsedTime(_resyncLoggedAt) < ResyncLogInterval) return;
        _resyncLoggedAt = Stopwatch.GetTimestamp();
        var p = _resyncProgress.View();
        var left = p.SecondsLeft is { } seconds ? $"about {seconds:F0} s left" : "time left unknown";
        _log.Info("{Database}: resync {Percent:F0}% ({Done} of {Total} pages, {Detail})", _settings.Name,
            p.PagesTotal == 0 ? 0 : 100.0 * p.PagesDone / p.PagesTotal, p.PagesDone, p.PagesTotal,
            $"{p.BytesReceived / 1e6:F1} MB fetched, {p.BytesPerSecond / 1e6:F1} MB/s, {left}");
    }

    private void ReportPositionSoon()
    {
        var since = Stopwatch.GetElapsedTime(_reportedAt);
        if (since >= _settings.ReportInterval) ReportPosition();
        else if (!Timers.IsTimerActive("report")) Timers.StartSingleTimer("report", ReportDue.Instance, _settings.ReportInterval - since);
    }

    private void ReportPosition()
    {
        if (_primary is null) return;
        _reportedAt = Stopwatch.GetTimestamp();
        _primary.Tell(new ReplicaPositionReport(_settings.Upstream!.PrimaryPath, _settings.NodeId, _position?.Generation ?? 0,
            _position?.Txid ?? 0, _position?.Hash ?? 0, _resync is not null, Self,
            _appliedAt is { } appliedAt ? Stopwatch.GetElapsedTime(appliedAt) : null, _resyncs));
    }

    /// <summary>The size of the replica's WAL file (0 when there is none).</summary>
    private long WalBytes()
    {
        var wal = new FileInfo(_settings.Path + "-wal");
        return wal.Exists ? wal.Length : 0;
    }

    /// <summary>How far behind the primary the copy is, in txids when it is of the primary's generation (in an older
    /// one they do not count: the message read "  txids behind").</summary>
    private static string Behind(ulong? lagTxids) =>
        lagTxids is { } txids ? $"{txids} txids behind the primary" : "behind the primary";

    private DatabaseStatus ReplicaStatus()
    {
        var heartbeat = _lastHeartbeat;
        var sinceHeartbeat = heartbeat is null ? (TimeSpan?)null : Stopwatch.GetElapsedTime(_lastHeartbeatAt);
        // A silent primary's position is unknown: how many txids the copy lacks is too.
        ulong? lagTxids = heartbeat is not null && _position is not null && heartbeat.Generation == _position.Generation && !PrimarySilent()
            ? _primaryTxid > _position.Txid ? _primaryTxid - _position.Txid : 0
            : null;
        var behind = BehindFor();
        var state = RefreshState();
        string? problem = _replicaProblem;
        // Counted from the last word heard from it: the failure detector notices a silence only seconds into it.
        if (PrimaryUnreachableSince() is not null)
            problem ??= _primaryHeardAt == 0
                ? "the primary is unreachable; its position is unknown"
                : $"the primary is unreachable (nothing heard from it for {Stopwatch.GetElapsedTime(_primaryHeardAt).TotalSeconds:F0} s); its position is unknown";
        if (heartbeat is null) problem ??= "no heartbeat from the primary yet";
        else if (_resumedAt is { } resumed)
            problem ??= $"resumed after a pause {Stopwatch.GetElapsedTime(resumed).TotalSeconds:F0} s ago; waiting to hear the primary's current position";
        else if (sinceHeartbeat > _settings.MaxLag) problem = $"no heartbeat from the primary for {sinceHeartbeat.Value.TotalSeconds:F0} s";
        if (_resync is not null) problem ??= $"resyncing ({_resyncReason})";
        else if (_position is null) problem ??= "no data yet";
        else if (state == ReplicaStates.Stalled)
            problem = $"stalled: {Behind(lagTxids)}, no progress for {Stopwatch.GetElapsedTime(_progressAt).TotalSeconds:F0} s; {_replicaProblem ?? WaitingFor()}";
        else if (behind > _settings.MaxLag)
            // Cut off, the reason it is behind is the silence, which the problem already says when it was found.
            problem = PrimarySilent()
                ? problem ?? $"behind the primary for {behind.Value.TotalSeconds:F0} s (max-lag {_settings.MaxLag.TotalSeconds:F0} s); " +
                             $"nothing heard from the primary for {Stopwatch.GetElapsedTime(_primaryHeardAt).TotalSeconds:F0} s"
                : $"{Behind(lagTxids)} for {behind.Value.TotalSeconds:F0} s (max-lag {_settings.MaxLag.TotalSeconds:F0} s); {_replicaProblem ?? WaitingFor()}";
        var counters = new DatabaseCounters(_transactionsReplicated, _bytesReplicated, _resyncs, _checkpoints, WalBytes(), _localWrites,
            _resyncBytesBefore + (_resyncProgress?.BytesReceived ?? 0), _stalls);
        return new DatabaseStatus(_settings.Name, _settings.Path, "replica", _position?.Generation ?? 0, _position?.Txid ?? 0,
            _position?.Hash ?? 0, behind?.TotalMilliseconds, lagTxids, [], problem is null, problem, counters, heartbeat?.SqliteVersion,
            state, _replicaStateSince, _resync is null ? null : _resyncProgress?.View(), _lastScrub);
    }
}

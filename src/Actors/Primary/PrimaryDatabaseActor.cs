using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Pattern;
using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// A database this node is the primary of: it owns the guard and the replication state, runs the
/// <see cref="WalTailer"/> under a backoff supervisor, publishes heartbeats, and serves catch-up, resync and sync
/// requests.
/// </summary>
public sealed class PrimaryDatabaseActor : ReceiveActor, IWithTimers
{
    private readonly DatabaseSettings _settings;
    private readonly IActorRef _mediator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TxidWaiters _waiters = new();
    private long _resyncs;
    private long _resyncBytesSent;

    private sealed record PrimaryTick
    {
        public static readonly PrimaryTick Instance = new();
    }

    private sealed record SnapshotFailed(Guid Session, IActorRef Replica, string File, string Reason);

    private static readonly DatabaseRequestRefused TailerRestarting = new("the primary's WAL tailer is restarting after a failure; ask again", Transient: true);

    private PrimaryState? _state;
    private WalGuard? _guard;
    private IActorRef? _tailer;
    private string? _waitingFor;
    private readonly Dictionary<string, HeardReplica> _replicas = new();

    /// <summary>A replica as its last report described it, with when that report came and when its txid last changed,
    /// both monotonic timestamps of <see cref="DatabaseSettings.Clock"/>, and its database actor.</summary>
    private sealed record HeardReplica(ReplicaView View, long HeardAt, long ProgressAt, IActorRef Replica);

    /// <summary>Asks waiting for replicas to apply a txid (<see cref="WaitForReplicas"/>).</summary>
    private readonly Waiters<WaitForReplicas> _replicaWaiters = new();

    public PrimaryDatabaseActor(DatabaseSettings settings, IActorRef mediator)
    {
        _settings = settings;
        _mediator = mediator;
        Receive<PrimaryTick>(_ => PrimaryTickReceived());
        Receive<CatchUpRequest>(CatchUp);
        Receive<ReplicaPositionReport>(ReplicaReported);
        Receive<ResyncRequest>(StartResyncSource);
        Receive<ResyncSourceReady>(ServeResync);
        Receive<ResyncSource.Sent>(sent => _resyncBytesSent += sent.Bytes);
        Receive<ResyncFailed>(f => Context.Child($"resync-{f.SessionId:N}").Forward(f));
        Receive<FindResyncSnapshot>(find =>
        {
            var source = Context.Child($"resync-{find.Session:N}");
            if (source.IsNobody()) Sender.Tell(new DatabaseRequestRefused($"no resync session {find.Session} is in flight for {_settings.Name}"));
            else source.Forward(find);
        });
        Receive<SnapshotFailed>(f =>
        {
            _log.Warning("{Database}: snapshot for resync {Session} failed: {Reason}", _settings.Name, f.Session, f.Reason);
            f.Replica.Tell(new ResyncFailed(f.Session, f.Reason));
            DeleteSnapshotFile(f.File);
        });
        Receive<SyncWal>(_ =>
        {
            if (_tailer is null) Sender.Tell(new DatabaseRequestRefused(_waitingFor ?? "the primary is starting"));
            else _tailer.Forward(SyncWal.Instance);
        });
        Receive<WaitForTxid>(w =>
        {
            _waiters.Add(w, Sender);
            AnswerWaiters();
        });
        Receive<WaitForReplicas>(WaitForReplicas);
        Receive<RequestResync>(_ => Sender.Tell(new ResyncStarted(false, $"{_settings.Name} is the primary here; resync is a replica operation")));
        Receive<GetDatabaseStatus>(_ => Sender.Tell(PrimaryStatus()));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Creates the actor; <paramref name="mediator"/> is the cluster's DistributedPubSub mediator.</summary>
    public static Props Props(DatabaseSettings settings, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new PrimaryDatabaseActor(settings, mediator));

    protected override void PreStart()
    {
        Timers.StartPeriodicTimer("primary-tick", PrimaryTick.Instance, TimeSpan.Zero, _settings.HeartbeatInterval);
    }

    /// <summary>
    /// Supervision of this database's children, in one place: a resync source that fails is restarted (the replica
    /// hears of the failure and asks again). The tailer runs under its own backoff supervisor.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);

    protected override void PostStop()
    {
        _guard?.Dispose();
        _state?.Log.Dispose();
    }

    private void AnswerWaiters() => _waiters.Answer(_state?.Generation ?? 0, _state?.Txid ?? 0, _state?.Generation ?? 0);

    /// <summary>Once a second: start the tailer when the database exists, publish a heartbeat, answer waiters.</summary>
    private void PrimaryTickReceived()
    {
        if (_tailer is null && !TryStartTailer()) return;
        AnswerWaiters();
        AnswerReplicaWaiters();
        if (_state is not { Ready: true } state) return;
        var (generation, txid, hash, pageSize, pageCount) = state.Position();
        _mediator.Tell(new Publish(_settings.Topic, new Heartbeat(_settings.Name, _settings.NodeId, generation, txid, hash,
            pageSize, pageCount, NativeSqlite.Version)));
    }

    private bool TryStartTailer()
    {
        // An empty file is no database yet (the application made the file, not yet its first page): opening it would
        // write page 1 with SQLite's default page size when switching it to WAL, and the application's own
        // PRAGMA page_size would then come too late.
        var file = new FileInfo(_settings.Path);
        if (!file.Exists || file.Length == 0)
        {
            var waiting = $"waiting for the application to create {_settings.Path}" +
                (file.Exists ? " (the file is empty; Litecast never writes a primary database first)" : " (Litecast never creates a primary database)");
            if (_waitingFor != waiting) _log.Warning("{Database}: {Problem}", _settings.Name, waiting);
            _waitingFor = waiting;
            return false;
        }
        try
        {
            WalTailer.EnsureWalMode(_settings, _log);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException)
        {
            var problem = $"cannot open {_settings.Path}: {e.Message}";
            if (_waitingFor != problem) _log.Error("{Database}: {Problem}", _settings.Name, problem);
            _waitingFor = problem;
            return false;
        }
        _waitingFor = null;
        // A snapshot copy is the size of the database: none left by a resync that failed or a process that died may
        // stay behind to fill the disk.
        if (Directory.Exists(_settings.StateDirectory))
            foreach (var leftover in Directory.EnumerateFiles(_settings.StateDirectory, "snapshot-*.pages")) DeleteSnapshotFile(leftover);
        _state = new PrimaryState(_settings.RetainedLogDirectory, _settings.RetainedLogBytes,
            problem => _log.Warning("{Database}: {Problem}", _settings.Name, problem));
        _guard = new WalGuard(_settings.Path);
        var tailer = WalTailer.Props(_settings, _state, _guard, _mediator);
        // While the tailer is down between a failure and its restart, requests for it (a /sync, a resync's snapshot)
        // are answered at once instead of dropped, so their askers retry rather than wait out a timeout.
        _tailer = Context.ActorOf(BackoffSupervisor.Props(Backoff.OnFailure(tailer, "tailer",
                TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), 0.2, -1)
            // Back-off grows while failures come within 10 s of a restart (a full disk): the default reset after the
            // 100 ms minimum restarted, and re-hashed, the tailer twice a second for as long as the disk stayed full.
            .WithAutoReset(TimeSpan.FromSeconds(10))
            .WithReplyWhileStopped(TailerRestarting)), "tailer-supervisor");
        return true;
    }

    private void CatchUp(CatchUpRequest request)
    {
        if (_state is not { Ready: true } state) return;
        if (request.Generation == state.Generation && state.Log.TryGetAfter(request.Generation, request.AfterTxid, out var batches))
        {
            foreach (var batch in batches) request.ReplyTo.Tell(batch);
            return;
        }
        var oldest = state.Log.OldestTxid(state.Generation) ?? state.Txid + 1;
        request.ReplyTo.Tell(new CatchUpUnavailable(_settings.Name, state.Generation, oldest,
            request.Generation != state.Generation
                ? $"generation {request.Generation:x16} is over; the current one is {state.Generation:x16}"
                : state.Log.Unavailable(request.Generation, request.AfterTxid)));
    }

    /// <summary>
    /// A replica's position. Its lag, on this node's clock: the time from publishing its last applied txid to the
    /// replica applying it (the report says how long ago that was), or, when a later batch was already published and
    /// not applied when the replica reported, how long that batch has been waiting, if longer. So a replica that keeps
    /// up shows its real apply lag, however seldom it reports, and a replica that stopped shows a lag that grows. A
    /// replica that does not know when it applied its txid (it installed a resync's copy, or restarted), or whose txid was
    /// published before this primary started, is as far behind as the first batch it lacks has waited: nothing, when it
    /// holds every published txid. A replica holding every published txid whose last apply is older than
    /// <see cref="SilentLagAfter"/> is not behind at all: its last batch's lag is shown that long and then 0 (as
    /// PostgreSQL's replay_lag), or a replica that caught up after a pause showed the pause for as long as the database
    /// stayed idle (27 s for minutes, in a black-box review).
    /// </summary>
    private void ReplicaReported(ReplicaPositionReport report)
    {
        double? lag = null;
        if (_state is { } state && report.Generation == state.Generation)
        {
            var waiting = state.FirstPublishedAfter(report.Txid) is { } next ? Stopwatch.GetElapsedTime(next) : TimeSpan.Zero;
            var holdsAll = report.Txid >= state.Txid && waiting == TimeSpan.Zero;
            if (report.SinceApplied is { } sinceApplied && holdsAll && sinceApplied > SilentLagAfter)
                lag = 0;
            else if (report.SinceApplied is { } applied && state.PublishedAt(report.Txid) is { } published)
                lag = Math.Max(0, Math.Max((Stopwatch.GetElapsedTime(published) - applied).TotalMilliseconds, waiting.TotalMilliseconds));
            else if (report.Txid >= state.Txid || waiting > TimeSpan.Zero)
                lag = waiting.TotalMilliseconds;
        }
        var previous = _replicas.GetValueOrDefault(report.ReplicaNode);
        var unchanged = previous is not null && previous.View.Txid == report.Txid && previous.View.Generation == report.Generation;
        if (lag is null && previous is not null && previous.View.Txid == report.Txid) lag = previous.View.LagMs;
        var heardAt = _settings.Clock.GetTimestamp();
        _replicas[report.ReplicaNode] = new HeardReplica(
            new ReplicaView(report.ReplicaNode, report.Generation, report.Txid, lag, report.Resyncing, _settings.Clock.GetUtcNow(),
                Resyncs: report.Resyncs),
            heardAt, unchanged ? previous!.ProgressAt : heardAt, report.Replica);
        AnswerReplicaWaiters();
    }

    /// <summary>
    /// Write acknowledgement: answered at once when enough replicas have already reported the txid; otherwise each
    /// replica known to be short of it is asked to report as soon as it has it, since a replica reports at most every
    /// 100 ms on its own and an acknowledged write would wait that long.
    /// </summary>
    private void WaitForReplicas(WaitForReplicas request)
    {
        if (_state is not { Ready: true } state)
        {
            Sender.Tell(new DatabaseRequestRefused(_waitingFor ?? "the primary is starting", Transient: true));
            return;
        }
        if (Reached(request, state.Generation) is { } reached)
        {
            Sender.Tell(reached);
            return;
        }
        _replicaWaiters.Add(request, Sender, request.Timeout);
        var wanted = new ReplicaReportWanted(_settings.Name, request.Txid);
        foreach (var replica in _replicas.Values.Where(r => r.View.Generation != state.Generation || r.View.Txid < request.Txid))
            replica.Replica.Tell(wanted);
    }

    /// <summary>The answer to <paramref name="request"/> once enough replicas have reported its txid (or later) of
    /// <paramref name="generation"/>; null before.</summary>
    private ReplicasReached? Reached(WaitForReplicas request, ulong generation) =>
        _replicas.Values.Count(r => r.View.Generation == generation && r.View.Txid >= request.Txid) >= request.Replicas
            ? new ReplicasReached(generation, request.Txid)
            : null;

    /// <summary>Answers every waiter that enough replicas have reached in the current generation, and forgets those
    /// whose asker has given up.</summary>
    private void AnswerReplicaWaiters()
    {
        if (_state is { Ready: true } state) _replicaWaiters.Answer(w => Reached(w, state.Generation));
    }

    /// <summary>A replica's view with its lag and state as of now, both from one reading of the lag.</summary>
    private ReplicaView ViewNow(HeardReplica replica, ulong generation, ulong txid)
    {
        var lag = LagNow(replica, generation);
        return replica.View with { State = ReplicaStateOf(replica, generation, txid, lag), LagMs = lag };
    }

    /// <summary>A replica's state as the primary sees it: silent for a while or unreachable, resyncing, behind without
    /// progress, or behind and advancing (by <paramref name="lagNow"/>, <see cref="LagNow"/>: a replica frozen behind
    /// showed "following" with a lag of seconds until it was stalled). Unreachable is this node's failure detector's
    /// word: a replica killed with kill -9 showed "catching-up" for the 10 s of silence before it was disconnected.</summary>
    private string ReplicaStateOf(HeardReplica replica, ulong generation, ulong txid, double? lagNow)
    {
        var view = replica.View;
        if (_settings.Clock.GetElapsedTime(replica.HeardAt) > ReplicaSilentAfter
            || !Cluster.Get(Context.System).FailureDetector.IsAvailable(replica.Replica.Path.Address))
            return ReplicaStates.Disconnected;
        if (view.Resyncing) return ReplicaStates.Resyncing;
        if (view.Generation == generation && view.Txid >= txid) return ReplicaStates.Following;
        // Stalled: behind for as long as without progress. A replica idle for minutes is not stalled the moment a
        // commit is published; the first batch it lacks must have waited too.
        var behindFor = view.Generation == generation && _state?.FirstPublishedAfter(view.Txid) is { } next
            ? Stopwatch.GetElapsedTime(next)
            : TimeSpan.MaxValue;
        if (_settings.Clock.GetElapsedTime(replica.ProgressAt) > ReplicaSilentAfter && behindFor > ReplicaSilentAfter)
            return ReplicaStates.Stalled;
        return lagNow is < 1000 ? ReplicaStates.Following : ReplicaStates.CatchingUp;
    }

    /// <summary>
    /// A replica's lag as of now: the one its last report gave, unless it has been silent past
    /// <see cref="SilentLagAfter"/> while batches it had not applied were published; then at least how long the first of
    /// them has been waiting, so a frozen or cut-off replica's lag grows instead of holding its last value. (Between the
    /// reports of a replica that is heard, the primary cannot tell what it applied meanwhile.) A replica whose copy is
    /// of another generation has none of this one: at least the time since it began (it held its last value, while the
    /// replica's resyncs kept failing); one with no copy has no lag to tell.
    /// </summary>
    private double? LagNow(HeardReplica replica, ulong generation)
    {
        var view = replica.View;
        if (view.Generation is not 0 && view.Generation != generation && _state is { Ready: true } state)
            return Math.Max(view.LagMs ?? 0, Stopwatch.GetElapsedTime(state.BegunAt).TotalMilliseconds);
        if (_settings.Clock.GetElapsedTime(replica.HeardAt) < SilentLagAfter || view.Generation != generation
            || _state?.FirstPublishedAfter(view.Txid) is not { } next)
            return view.LagMs;
        return Math.Max(view.LagMs ?? 0, Stopwatch.GetElapsedTime(next).TotalMilliseconds);
    }

    /// <summary>Twice the longest a replica that is heard waits between reports (it reports on each heartbeat).</summary>
    private TimeSpan SilentLagAfter => 2 * _settings.HeartbeatInterval;

    /// <summary>Replicas report at least once a second (on each heartbeat): silent this long, one is not heard.</summary>
    private static readonly TimeSpan ReplicaSilentAfter = TimeSpan.FromSeconds(10);

    private void StartResyncSource(ResyncRequest request)
    {
        if (_tailer is null)
        {
            request.ReplyTo.Tell(new ResyncFailed(request.SessionId, "the primary is not ready"));
            return;
        }
        Directory.CreateDirectory(_settings.StateDirectory);
        var file = System.IO.Path.Combine(_settings.StateDirectory, $"snapshot-{request.SessionId:N}.pages");
        var replica = request.ReplyTo;
        var session = request.SessionId;
        _log.Info("{Database}: resync {Session} requested by {Replica}", _settings.Name, session, request.ReplicaNode);
        // The tailer refuses the request if it is still queued when the Ask is about to give up: taken after it, the
        // snapshot's file would be left behind (deleted only at the next start) while the tailer copied the whole database.
        var timeout = SnapshotTimeout();
        _tailer.Ask<object>(new WalTailer.TakeSnapshot(file, timeout - SnapshotAnswerMargin), timeout)
            .PipeTo(Self, success: answer => answer switch
                {
                    WalTailer.SnapshotTaken taken => new ResyncSourceReady(session, replica, taken, request.RangesInFlight),
                    DatabaseRequestRefused refused => new SnapshotFailed(session, replica, file, refused.Reason),
                    _ => new SnapshotFailed(session, replica, file, $"unexpected answer {answer.GetType().Name}"),
                },
                failure: e => new SnapshotFailed(session, replica, file, e.Message));
    }

    private void DeleteSnapshotFile(string file)
    {
        try { File.Delete(file); }
        catch (IOException e) { _log.Warning("{Database}: could not delete snapshot {File}: {Error}", _settings.Name, file, e.Message); }
    }

    /// <summary>
    /// How long a snapshot may take to be pinned: the tailer answers once it is, but copies one snapshot at a time, so a
    /// request may wait behind another's copy of the whole database (at a conservative 50 MB/s), plus 30 s. A request
    /// lost in a tailer restart (a backoff supervisor drops messages while its child is down) fails after this, and the
    /// replica hears of it and asks again.
    /// </summary>
    private TimeSpan SnapshotTimeout()
    {
        var bytes = new FileInfo(_settings.Path) is { Exists: true } file ? file.Length : 0;
        return TimeSpan.FromSeconds(30 + bytes / 50e6);
    }

    /// <summary>How long before the Ask gives up the tailer stops taking a queued snapshot: pinning one takes
    /// milliseconds.</summary>
    private static readonly TimeSpan SnapshotAnswerMargin = TimeSpan.FromSeconds(5);

    private sealed record ResyncSourceReady(Guid Session, IActorRef Replica, WalTailer.SnapshotTaken Snapshot, int RangesInFlight);

    private void ServeResync(ResyncSourceReady ready)
    {
        _resyncs++;
        Context.ActorOf(ResyncSource.Props(ready.Session, ready.Replica, ready.Snapshot, _settings.MaxPartBytes, ready.RangesInFlight), $"resync-{ready.Session:N}");
    }

    /// <summary>
    /// How long a failure of the tailer stays the database's problem. The tailer is restarted after a failure, 0.1 s
    /// later at first and up to 5 s later while failures continue, so a failure that keeps coming (a full disk fails
    /// every checkpoint) is shown throughout, and one that stopped is cleared. Before, a primary whose disk was full
    /// said healthy, no problem, while its tailer failed two or three times a second (a black-box review).
    /// </summary>
    private static readonly TimeSpan TailerFailureShownFor = TimeSpan.FromSeconds(10);

    /// <summary>A replica silent this long is forgotten (a restarted replica reports under a new node identity).</summary>
    private static readonly TimeSpan ReplicaForgottenAfter = TimeSpan.FromMinutes(1);

    private DatabaseStatus PrimaryStatus()
    {
        foreach (var stale in _replicas.Values.Where(r => _settings.Clock.GetElapsedTime(r.HeardAt) > ReplicaForgottenAfter).ToList())
            _replicas.Remove(stale.View.Node);
        var state = _state;
        var (generation, txid, hash, _, _) = state?.Position() ?? default;
        var report = state?.Report ?? TailerReport.None;
        var problem = _waitingFor ?? report.Problem ?? (report.LastFailure is { } failure && Stopwatch.GetElapsedTime(failure.At) < TailerFailureShownFor
            ? $"the tailer failed and restarts: {failure.Reason}"
            : null);
        var counters = new DatabaseCounters(report.TransactionsPublished, report.BytesPublished, _resyncs, report.Checkpoints,
            report.WalBytes, 0, _resyncBytesSent);
        return new DatabaseStatus(_settings.Name, _settings.Path, "primary", generation, txid, hash, null, null,
            _replicas.Values.OrderBy(r => r.View.Node, StringComparer.Ordinal)
                .Select(r => ViewNow(r, generation, txid)).ToList(), problem is null && state is { Ready: true },
            problem ?? (state is { Ready: true } ? null : "starting"), counters, NativeSqlite.Version, LastScrub: report.LastScrub);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Storage;

namespace Litecast.Host.Node;

/// <summary>
/// A running Litecast node: one ActorSystem joined to the cluster, with a <see cref="DatabaseActor"/> per configured
/// database. A replica finds its primary through <c>upstream.url</c> (retrying with backoff while it is unreachable).
/// When the node is downed or removed from the cluster (a long partition, the split-brain resolver), it starts a new
/// ActorSystem incarnation and rejoins: cluster membership never makes the process exit.
/// </summary>
public sealed class LitecastNode : ILitecastNode, IAsyncDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);
    /// <summary>
    /// How long an incarnation may try to join before it is stopped and a new one (a new UID, new connections) tries.
    /// Akka's join is retried every seed-node-timeout (5 s); three unanswered rounds mean the incarnation's remoting is
    /// stuck, not slow: the chaos harness caught a restarted replica whose InitJoin reached the primary every 5 s while
    /// every InitJoinAck was lost, for as long as that incarnation lived (Akka's own remedy is the same,
    /// <c>shutdown-after-unsuccessful-join-seed-nodes</c>). Joins took 2-6 s on a loaded machine.
    /// </summary>
    internal static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    private sealed record Incarnation(IHost Host, ActorSystem System, string NodeId, IReadOnlyDictionary<string, IActorRef> Actors);

    private static readonly TimeSpan DiscoveryTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long one range of a resync's snapshot (4 MiB) may take to arrive from the primary, its wait for the
    /// primary's copy of the snapshot to reach it included (the primary waits as long).</summary>
    private static readonly TimeSpan SnapshotRangeTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long the admin endpoint waits for a primary database to say where a resync's snapshot is.</summary>
    private static readonly TimeSpan SnapshotLookupTimeout = TimeSpan.FromSeconds(5);

    private readonly LitecastConfig _config;
    /// <summary>One per database, taken before anything touches it and held across incarnations: the node, not one
    /// incarnation, owns its databases (<see cref="DatabaseLock"/>).</summary>
    private readonly IReadOnlyList<DatabaseLock> _locks;
    private readonly HttpClient _discovery;
    private readonly HttpClient _snapshots;
    private readonly Action<string> _log;
    private readonly string? _hoconOverrides;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstIncarnation = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Incarnation? _current;
    /// <summary>Where each replica database's copy stood when its last incarnation's actor stopped: answered for the file
    /// while no incarnation runs (the primary is down, so a downed replica cannot rejoin).</summary>
    private readonly ConcurrentDictionary<string, ReplicaCopyAtStop> _copiesAtStop = new();
    private volatile string? _problem;
    private Task _run = Task.CompletedTask;

    private LitecastNode(LitecastConfig config, IReadOnlyList<DatabaseLock> locks, Action<string> log, string? hoconOverrides)
    {
        _config = config;
        _locks = locks;
        _discovery = AdminHttpClient.Create(config.Tls?.Material.Authority, config.Auth?.Token, DiscoveryTimeout);
        _snapshots = AdminHttpClient.Create(config.Tls?.Material.Authority, config.Auth?.Token, SnapshotRangeTimeout);
        _log = log;
        _hoconOverrides = hoconOverrides;
    }

    /// <summary>Starts the node in the background; it keeps trying to reach its cluster until disposed. Throws an
    /// IOException naming the database when another litecast runs one of them.</summary>
    public static LitecastNode Start(LitecastConfig config, Action<string> log, string? hoconOverrides = null)
    {
        RefuseMissingPrimaryDirectories(config.PrimaryDbs);
        var node = new LitecastNode(config, LockDatabases(config.Dbs), log, hoconOverrides);
        node._run = Task.Run(node.RunAsync);
        foreach (var db in config.ReplicaDbs) _ = node.RememberCopyOnDiskAsync(db);
        return node;
    }

    /// <summary>
    /// A primary's file is the application's to create, and so is its directory; a replica's directory is made with its
    /// file. A primary path in a directory that does not exist (a typo, an unset $VAR) waited forever for a file that
    /// could not come, after creating that directory for the lock (found by a black-box review). Checked before any
    /// database is locked, so a refused node has created nothing.
    /// </summary>
    private static void RefuseMissingPrimaryDirectories(IEnumerable<DbConfig> primaries)
    {
        foreach (var db in primaries)
            if (Path.GetDirectoryName(Path.GetFullPath(db.Path)) is { } directory && !Directory.Exists(directory))
                throw new IOException($"{db.Path}: its directory {directory} does not exist; Litecast waits for the application " +
                                      "to create the database, not its directory (is the path right?)");
    }

    private static List<DatabaseLock> LockDatabases(IEnumerable<DbConfig> dbs)
    {
        var locks = new List<DatabaseLock>();
        try
        {
            foreach (var db in dbs) locks.Add(DatabaseLock.Acquire(db.Path));
            return locks;
        }
        catch
        {
            foreach (var held in locks) held.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Until this process's first database actor for <paramref name="db"/> runs (it cannot while the primary is down),
    /// the copy a previous process left answers for it, once verified against its saved position: a hash of the whole
    /// file, which the actor takes too. It starts at once (waiting 5 s for a join first left a replica restarted while
    /// its primary was down answering txid 0 and 504s for the data its file held) and is given up when the node joins
    /// its cluster, so a healthy start hashes the file twice for no longer than its join takes. An actor that ran and
    /// stopped meanwhile left a newer copy: that one is kept.
    /// </summary>
    private async Task RememberCopyOnDiskAsync(DbConfig db)
    {
        using var joinedOrStopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var verifying = Task.Run(() => ReplicaCopyAtStop.FromDisk(db.Path, joinedOrStopping.Token));
        if (await Task.WhenAny(verifying, Joined) != verifying) joinedOrStopping.Cancel();
        try
        {
            if (await verifying is { } copy) _copiesAtStop.TryAdd(db.Name, copy);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The cluster address, or an empty string while the node has not joined its cluster.</summary>
    public string NodeId => _current?.NodeId ?? "";

    public IReadOnlyList<DbConfig> Databases => _config.Dbs;

    public string? NodeProblem => _problem;

    public Uri? ProxyUrl => _config.Proxy?.AdvertisedUrl(_config.Cluster.PublicHost);

    public TimeSpan? ProxyWaitTimeout => _config.Proxy?.WaitTimeout;

    public IReadOnlyList<ClusterMember> Members
    {
        get
        {
            if (_current is not { } incarnation) return [];
            var state = Akka.Cluster.Cluster.Get(incarnation.System).State;
            var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
            return state.Members
                .Select(m => new ClusterMember(m.Address.ToString(), m.Roles.Where(r => r != "dc-default").Order().ToList(),
                    m.Status.ToString().ToLowerInvariant(), !unreachable.Contains(m.Address)))
                .OrderBy(m => m.Address, StringComparer.Ordinal)
                .ToList();
        }
    }

    /// <summary>The current incarnation's ActorSystem (tests cut its network to provoke downing).</summary>
    internal ActorSystem? CurrentSystem => _current?.System;

    /// <summary>Completes once the node first joined its cluster.</summary>
    public Task Joined => _firstIncarnation.Task;

    public DbConfig? FindDatabase(string nameOrPath) =>
        _config.Dbs.FirstOrDefault(d => string.Equals(d.Name, nameOrPath, StringComparison.OrdinalIgnoreCase))
        ?? _config.Dbs.FirstOrDefault(d => d.Path == nameOrPath || d.Path == "/" + nameOrPath.TrimStart('/'))
        ?? _config.Dbs.FirstOrDefault(d => string.Equals(System.IO.Path.GetFileName(d.Path), nameOrPath, StringComparison.OrdinalIgnoreCase));

    /// <remarks>A database whose actor is not running, or does not answer within <see cref="AskTimeout"/>, is shown
    /// <see cref="Disconnected"/> at once; so is one whose incarnation is being downed (it stops answering for seconds
    /// before its system is gone).</remarks>
    public async Task<DatabaseStatus> StatusAsync(DbConfig db, CancellationToken cancellation) =>
        await AskUntilAsync(db, _ => GetDatabaseStatus.Instance, Deadline(AskTimeout), cancellation, whileAbsent: () => Disconnected(db))
            as DatabaseStatus ?? Disconnected(db);

    /// <summary>
    /// Asks the primary for its bookmark. A request caught by a tailer restart fails (the tailer answers with its
    /// failure, or its supervisor says it is restarting): it is asked again, for at most <see cref="AskTimeout"/> in
    /// all.
    /// </summary>
    public async Task<WalSynced> SyncAsync(DbConfig db, CancellationToken cancellation)
    {
        var deadline = Deadline(AskTimeout);
        while (true)
        {
            object answer;
            try
            {
                answer = await AskAsync(db, SyncWal.Instance, SyncAttemptTimeout, cancellation);
            }
            catch (Exception e) when (e is not NodeRequestException && !cancellation.IsCancellationRequested && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(IncarnationPoll, cancellation);
                continue;
            }
            if (answer is DatabaseRequestRefused { Transient: true } && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(IncarnationPoll, cancellation);
                continue;
            }
            return answer switch
            {
                WalSynced synced => synced,
                DatabaseRequestRefused refused => throw new NodeRequestException(refused.Reason),
                var other => throw new NodeRequestException($"unexpected answer {other.GetType().Name}"),
            };
        }
    }

    private static readonly TimeSpan SyncAttemptTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits until the local copy reaches <paramref name="txid"/>, for at most <paramref name="timeout"/>, across node
    /// incarnations: a wait asked while the node is joining, or of an incarnation that is downed and replaced, goes on
    /// with the next one (whose database actor starts from the position saved with the file). While none runs, the copy
    /// as the last one left it answers (the primary is down, so a downed replica cannot rejoin).
    /// </summary>
    public async Task<TxidReached?> WaitAsync(DbConfig db, ulong txid, ulong? generation, TimeSpan timeout, CancellationToken cancellation) =>
        await AskUntilAsync(db, remaining => new WaitForTxid(txid, remaining, generation), Deadline(timeout), cancellation,
            whileAbsent: () => CopyAtStop(db) is { } copy && copy.Reached(txid, generation) ? new TxidReached(copy.Generation, copy.Txid) : null)
        as TxidReached;

    /// <summary>
    /// Waits for replicas to apply <paramref name="txid"/>, for at most <paramref name="timeout"/>, across node
    /// incarnations; a primary still starting is asked again until the time is up.
    /// </summary>
    public async Task<bool> WaitForReplicasAsync(DbConfig db, ulong txid, int replicas, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = Deadline(timeout);
        while (true)
        {
            var answer = await AskUntilAsync(db, remaining => new WaitForReplicas(txid, replicas, remaining), deadline, cancellation);
            if (answer is not DatabaseRequestRefused { Transient: true }) return answer is ReplicasReached;
            await Task.Delay(IncarnationPoll, cancellation);
        }
    }

    private static long Deadline(TimeSpan timeout) => Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// Asks the database actor of whichever incarnation is running for an answer by <paramref name="deadline"/> (a
    /// Stopwatch timestamp), the request made for the time left; an incarnation that ends meanwhile is replaced by the
    /// next; while none runs, <paramref name="whileAbsent"/> may answer instead. Asked at least once, so that a wait of
    /// zero answers from the copy as it is now. Null when the deadline passes first (<see cref="WaitExpired"/>).
    /// </summary>
    private async Task<object?> AskUntilAsync(DbConfig db, Func<TimeSpan, object> request, long deadline, CancellationToken cancellation,
        Func<object?>? whileAbsent = null)
    {
        for (var asked = false; ; asked = true)
        {
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero && asked) return null;
            // An incarnation whose system has terminated is gone, though the loop may not have replaced it yet.
            if (_current is not { } incarnation || incarnation.System.WhenTerminated.IsCompleted
                || incarnation.Actors.GetValueOrDefault(db.Name) is not { } actor)
            {
                if (whileAbsent?.Invoke() is { } answer) return answer;
                if (remaining > TimeSpan.Zero) await Task.Delay(remaining < IncarnationPoll ? remaining : IncarnationPoll, cancellation);
                continue;
            }
            // A request whose time is already up (a wait of zero) is answered at once, reached or WaitExpired: its ask
            // only needs a moment's grace.
            var ask = remaining > TimeSpan.Zero
                ? actor.Ask<object>(request(remaining), remaining, cancellation)
                : actor.Ask<object>(request(TimeSpan.Zero), ImmediateAnswerWait, cancellation);
            // An ask of a terminated system never completes before its timeout: watch the system too.
            if (await Task.WhenAny(ask, incarnation.System.WhenTerminated) != ask) continue;
            try
            {
                var reply = await ask;
                return reply is WaitExpired ? null : reply;
            }
            catch (AskTimeoutException)
            {
                return null;
            }
        }
    }

    /// <summary>How long the ask of a request whose time is up waits for the actor's immediate answer.</summary>
    private static readonly TimeSpan ImmediateAnswerWait = TimeSpan.FromSeconds(1);

    /// <summary>How often a wait looks for the node's next incarnation while there is none.</summary>
    private static readonly TimeSpan IncarnationPoll = TimeSpan.FromMilliseconds(100);

    public async Task<ResyncStarted> ResyncAsync(DbConfig db, CancellationToken cancellation) =>
        await AskAsync(db, new RequestResync("HTTP request"), AskTimeout, cancellation) switch
        {
            ResyncStarted { Accepted: true } started => started,
            ResyncStarted refused => throw new NodeRequestException(refused.Detail),
            var other => throw new NodeRequestException($"unexpected answer {other.GetType().Name}"),
        };

    public async Task<ResyncSnapshotFile?> ResyncSnapshotAsync(Guid session, long? from, long? to, CancellationToken cancellation)
    {
        foreach (var db in _config.PrimaryDbs)
            if (await AskAsync(db, new FindResyncSnapshot(session, from, to), SnapshotLookupTimeout, cancellation) is ResyncSnapshotFile file)
                return file;
        return null;
    }

    private async Task<object> AskAsync(DbConfig db, object message, TimeSpan timeout, CancellationToken cancellation)
    {
        if (_current?.Actors.GetValueOrDefault(db.Name) is not { } actor)
            throw new NodeRequestException($"the node has not joined its cluster yet{(_problem is null ? "" : ": " + _problem)}");
        return await actor.Ask<object>(message, timeout, cancellation);
    }

    /// <summary>Where the replica's copy stood when its last incarnation's actor stopped, while its file is still there
    /// (deleted meanwhile, it holds nothing until the next incarnation resyncs it).</summary>
    private ReplicaCopyAtStop? CopyAtStop(DbConfig db) =>
        _copiesAtStop.GetValueOrDefault(db.Name) is { } copy && File.Exists(db.Path) ? copy : null;

    /// <summary>A database whose actor is not running: a replica's copy as its last incarnation left it, or as a previous
    /// process left it on disk (<see cref="RememberCopyOnDiskAsync"/>); nothing known otherwise.</summary>
    private DatabaseStatus Disconnected(DbConfig db)
    {
        var copy = CopyAtStop(db);
        return new(db.Name, db.Path, db.Role == DbRole.Primary ? "primary" : "replica", copy?.Generation ?? 0, copy?.Txid ?? 0,
            copy?.Hash ?? 0, copy is null ? null : Stopwatch.GetElapsedTime(copy.CurrentAt).TotalMilliseconds, null, [], false, _problem ?? "the node is joining its cluster", new DatabaseCounters(0, 0, 0, 0, 0, 0, 0), null,
            copy is null ? null : ReplicaStates.Disconnected, copy?.DisconnectedSince);
    }

    private async Task RunAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var incarnation = await StartIncarnationAsync(_stopping.Token);
                _current = incarnation;
                _problem = null;
                backoff = TimeSpan.FromMilliseconds(500);
                _firstIncarnation.TrySetResult();
                await incarnation.System.WhenTerminated.WaitAsync(_stopping.Token);
                _current = null;
                await StopAsync(incarnation.Host);
                _log("this node was removed from the cluster (downed after a partition, or its system stopped); rejoining with a new incarnation");
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _problem = e.Message;
                _log($"{e.Message}; retrying in {backoff.TotalSeconds:0.#} s");
                try { await Task.Delay(backoff, _stopping.Token); }
                catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    private async Task<Incarnation> StartIncarnationAsync(CancellationToken cancellation)
    {
        var tls = _config.Tls?.Material;
        var seeds = _config.Cluster.Seeds.Select(seed => ClusterConfig.SeedForTransport(seed, tls is not null)).ToList();
        var upstream = new Dictionary<string, UpstreamSettings>();
        string? upstreamNode = null;
        if (_config.UpstreamOrigin is { } origin)
        {
            ClusterInfo primary;
            try
            {
                primary = await UpstreamDiscovery.DiscoverAsync(_discovery, origin, cancellation);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                throw new IOException($"upstream {origin} is unreachable ({AdminHttpClient.Describe(e, origin)})", e);
            }
            foreach (var db in _config.ReplicaDbs)
            {
                var match = UpstreamDiscovery.Match(primary, db.UpstreamPath)
                    ?? throw new IOException(UpstreamDiscovery.NoMatch(primary, origin, db.UpstreamPath));
                upstream[db.Name] = new UpstreamSettings(primary.Node, match.Path);
            }
            upstreamNode = primary.Node;
            if (!seeds.Contains(primary.Node)) seeds.Add(primary.Node);
        }

        var cluster = _config.Cluster;
        var hasPrimary = _config.PrimaryDbs.Any();
        var endpoint = new ClusterEndpoint(cluster.Host, cluster.EffectivePort(hasPrimary), cluster.PublicHost ?? cluster.Host, seeds, hasPrimary,
            cluster.PublicPort, tls);
        var host = new HostBuilder()
            .ConfigureServices(services =>
            {
                // The process's lifetime belongs to the admin host: an incarnation stops when its ActorSystem does.
                services.AddSingleton<IHostLifetime, IncarnationLifetime>();
                services.AddAkka(NodeHosting.SystemName, akka =>
                {
                    akka.WithLitecastNode(endpoint, nodeId => _config.Dbs.Select(db => DatabaseSettings(db, nodeId, upstream)).ToList());
                    if (upstreamNode is not null)
                        akka.WithActors((system, _) => Akka.Cluster.Cluster.Get(system).RegisterOnMemberUp(() =>
                            system.ActorOf(UpstreamWatcher.Props(Akka.Actor.Address.Parse(upstreamNode)), "upstream-watcher")));
                    if (_hoconOverrides is not null) akka.AddHocon(_hoconOverrides, HoconAddMode.Prepend);
                });
            })
            .Build();
        try
        {
            // Inside the try: a start that fails (its cluster port cannot be bound) must not leave the host behind.
            await host.StartAsync(cancellation);
            var system = host.Services.GetRequiredService<ActorSystem>();
            var registry = host.Services.GetRequiredService<ActorRegistry>();
            // Registered once the node is Up (NodeHosting).
            var nodeDatabases = await registry.NodeDatabasesAsync(JoinTimeout, cancellation)
                ?? throw new IOException($"could not join the cluster through {string.Join(", ", seeds)} within {JoinTimeout.TotalSeconds} s");
            var started = await nodeDatabases.Ask<NodeDatabases.Started>(NodeDatabases.GetDatabases.Instance, AskTimeout, cancellation);
            var nodeId = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            _log($"node {nodeId} joined the cluster{(seeds.Count > 0 ? " through " + string.Join(", ", seeds) : "")} with {started.ByName.Count} database(s)");
            return new Incarnation(host, system, nodeId, started.ByName);
        }
        catch
        {
            await StopAsync(host);
            throw;
        }
    }

    private DatabaseSettings DatabaseSettings(DbConfig db, string nodeId, IReadOnlyDictionary<string, UpstreamSettings> upstream) => new()
    {
        Name = db.Name,
        Path = db.Path,
        NodeId = nodeId,
        Upstream = upstream.GetValueOrDefault(db.Name),
        SnapshotFetcher = db.Upstream is { } u ? new HttpSnapshotFetcher(_snapshots, u.Origin) : null,
        Stopped = copy => _copiesAtStop[db.Name] = copy,
        CheckpointThresholdPages = db.CheckpointThresholdPages,
        RetainedLogBytes = db.RetainedLogBytes,
        MaxLag = db.MaxLag,
        ScrubInterval = db.ScrubInterval,
    };

    /// <summary>Stops an incarnation's host: its ActorSystem runs coordinated shutdown (leaving the cluster if it is
    /// still a member), the database actors stop, the host is disposed.</summary>
    private static async Task StopAsync(IHost host)
    {
        try
        {
            await host.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            host.Dispose();
        }
    }

    /// <summary>An incarnation host's lifetime: nothing to wait for, and no signal handling (the process's own host
    /// has it).</summary>
    private sealed class IncarnationLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Leaves the cluster gracefully: the database actors stop, the tailer saves its position, an apply in
    /// flight is rolled back, the guard is released; then the databases are unlocked (not before: another litecast
    /// could start on them while this one still writes them).</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (_current is { } incarnation) await StopAsync(incarnation.Host);
        await _run;
        foreach (var held in _locks) held.Dispose();
        _current = null;
        _discovery.Dispose();
        _snapshots.Dispose();
    }
}

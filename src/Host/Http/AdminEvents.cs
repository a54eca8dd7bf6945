using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Litecast.Actors;
using Litecast.Host.Node;

namespace Litecast.Host.Http;

/// <summary>
/// <c>GET /events</c>'s source: while anyone listens, the node's state is looked at every 100 ms and what changed
/// becomes events, each one JSON object with a <c>type</c>: <c>position</c> (a database's txid, state or lag moved;
/// on a primary with its replicas'), <c>resync-started</c> / <c>resync-progress</c> / <c>resync-finished</c>,
/// <c>node-joined</c> / <c>node-left</c> / <c>node-unreachable</c> / <c>node-reachable</c>, <c>problem-raised</c> /
/// <c>problem-cleared</c>, and <c>scrub</c> (a scrub of a database ended: its <c>lastScrub</c>). A new listener first gets a <c>snapshot</c>, whose <c>status</c> is <c>/status</c>'s document. A listener too
/// slow to keep up loses its oldest events, never the node's time.
/// </summary>
public sealed class AdminEvents(ILitecastNode node)
{
    /// <summary>How often the node's state is looked at while anyone listens.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly object _gate = new();
    private readonly List<Channel<JsonObject>> _listeners = [];
    private CancellationTokenSource? _polling;

    /// <summary>The events from now on, starting with a snapshot, until <paramref name="cancellation"/>.</summary>
    public async IAsyncEnumerable<JsonObject> ListenAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var channel = Channel.CreateBounded<JsonObject>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
        // Listening before the snapshot is taken: a change in between comes after it rather than not at all.
        lock (_gate)
        {
            _listeners.Add(channel);
            if (_polling is null)
            {
                _polling = new CancellationTokenSource();
                _ = PollAsync(_polling.Token);
            }
        }
        try
        {
            yield return await SnapshotAsync(cancellation);
            await foreach (var e in channel.Reader.ReadAllAsync(cancellation))
                yield return e;
        }
        finally
        {
            lock (_gate)
            {
                _listeners.Remove(channel);
                if (_listeners.Count == 0)
                {
                    _polling?.Cancel();
                    _polling = null;
                }
            }
        }
    }

    private async Task<JsonObject> SnapshotAsync(CancellationToken cancellation)
    {
        var status = await AdminEndpoints.StatusAsync(node, cancellation);
        var json = JsonSerializer.SerializeToNode(status, AdminJsonContext.Default.StatusResponse)!.AsObject();
        return Event("snapshot", ("status", json));
    }

    private async Task PollAsync(CancellationToken cancellation)
    {
        var previous = await StateAsync(cancellation);
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellation))
            {
                var current = await StateAsync(cancellation);
                foreach (var e in Changes(previous, current)) Publish(e);
                previous = current;
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
    }

    private void Publish(JsonObject e)
    {
        lock (_gate)
            foreach (var listener in _listeners)
                listener.Writer.TryWrite(e.DeepClone().AsObject());
    }

    private sealed record State(IReadOnlyList<ClusterMember> Members, IReadOnlyList<DatabaseStatus> Databases);

    /// <summary>The members and every database that answered in time (as <c>/status</c> asks them: one that fails or
    /// times out is left out of this round, and the loop goes on).</summary>
    private async Task<State> StateAsync(CancellationToken cancellation)
    {
        var databases = (await AdminEndpoints.CollectAsync(node, cancellation)).Select(x => x.Status).OfType<DatabaseStatus>().ToList();
        return new State(node.Members, databases);
    }

    /// <summary>The events that lead from <paramref name="before"/> to <paramref name="after"/>.</summary>
    internal static IEnumerable<JsonObject> Changes(IReadOnlyList<ClusterMember> membersBefore, IReadOnlyList<ClusterMember> membersAfter,
        IReadOnlyList<DatabaseStatus> before, IReadOnlyList<DatabaseStatus> after)
    {
        var was = membersBefore.ToDictionary(m => m.Address);
        var now = membersAfter.ToDictionary(m => m.Address);
        foreach (var member in membersAfter.Where(m => !was.ContainsKey(m.Address)))
            yield return Event("node-joined", ("node", member.Address), ("roles", new JsonArray(member.Roles.Select(r => (JsonNode?)r).ToArray())));
        foreach (var member in membersBefore.Where(m => !now.ContainsKey(m.Address)))
            yield return Event("node-left", ("node", member.Address));
        foreach (var member in membersAfter.Where(m => was.TryGetValue(m.Address, out var old) && old.Reachable != m.Reachable))
            yield return Event(member.Reachable ? "node-reachable" : "node-unreachable", ("node", member.Address));

        var previous = before.ToDictionary(d => d.Name);
        foreach (var db in after)
        {
            var old = previous.GetValueOrDefault(db.Name);
            if (old is null || old.Txid != db.Txid || old.Generation != db.Generation || old.State != db.State || old.LagMs != db.LagMs
                || !old.Replicas.Select(Key).SequenceEqual(db.Replicas.Select(Key)))
                yield return Position(db);
            foreach (var e in ResyncChanges(db.Name, null, old?.Resync, db.Resync)) yield return e;
            // The primary sees its replicas' resyncs too (without the pages: those are the replica's to count).
            foreach (var replica in db.Replicas)
                if (old?.Replicas.FirstOrDefault(r => r.Node == replica.Node) is { } oldReplica)
                    foreach (var started in ReplicaResyncChanges(oldReplica, replica))
                        yield return Event(started ? "resync-started" : "resync-finished", ("db", db.Name), ("replica", replica.Node),
                            ("txid", replica.Txid));
            if (db.LastScrub is { } scrub && scrub != old?.LastScrub)
                yield return Event("scrub", ("db", db.Name), ("at", scrub.At), ("txid", scrub.Txid), ("pages", scrub.Pages), ("sound", scrub.Sound));
            if (old?.Problem != db.Problem)
                yield return db.Problem is null
                    ? Event("problem-cleared", ("db", db.Name), ("was", old!.Problem))
                    : Event("problem-raised", ("db", db.Name), ("problem", db.Problem));
            if (old is not null)
                foreach (var e in BetweenLooks(old, db)) yield return e;
        }
    }

    /// <summary>
    /// What a replica's counters say happened wholly between two looks: a local write repaired and a resync over within
    /// 100 ms (a small replica's usual case) showed in neither, and the stream said nothing of them (a black-box review
    /// saw the problem for 20 ms in 1,518 polls of <c>/status</c>). Local writes are told as one raised-and-cleared
    /// problem, each resync session as its started-and-finished pair. A primary's resync counter counts the sessions it
    /// serves; the replicas' own counts tell them on the primary (<see cref="ReplicaResyncChanges"/>).
    /// </summary>
    private static IEnumerable<JsonObject> BetweenLooks(DatabaseStatus before, DatabaseStatus after)
    {
        if (after.Role != "replica") yield break;
        // A problem that changed between the looks was told (the replica's own text names the local write).
        if (after.Counters.LocalWritesDetected > before.Counters.LocalWritesDetected && before.Problem == after.Problem)
        {
            const string LocalWrite = "a local write changed the replica";
            yield return Event("problem-raised", ("db", after.Name), ("problem", LocalWrite));
            yield return Event("problem-cleared", ("db", after.Name), ("was", LocalWrite));
        }
        if (before.Resync is not null || after.Resync is not null) yield break;
        for (var missed = before.Counters.Resyncs; missed < after.Counters.Resyncs; missed++)
        {
            yield return Event("resync-started", ("db", after.Name), ("replica", null));
            yield return Event("resync-finished", ("db", after.Name), ("replica", null));
        }
    }

    /// <summary>
    /// A replica's resync sessions between two looks, as the primary sees them (true: one started, false: one
    /// finished). The replica's count of sessions tells those that started and ended wholly between two reports; a
    /// replica that does not send it (an older one), or whose count went back (it restarted), is judged on its
    /// resyncing flag alone.
    /// </summary>
    internal static IEnumerable<bool> ReplicaResyncChanges(ReplicaView before, ReplicaView after)
    {
        if (before.Resyncs is not { } was || after.Resyncs is not { } now || now < was)
        {
            if (before.Resyncing != after.Resyncing) yield return after.Resyncing;
            yield break;
        }
        var started = Math.Max(now - was, !before.Resyncing && after.Resyncing ? 1 : 0);
        if (before.Resyncing && (started > 0 || !after.Resyncing)) yield return false;
        for (var session = 1; session <= started; session++)
        {
            yield return true;
            if (session < started || !after.Resyncing) yield return false;
        }
    }

    private IEnumerable<JsonObject> Changes(State before, State after) => Changes(before.Members, after.Members, before.Databases, after.Databases);

    private static (string, ulong, string, double?) Key(ReplicaView r) => (r.Node, r.Txid, r.State, r.LagMs);

    private static IEnumerable<JsonObject> ResyncChanges(string db, string? replica, ResyncProgressView? before, ResyncProgressView? after)
    {
        if (before is null && after is not null) yield return Event("resync-started", ("db", db), ("replica", replica));
        if (after is not null && after != before)
            yield return Event("resync-progress", ("db", db), ("pagesDone", after.PagesDone), ("pagesTotal", after.PagesTotal),
                ("bytesDone", after.BytesDone), ("bytesTotal", after.BytesTotal), ("bytesReceived", after.BytesReceived),
                ("bytesPerSecond", Math.Round(after.BytesPerSecond)), ("secondsLeft", after.SecondsLeft is { } left ? Math.Round(left, 1) : null));
        if (before is not null && after is null) yield return Event("resync-finished", ("db", db), ("replica", replica));
    }

    private static JsonObject Position(DatabaseStatus db) => Event("position",
        ("db", db.Name), ("role", db.Role), ("generation", AdminJson.Hex(db.Generation)), ("txid", db.Txid), ("lagMs", db.LagMs),
        ("lagTxids", db.LagTxids), ("state", db.State),
        ("replicas", new JsonArray(db.Replicas.Select(r => (JsonNode?)new JsonObject
        {
            ["node"] = r.Node, ["txid"] = r.Txid, ["lagMs"] = r.LagMs, ["state"] = r.State, ["resyncing"] = r.Resyncing,
            ["lastSeen"] = r.LastSeen,
        }).ToArray())));

    private static JsonObject Event(string type, params (string Name, JsonNode? Value)[] fields)
    {
        var e = new JsonObject { ["type"] = type, ["time"] = DateTimeOffset.UtcNow };
        foreach (var (name, value) in fields) e[name] = value;
        return e;
    }
}

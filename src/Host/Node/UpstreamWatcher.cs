using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Litecast.Host.Node;

/// <summary>
/// On a replica node: when the primary's member leaves the cluster (it stopped, or was downed after a crash or a
/// partition), this incarnation cannot hear it again — a restarted primary forms or joins a cluster of its own. The
/// watcher then stops this ActorSystem, and the node re-discovers the primary through <c>upstream.url</c> and rejoins
/// with a new incarnation, resuming from the replicas' persisted positions.
/// </summary>
internal sealed class UpstreamWatcher : ReceiveActor
{
    private readonly Address _primary;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public UpstreamWatcher(Address primary)
    {
        _primary = primary;
        Receive<ClusterEvent.MemberRemoved>(e => e.Member.Address == _primary, e => Rejoin($"the primary {e.Member.Address} left the cluster"));
        // This node is leaving (its own shutdown, or it was downed): Akka's cluster ends by announcing every member
        // removed, the primary included, though the primary did not leave; the node's own loop reports and rejoins.
        Receive<ClusterEvent.ClusterShuttingDown>(_ => Become(() => ReceiveAny(_ => { })));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<ClusterEvent.CurrentClusterState>(_ => { });
    }

    public static Props Props(Address primary) => Akka.Actor.Props.Create(() => new UpstreamWatcher(primary));

    protected override void PreStart() =>
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.ClusterShuttingDown));

    protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);

    private void Rejoin(string reason)
    {
        _log.Warning("{Reason}; leaving to rejoin the primary's cluster", reason);
        CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
    }
}

using Akka.Actor;
using Litecast.Actors.Primary;
using Litecast.Actors.Replica;

namespace Litecast.Actors;

/// <summary>
/// One configured database on this node: a <see cref="PrimaryDatabaseActor"/> where it has no upstream, a
/// <see cref="ReplicaDatabaseActor"/> where it follows one. Both answer the local protocol (status, sync, waits).
/// </summary>
public static class DatabaseActor
{
    /// <summary>Creates the database's actor; <paramref name="mediator"/> is the cluster's DistributedPubSub mediator.</summary>
    public static Props Props(DatabaseSettings settings, IActorRef mediator) =>
        settings.IsPrimary ? PrimaryDatabaseActor.Props(settings, mediator) : ReplicaDatabaseActor.Props(settings, mediator);
}

using Akka.Actor;

namespace Litecast.Actors;

/// <summary>
/// A node's databases: one <see cref="DatabaseActor"/> per configured database, started when the node is Up and
/// supervised here. Registered in Akka.Hosting's <c>ActorRegistry</c>; the HTTP layer asks it once for the database
/// actors and then talks to them directly.
/// </summary>
public sealed class NodeDatabases : ReceiveActor
{
    /// <summary>Asks for the database actors; answered with <see cref="Started"/>.</summary>
    public sealed record GetDatabases
    {
        public static readonly GetDatabases Instance = new();
    }

    /// <summary>The database actors by database name.</summary>
    public sealed record Started(IReadOnlyDictionary<string, IActorRef> ByName);

    public NodeDatabases(IReadOnlyList<DatabaseSettings> databases, IActorRef mediator)
    {
        var started = new Started(databases.ToDictionary(
            settings => settings.Name,
            settings => Context.ActorOf(DatabaseActor.Props(settings, mediator), ActorName(settings.Name))));
        Receive<GetDatabases>(_ => Sender.Tell(started));
    }

    /// <summary>Creates the node's database actors; <paramref name="mediator"/> is the cluster's pub-sub mediator.</summary>
    public static Props Props(IReadOnlyList<DatabaseSettings> databases, IActorRef mediator) =>
        Akka.Actor.Props.Create(() => new NodeDatabases(databases, mediator));

    /// <summary>The actor name of a database's actor (a database name may hold any character).</summary>
    public static string ActorName(string database) => "db-" + Uri.EscapeDataString(database);

    /// <summary>
    /// A database actor that fails is restarted: it opens its files again and checks its position against them before
    /// it replicates anything (the same start as after a process restart). What it supervises is declared in
    /// <see cref="DatabaseActor"/>.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);
}

using Litecast.Actors;
using Litecast.Host.Configuration;

namespace Litecast.Host.Node;

/// <summary>
/// What the HTTP admin endpoint and the console views need from a running node: its identity, its databases, and
/// requests to their database actors. Implemented by <see cref="LitecastNode"/>; tests use a fake.
/// </summary>
public interface ILitecastNode
{
    /// <summary>This node's identity: its cluster address (e.g. akka.tcp://litecast@host:4053).</summary>
    string NodeId { get; }

    /// <summary>The configured databases.</summary>
    IReadOnlyList<DbConfig> Databases { get; }

    /// <summary>The URL other nodes' proxies reach this node's proxy by (<c>proxy</c>), or null without one.</summary>
    Uri? ProxyUrl => null;

    /// <summary>This node's proxy's <c>wait-timeout</c>, or null without a proxy.</summary>
    TimeSpan? ProxyWaitTimeout => null;

    /// <summary>A problem with the node as a whole (e.g. the upstream is unreachable), or null.</summary>
    string? NodeProblem { get; }

    /// <summary>The cluster's members as this node sees them; empty while it has not joined.</summary>
    IReadOnlyList<ClusterMember> Members { get; }

    /// <summary>The database whose name, file name or full path is <paramref name="nameOrPath"/>, or null.</summary>
    DbConfig? FindDatabase(string nameOrPath);

    /// <summary>The database's status.</summary>
    Task<DatabaseStatus> StatusAsync(DbConfig db, CancellationToken cancellation);

    /// <summary>Primary only: reads the WAL to its end and returns the txid including every commit made before the call.
    /// Throws <see cref="NodeRequestException"/> when the database is not the primary here or not ready.</summary>
    Task<WalSynced> SyncAsync(DbConfig db, CancellationToken cancellation);

    /// <summary>Waits until the local copy reaches <paramref name="txid"/> (of <paramref name="generation"/> when given);
    /// null when <paramref name="timeout"/> passes first.</summary>
    Task<TxidReached?> WaitAsync(DbConfig db, ulong txid, ulong? generation, TimeSpan timeout, CancellationToken cancellation);

    /// <summary>Primary only: waits until <paramref name="replicas"/> replicas have applied <paramref name="txid"/> in the
    /// primary's current generation (each replica asked to report it as soon as it has it); false when
    /// <paramref name="timeout"/> passes first.</summary>
    Task<bool> WaitForReplicasAsync(DbConfig db, ulong txid, int replicas, TimeSpan timeout, CancellationToken cancellation);

    /// <summary>Replica only: starts a resync. Throws <see cref="NodeRequestException"/> on a primary.</summary>
    Task<ResyncStarted> ResyncAsync(DbConfig db, CancellationToken cancellation);

    /// <summary>The snapshot file of a resync session a primary database here serves, or null when none has that
    /// session; reading bytes <paramref name="from"/>..<paramref name="to"/> of it (inclusive; null: all) counts as
    /// resync bytes sent.</summary>
    Task<ResyncSnapshotFile?> ResyncSnapshotAsync(Guid session, long? from, long? to, CancellationToken cancellation) =>
        Task.FromResult<ResyncSnapshotFile?>(null);
}

/// <summary>A cluster member as one node sees it.</summary>
/// <param name="Address">Its cluster address.</param>
/// <param name="Roles">Its roles (<c>primary</c> on a node that is the primary of a database).</param>
/// <param name="Status">Akka's member status, lower case: joining, up, leaving, exiting, down, removed.</param>
/// <param name="Reachable">False while the failure detector calls it unreachable from here.</param>
public sealed record ClusterMember(string Address, IReadOnlyList<string> Roles, string Status, bool Reachable);

/// <summary>A request the database cannot serve in its current role or state; the message says why.</summary>
public sealed class NodeRequestException(string message) : Exception(message);

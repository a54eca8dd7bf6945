using Akka.Actor;

namespace Litecast.Messages;

/// <summary>
/// Sent by a replica to the primary after applying a batch and periodically: the replica's position, so the primary
/// can measure lag on its own clock, decide how long to retain its log, and show replica health.
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="ReplicaNode">Identity of the reporting replica node.</param>
/// <param name="Generation">Generation of the replica's position.</param>
/// <param name="Txid">Last txid applied by the replica.</param>
/// <param name="Hash">Replica database hash at <paramref name="Txid"/>.</param>
/// <param name="Resyncing">True while the replica is resyncing (its position is then stale).</param>
/// <param name="Replica">The replica's actor for this database.</param>
/// <param name="SinceApplied">How long before sending the report the replica applied <paramref name="Txid"/> (its own
/// clock, a duration only); null when unknown (a sender that predates the field). The primary subtracts it from the time
/// since it published <paramref name="Txid"/>, so the lag it reports is publish to apply, on the primary's clock, not
/// inflated by how long the replica waited before reporting.</param>
/// <param name="Resyncs">How many resync sessions the replica has started since it started; null when unknown (a sender
/// that predates the field). A session that starts and ends between two reports shows only here, so the primary's
/// event stream can tell it.</param>
public sealed record ReplicaPositionReport(
    string Database,
    string ReplicaNode,
    ulong Generation,
    ulong Txid,
    ulong Hash,
    bool Resyncing,
    IActorRef Replica,
    TimeSpan? SinceApplied = null,
    long? Resyncs = null);

/// <summary>
/// Sent by the primary to a replica while something waits for replicas to apply a txid (the proxy's
/// <c>write-ack</c>): the replica reports its position after each apply until it holds <paramref name="Txid"/>,
/// instead of at most every 100 ms.
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="Txid">The txid waited for (txids grow across generations; the primary counts only reports of its
/// current one).</param>
public sealed record ReplicaReportWanted(
    string Database,
    ulong Txid);

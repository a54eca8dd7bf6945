using Akka.Actor;

namespace Litecast.Messages;

/// <summary>
/// Sent by a replica to the primary when it missed batches (txid gap, lost pub-sub message, restart): asks for the
/// batches after <paramref name="AfterTxid"/> from the primary's retained log. The primary answers
/// <paramref name="ReplyTo"/> with <see cref="PageBatch"/> messages, or with <see cref="CatchUpUnavailable"/>.
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="ReplicaNode">Identity of the asking replica node.</param>
/// <param name="Generation">Generation of the replica's position.</param>
/// <param name="AfterTxid">Last txid the replica has applied; it wants AfterTxid+1 onwards.</param>
/// <param name="ReplyTo">Actor that receives the batches.</param>
public sealed record CatchUpRequest(
    string Database,
    string ReplicaNode,
    ulong Generation,
    ulong AfterTxid,
    IActorRef ReplyTo);

/// <summary>
/// The primary's answer to a <see cref="CatchUpRequest"/> it cannot serve from its retained log (txids already
/// dropped, or another generation): the replica must resync (<see cref="ResyncRequest"/>).
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="Generation">The primary's current generation.</param>
/// <param name="OldestRetainedTxid">Oldest txid still in the retained log (0 when the log is empty).</param>
/// <param name="Reason">Human-readable reason, for logs.</param>
public sealed record CatchUpUnavailable(
    string Database,
    ulong Generation,
    ulong OldestRetainedTxid,
    string Reason);

using Akka.Actor;
using Litecast.Storage;

namespace Litecast.Messages;

/// <summary>
/// Sent by a replica to the primary when it cannot continue from the retained log (gap too old, other generation,
/// hash mismatch, local write): starts a resync session. The primary snapshots the database and answers
/// <paramref name="ReplyTo"/> with <see cref="ResyncOffer"/> ranges (or <see cref="ResyncFailed"/>).
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="ReplicaNode">Identity of the asking replica node.</param>
/// <param name="SessionId">Id chosen by the replica; every message of the session carries it.</param>
/// <param name="ReplyTo">Replica actor that receives offers and pages.</param>
/// <param name="RangesInFlight">How many offer ranges the replica accepts ahead of its demands (at least 1). Appended
/// to the wire format later: a request from an older replica reads as 1, the stop-and-wait it understands.</param>
public sealed record ResyncRequest(
    string Database,
    string ReplicaNode,
    Guid SessionId,
    IActorRef ReplyTo,
    int RangesInFlight = 1);

/// <summary>
/// Primary to replica during a resync: per-page hashes of the primary's snapshot for pages
/// <paramref name="FirstPage"/>..<paramref name="FirstPage"/>+<paramref name="PageHashes"/>.Length-1 (one range of
/// many per session). The replica answers each offer with a <see cref="ResyncDemand"/>. Up to the request's
/// <see cref="ResyncRequest.RangesInFlight"/> ranges are offered ahead of their demands, in page order.
/// </summary>
/// <param name="SessionId">Resync session.</param>
/// <param name="Generation">Generation of the snapshot.</param>
/// <param name="Txid">Txid of the snapshot: the replica's position once the resync is applied.</param>
/// <param name="PageSize">Page size of the snapshot.</param>
/// <param name="PageCount">Total number of pages of the snapshot (not of this range).</param>
/// <param name="Hash">Database hash of the snapshot.</param>
/// <param name="FirstPage">Page number of <c>PageHashes[0]</c>.</param>
/// <param name="PageHashes">Hash of each page of the range.</param>
public sealed record ResyncOffer(
    Guid SessionId,
    ulong Generation,
    ulong Txid,
    int PageSize,
    uint PageCount,
    ulong Hash,
    uint FirstPage,
    ulong[] PageHashes);

/// <summary>
/// Replica to primary: answers the <see cref="ResyncOffer"/> range starting at <paramref name="FirstPage"/> with the
/// page numbers whose hash differs from the replica's (empty when the range already matches). Flow control: the
/// primary offers a further range only after receiving a demand, so at most RangesInFlight ranges (of offers and
/// their pages) are ever in flight; demands answer the offers in their order.
/// </summary>
/// <param name="SessionId">Resync session.</param>
/// <param name="FirstPage">First page of the offer range this demand answers.</param>
/// <param name="PageNumbers">Pages the replica needs, ascending.</param>
public sealed record ResyncDemand(
    Guid SessionId,
    uint FirstPage,
    uint[] PageNumbers);

/// <summary>
/// Primary to replica: the pages demanded for the offer range starting at <paramref name="FirstPage"/>. The replica
/// stages them and applies the whole resync as ONE transaction after the range marked <paramref name="LastRange"/>.
/// </summary>
/// <param name="SessionId">Resync session.</param>
/// <param name="FirstPage">First page of the offer range these pages belong to.</param>
/// <param name="Pages">Demanded pages (may be empty).</param>
/// <param name="LastRange">True for the last range of the session.</param>
public sealed record ResyncPages(
    Guid SessionId,
    uint FirstPage,
    IReadOnlyList<PageImage> Pages,
    bool LastRange);

/// <summary>
/// Either side to the other: the resync session is abandoned (snapshot lost, page size changed, timeout, replica
/// stopped). The replica may start a new session.
/// </summary>
/// <param name="SessionId">Resync session.</param>
/// <param name="Reason">Human-readable reason, for logs.</param>
public sealed record ResyncFailed(
    Guid SessionId,
    string Reason);

using Litecast.Storage;

namespace Litecast.Messages;

/// <summary>
/// Live replication, published by the primary on the database's pub-sub topic (<see cref="Topics.ForDatabase"/>):
/// the pages written by one or several consecutive committed primary transactions, txids
/// <paramref name="FirstTxid"/>..<paramref name="LastTxid"/>. The replica applies the batch as one SQLite transaction.
/// </summary>
/// <remarks>
/// A transaction too large for one message travels in parts <paramref name="Part"/> = 0..<paramref name="PartCount"/>-1
/// with the same txid range; the replica applies all parts of it as ONE transaction. <paramref name="PreHash"/> is the
/// database hash before the batch; <paramref name="PostHash"/> is the hash after it and is meaningful on the last part only.
/// </remarks>
/// <param name="Database">Database name as configured on the primary.</param>
/// <param name="Generation">Primary generation the txids belong to; a new generation restarts numbering.</param>
/// <param name="FirstTxid">First transaction id in the batch.</param>
/// <param name="LastTxid">Last transaction id in the batch (equal to <paramref name="FirstTxid"/> for one commit).</param>
/// <param name="PageSize">Database page size in bytes.</param>
/// <param name="PageCount">Database size in pages after the commit of <paramref name="LastTxid"/> (pages beyond are truncated).</param>
/// <param name="PreHash">Database hash before the batch is applied.</param>
/// <param name="PostHash">Database hash after the batch is applied (last part only).</param>
/// <param name="Part">0-based index of this part.</param>
/// <param name="PartCount">Number of parts of this batch (1 when it is not split).</param>
/// <param name="Pages">Changed pages of this part, in ascending page-number order.</param>
public sealed record PageBatch(
    string Database,
    ulong Generation,
    ulong FirstTxid,
    ulong LastTxid,
    int PageSize,
    uint PageCount,
    ulong PreHash,
    ulong PostHash,
    int Part,
    int PartCount,
    IReadOnlyList<PageImage> Pages);

/// <summary>
/// Published by the primary on the database's topic about once a second, so that idle replicas know the primary is
/// alive and where it stands (lag in txids, divergence by hash, SQLite version compatibility).
/// </summary>
/// <param name="Database">Database name.</param>
/// <param name="PrimaryNode">Identity (cluster address) of the primary node.</param>
/// <param name="Generation">Current generation.</param>
/// <param name="Txid">Last committed and published txid.</param>
/// <param name="Hash">Database hash at <paramref name="Txid"/>.</param>
/// <param name="PageSize">Database page size in bytes.</param>
/// <param name="PageCount">Database size in pages at <paramref name="Txid"/>.</param>
/// <param name="SqliteVersion">SQLite library version used by the primary (e.g. "3.50.4").</param>
public sealed record Heartbeat(
    string Database,
    string PrimaryNode,
    ulong Generation,
    ulong Txid,
    ulong Hash,
    int PageSize,
    uint PageCount,
    string SqliteVersion);

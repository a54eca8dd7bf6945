using Litecast.Messages;
using Litecast.Storage;

namespace Litecast.Actors.Replica;

/// <summary>
/// Merges consecutive whole batches into one: their final page images, their txid range, the first one's pre-hash
/// and the last one's post-hash. Applied as one transaction it leaves the replica exactly as applying them one by one
/// would (the database hash is a function of the final pages), and every state a reader sees is still a committed
/// primary state.
/// </summary>
internal static class BatchMerger
{
    /// <summary>
    /// True when <paramref name="next"/> can join a run ending with <paramref name="last"/>, whose database size before
    /// it was <paramref name="pageCountBeforeLast"/> (0: unknown). It must be whole, directly follow in txids and
    /// continue <paramref name="last"/>'s hash, so the applier's checks still cover every merged batch; and
    /// <paramref name="last"/> must not have shrunk the database (as on the primary: pages it dropped and a later
    /// batch grew back into would otherwise keep stale content).
    /// </summary>
    public static bool CanFollow(PageBatch last, PageBatch next, uint pageCountBeforeLast) =>
        next.Part == 0 && next.PartCount == 1 && last.Part == 0 && last.PartCount == 1
        && next.Database == last.Database && next.Generation == last.Generation && next.PageSize == last.PageSize
        && next.FirstTxid == last.LastTxid + 1 && next.PreHash == last.PostHash
        && pageCountBeforeLast != 0 && TransactionRun.MayContinueAfter(pageCountBeforeLast, last.PageCount);

    /// <summary>Merges a run whose batches each passed <see cref="CanFollow"/> into one batch.</summary>
    public static PageBatch Merge(IReadOnlyList<PageBatch> run)
    {
        if (run.Count == 1) return run[0];
        var final = run[^1];
        var pages = TransactionRun.FinalPages(run.Select(batch => batch.Pages), page => page.PageNumber, final.PageCount);
        return run[0] with { LastTxid = final.LastTxid, PageCount = final.PageCount, PostHash = final.PostHash, Pages = pages };
    }
}

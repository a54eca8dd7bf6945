namespace Litecast.Storage;

/// <summary>
/// The rules that let a run of consecutive committed transactions travel and apply as one: the database hash is a
/// function of the final pages, so applying the final image of each page leaves a replica exactly as applying the
/// transactions one by one would. Used where the primary groups what it read and where a replica merges what it
/// received.
/// </summary>
public static class TransactionRun
{
    /// <summary>
    /// True when a run may go on past a transaction that took the database from <paramref name="pageCountBefore"/> to
    /// <paramref name="pageCountAfter"/> pages: it must not have shrunk it, or pages it dropped that a later transaction
    /// grew back into would keep stale content.
    /// </summary>
    public static bool MayContinueAfter(uint pageCountBefore, uint pageCountAfter) => pageCountAfter >= pageCountBefore;

    /// <summary>
    /// The final image of each page across the run's transactions (given in commit order), in page order, without the
    /// pages past the run's final size <paramref name="finalPageCount"/>.
    /// </summary>
    public static List<TPage> FinalPages<TPage>(IEnumerable<IEnumerable<TPage>> transactions, Func<TPage, uint> pageNumber, uint finalPageCount)
    {
        var latest = new SortedDictionary<uint, TPage>();
        foreach (var pages in transactions)
            foreach (var page in pages)
                if (pageNumber(page) <= finalPageCount) latest[pageNumber(page)] = page;
        return latest.Values.ToList();
    }
}

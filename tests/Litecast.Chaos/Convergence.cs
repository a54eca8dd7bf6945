using System.Diagnostics;

namespace Litecast.Chaos;

/// <summary>A run's failure: an invariant broken, a replica that did not converge, a final comparison that differed.</summary>
internal sealed class ChaosFailure(string message) : Exception(message);

/// <summary>
/// After a fault window: every replica reaches what the primary had committed, as an application would check it
/// (read-your-writes: <c>POST /dbs/db/sync</c> on the primary, <c>GET /dbs/db/wait?txid=N</c> on each replica), and
/// then holds at least the primary's data as of the bookmark, intact.
/// </summary>
internal static class Convergence
{
    /// <summary>Time until every replica converged (reached the bookmark, is not resyncing, holds intact data); a
    /// <see cref="ChaosFailure"/> past <paramref name="bound"/>.</summary>
    public static async Task<TimeSpan> WaitAsync(ChaosCluster cluster, TimeSpan bound, CancellationToken cancellation)
    {
        var watch = Stopwatch.StartNew();
        // The primary's version is read before the bookmark is asked for, so the bookmark includes it.
        var primary = Bank.Read(cluster.Primary.Db);
        if (!primary.Intact) throw new ChaosFailure($"the primary itself is not intact: {primary}");

        long txid = 0;
        string? lastProblem = null;
        while (true)
        {
            try
            {
                txid = await cluster.SyncAsync(cancellation);
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
            {
                lastProblem = e.Message; // the primary's litecast may still be starting after a kill
            }
            if (watch.Elapsed > bound) throw new ChaosFailure($"the primary did not answer /sync within {bound.TotalSeconds} s: {lastProblem}");
            await Task.Delay(200, cancellation);
        }

        foreach (var replica in cluster.Replicas)
        {
            Bank.State? state;
            while (true)
            {
                var remaining = bound - watch.Elapsed;
                if (remaining <= TimeSpan.Zero)
                    throw new ChaosFailure($"{replica.Name} did not reach txid {txid} within {bound.TotalSeconds} s ({lastProblem ?? "504 from /wait"})\n" +
                                           $"{replica.Name} /status: {await cluster.StatusAsync(replica)}\nprimary /status: {await cluster.StatusAsync(cluster.Primary)}");
                try
                {
                    var wait = remaining < TimeSpan.FromSeconds(5) ? remaining : TimeSpan.FromSeconds(5);
                    // Reaching the txid is not enough: a resync (forced, or started by a fault) keeps the old state
                    // readable meanwhile, so a replica stuck resyncing would still answer /wait.
                    if (await cluster.WaitAsync(replica, txid, wait, cancellation))
                    {
                        if (await cluster.IsResyncingAsync(replica, cancellation)) lastProblem = "reached the txid but still resyncing";
                        // A replica whose file was deleted (delete-replica) must not answer from the unlinked file:
                        // converged means the file readers open holds the data.
                        else if (!File.Exists(replica.Db)) lastProblem = "answered /wait but its file does not exist";
                        else if (TryRead(replica.Db, out var read) is { } error)
                        {
                            if (error.Contains("malformed", StringComparison.Ordinal) || error.Contains("not a database", StringComparison.Ordinal))
                                throw new ChaosFailure($"{replica.Name} answered /wait?txid={txid} but its file is damaged: {error}\n" +
                                                       $"{replica.Name} /status: {await cluster.StatusAsync(replica)}");
                            lastProblem = "answered /wait but its file cannot be read: " + error;
                        }
                        else
                        {
                            state = read;
                            break;
                        }
                        await Task.Delay(200, cancellation);
                        continue;
                    }
                    lastProblem = null;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
                {
                    lastProblem = e.Message; // restarting after a kill, or frozen
                    await Task.Delay(200, cancellation);
                }
            }
            if (!state!.Intact || state.Version < primary.Version)
                throw new ChaosFailure($"{replica.Name} answered /wait?txid={txid} (read-your-writes) but holds {state}; the primary had {primary} before the bookmark\n" +
                                       $"{replica.Name} /status: {await cluster.StatusAsync(replica)}\nprimary /status: {await cluster.StatusAsync(cluster.Primary)}");
        }
        return watch.Elapsed;
    }

    /// <summary>The replica's bank state, or why it could not be read (a file being created by a resync).</summary>
    private static string? TryRead(string db, out Bank.State? state)
    {
        try
        {
            state = Bank.Read(db);
            return null;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            state = null;
            return e.Message;
        }
    }
}

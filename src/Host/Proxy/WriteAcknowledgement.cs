using System.Diagnostics;
using Litecast.Host.Configuration;
using Litecast.Host.Node;

namespace Litecast.Host.Proxy;

/// <summary>
/// <c>proxy.write-ack</c>: waits until enough replicas have applied a txid, as the primary sees them (each replica
/// reports what it applied; a report counts only in the primary's current generation).
/// </summary>
public static class WriteAcknowledgement
{
    /// <summary>How often the primary's view of its replicas is read while waiting.</summary>
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);

    /// <summary>True once <paramref name="replicas"/> replicas report <paramref name="txid"/> or later; false after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitAsync(ILitecastNode node, DbConfig db, ulong txid, int replicas, TimeSpan timeout,
        CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var status = await node.StatusAsync(db, cancellation);
            if (status.Replicas.Count(r => r.Generation == status.Generation && r.Txid >= txid) >= replicas) return true;
            if (clock.Elapsed >= timeout) return false;
            await Task.Delay(Poll, cancellation);
        }
    }
}

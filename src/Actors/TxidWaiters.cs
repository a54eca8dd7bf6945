using Akka.Actor;

namespace Litecast.Actors;

/// <summary>
/// Requests waiting for the local copy to reach a txid (read-your-writes, <see cref="WaitForTxid"/>): each is answered
/// once the copy reaches it, and forgotten once its asker has given up.
/// </summary>
internal sealed class TxidWaiters
{
    /// <summary>Whether a copy at <paramref name="txid"/> of <paramref name="generation"/> answers a wait for
    /// <paramref name="wantedTxid"/> (of <paramref name="wantedGeneration"/> when given), the primary's current
    /// generation being <paramref name="currentGeneration"/> as this node knows it (see <see cref="Answer"/>).</summary>
    public static bool Answers(ulong generation, ulong txid, ulong currentGeneration, ulong wantedTxid, ulong? wantedGeneration) =>
        txid >= wantedTxid && generation != 0 && generation == currentGeneration && (wantedGeneration is null || wantedGeneration == generation);

    private readonly Waiters<WaitForTxid> _waiting = new();

    public void Add(WaitForTxid request, IActorRef replyTo) => _waiting.Add(request, replyTo, request.Timeout);

    /// <summary>
    /// Answers every waiter that the local copy, at <paramref name="txid"/> of <paramref name="generation"/>, has
    /// reached. A txid bookmark means nothing in another generation: the copy must be in the primary's current
    /// generation as this node knows it (<paramref name="currentGeneration"/>, 0 while unknown), and in the one the
    /// waiter names, if it names one.
    /// </summary>
    public void Answer(ulong generation, ulong txid, ulong currentGeneration) =>
        _waiting.Answer(w => Answers(generation, txid, currentGeneration, w.Txid, w.Generation) ? new TxidReached(generation, txid) : null);
}

using System.Diagnostics;
using Akka.Actor;

namespace Litecast.Actors;

/// <summary>
/// Asks waiting inside a database actor until what they ask for holds (a txid reached, replicas caught up): each is
/// answered once it does, or with <see cref="WaitExpired"/> at the first pass after its timeout (on the monotonic
/// clock), so that a wait of zero answers at once instead of leaving its asker to time out.
/// </summary>
internal sealed class Waiters<TRequest>
{
    private readonly List<(TRequest Request, IActorRef ReplyTo, long Deadline)> _waiting = [];

    public void Add(TRequest request, IActorRef replyTo, TimeSpan timeout) =>
        _waiting.Add((request, replyTo, Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency)));

    /// <summary>Tells every waiter for which <paramref name="answer"/> gives a reply (null: not yet) that reply, and
    /// those past their timeout <see cref="WaitExpired"/>.</summary>
    public void Answer(Func<TRequest, object?> answer)
    {
        if (_waiting.Count == 0) return;
        var now = Stopwatch.GetTimestamp();
        _waiting.RemoveAll(w =>
        {
            if (answer(w.Request) is { } reply)
            {
                w.ReplyTo.Tell(reply);
                return true;
            }
            if (now < w.Deadline) return false;
            w.ReplyTo.Tell(WaitExpired.Instance);
            return true;
        });
    }
}

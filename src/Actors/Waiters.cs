using System.Diagnostics;
using Akka.Actor;

namespace Litecast.Actors;

/// <summary>
/// Asks waiting inside a database actor until what they ask for holds (a txid reached, replicas caught up): each is
/// answered once it does, and forgotten once its asker has given up (its timeout, on the monotonic clock).
/// </summary>
internal sealed class Waiters<TRequest>
{
    private readonly List<(TRequest Request, IActorRef ReplyTo, long Deadline)> _waiting = [];

    public void Add(TRequest request, IActorRef replyTo, TimeSpan timeout) =>
        _waiting.Add((request, replyTo, Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency)));

    /// <summary>Tells every waiter for which <paramref name="answer"/> gives a reply (null: not yet) that reply, and
    /// forgets those whose asker has given up.</summary>
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
            return now > w.Deadline;
        });
    }
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace Litecast.Actors;

/// <summary>
/// The actor system's scheduler (<c>akka.scheduler.implementation</c> in <c>hocon/akka.conf</c>): a queue of due
/// times behind one .NET timer, armed for the earliest. A node wakes only when something is due; Akka's default wheel
/// wakes on every tick whether or not anything is due, and fires a short delay only at the next tick.
/// </summary>
/// <remarks>
/// A delay of a second or more is rounded up to the next whole second of the monotonic clock (one of 500 ms or more to
/// the next half, of 100 ms or more to the next tenth): the cluster's and Litecast's periodic timers (heartbeats, gossip, the database actors' ticks; all
/// whole seconds) then come due at the same instant and run in one pass, one wake-up of the thread pool a second
/// instead of one each, which was half of an idle primary's CPU. Shorter delays (a report throttle, a write backoff)
/// run when asked. Actions run on the timer's thread-pool thread; they are Tells and Akka's own short callbacks.
/// </remarks>
public sealed class CoalescingScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    /// <summary>A delay of at least one of these, the largest first, is rounded up to a multiple of it.</summary>
    private static readonly TimeSpan[] Grains = [TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(100)];
    private static readonly TimeSpan TimerStep = TimeSpan.FromMilliseconds(4);
    private static readonly long Origin = Stopwatch.GetTimestamp();

    private readonly Lock _lock = new();
    private readonly PriorityQueue<Scheduled, TimeSpan> _queue = new();
    private readonly Timer _timer;
    private TimeSpan _armedFor = TimeSpan.MaxValue;
    private bool _disposed;

    /// <summary>Called by the actor system with its <c>akka.scheduler</c> settings.</summary>
    public CoalescingScheduler(Config scheduler, ILoggingAdapter log) : base(scheduler, log)
    {
        // The timer must not carry the creating thread's execution context (its async locals) into every run.
        using (ExecutionContext.SuppressFlow())
            _timer = new Timer(static state => ((CoalescingScheduler)state!).RunDue(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <inheritdoc />
    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    /// <inheritdoc />
    public DateTimeOffset Now => DateTimeOffset.Now;

    /// <inheritdoc />
    public override TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(Origin);

    /// <inheritdoc />
    public override TimeSpan HighResMonotonicClock => Stopwatch.GetElapsedTime(Origin);

    /// <summary>
    /// When an action asked at <paramref name="now"/> (monotonic clock) for <paramref name="delay"/> is due: the first
    /// whole second at or after <c>now + delay</c> for a delay of a second or more, the first half second for one of
    /// 500 ms or more, the first tenth for one of 100 ms or more, otherwise exactly then.
    /// </summary>
    public static TimeSpan DueAt(TimeSpan now, TimeSpan delay)
    {
        var due = now + (delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        foreach (var grain in Grains)
            if (delay >= grain) return TimeSpan.FromTicks((due.Ticks + grain.Ticks - 1) / grain.Ticks * grain.Ticks);
        return due;
    }

    /// <inheritdoc />
    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender,
        ICancelable cancelable) =>
        Schedule(delay, null, () => receiver.Tell(message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver,
        object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(initialDelay, interval, () => receiver.Tell(message, sender), cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Schedule(delay, null, action, cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Schedule(delay, null, action.Run, cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action,
        ICancelable cancelable) =>
        Schedule(initialDelay, interval, action, cancelable);

    /// <inheritdoc />
    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action,
        ICancelable cancelable) =>
        Schedule(initialDelay, interval, action.Run, cancelable);

    /// <summary>Drops every pending action (the actor system is terminating); later requests are refused.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _queue.Clear();
        }
        _timer.Dispose();
    }

    private void Schedule(TimeSpan delay, TimeSpan? interval, Action action, ICancelable? cancelable)
    {
        var due = DueAt(MonotonicClock, delay);
        lock (_lock)
        {
            if (_disposed) throw new SchedulerException("the scheduler is disposed: the actor system is terminating");
            _queue.Enqueue(new Scheduled(action, interval, cancelable), due);
            if (due < _armedFor) Arm(due);
        }
    }

    /// <summary>Runs every action now due, in due order, then arms the timer for the next; called by the timer.</summary>
    private void RunDue()
    {
        var due = new List<(Scheduled Action, TimeSpan At)>();
        lock (_lock)
        {
            if (_disposed) return;
            var now = MonotonicClock;
            while (_queue.TryPeek(out var next, out var at) && at <= now)
            {
                _queue.Dequeue();
                due.Add((next, at));
            }
            _armedFor = TimeSpan.MaxValue;
        }
        foreach (var (scheduled, at) in due)
        {
            if (scheduled.Cancelled) continue;
            try
            {
                scheduled.Run();
            }
            catch (Exception e)
            {
                Log.Error(e, "A scheduled action failed");
            }
        }
        lock (_lock)
        {
            if (_disposed) return;
            // A repeated action is next due an interval after it was due (not after it ran), so it keeps its place on
            // the second; one that fell behind runs at once.
            foreach (var (scheduled, at) in due)
                if (scheduled.Interval is { } every && !scheduled.Cancelled) _queue.Enqueue(scheduled, DueAt(at, every));
            if (_queue.TryPeek(out _, out var first) && first < _armedFor) Arm(first);
        }
    }

    /// <summary>Arms the timer for <paramref name="due"/>; the caller holds the lock.</summary>
    private void Arm(TimeSpan due)
    {
        _armedFor = due;
        // The timer queue counts in milliseconds on a coarse clock (4 ms steps here) and may fire that much early: wait
        // a step longer than asked, so an early wake-up does not find nothing due and re-arm for under a millisecond,
        // again and again until it is.
        var wait = due - MonotonicClock;
        _timer.Change(wait > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds)) + TimerStep : TimeSpan.Zero,
            Timeout.InfiniteTimeSpan);
    }

    private sealed record Scheduled(Action Run, TimeSpan? Interval, ICancelable? Cancelable)
    {
        public bool Cancelled => Cancelable?.IsCancellationRequested == true;
    }
}

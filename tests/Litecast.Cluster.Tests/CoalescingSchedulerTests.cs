using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Litecast.Actors;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The scheduler every Litecast node runs (hocon/akka.conf): when it makes an action due, and that actions scheduled
/// through an actor system run, repeat, stop when cancelled, survive a failing neighbour and stop with the system.
/// </summary>
public sealed class CoalescingSchedulerTests() : TestKit(SchedulerConfig)
{
    private const string SchedulerConfig = "akka.scheduler.implementation = \"Litecast.Actors.CoalescingScheduler, Litecast.Actors\"";

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public void DelaysOfASecondOrMoreComeDueOnWholeSecondsAndShorterOnesOnTheirGrainOrExactly()
    {
        var now = Ms(10_300);
        Assert.Equal(Ms(12_000), CoalescingScheduler.DueAt(now, Ms(1_000)));
        Assert.Equal(Ms(13_000), CoalescingScheduler.DueAt(now, Ms(2_500)));
        Assert.Equal(Ms(11_000), CoalescingScheduler.DueAt(now, Ms(600)));
        Assert.Equal(Ms(10_500), CoalescingScheduler.DueAt(now, Ms(150)));
        Assert.Equal(Ms(10_320), CoalescingScheduler.DueAt(now, Ms(20)));
        Assert.Equal(now, CoalescingScheduler.DueAt(now, TimeSpan.Zero));
        Assert.Equal(now, CoalescingScheduler.DueAt(now, Ms(-5)));
        // Already on the grain: not pushed to the next one.
        Assert.Equal(Ms(12_000), CoalescingScheduler.DueAt(Ms(11_000), Ms(1_000)));
    }

    [Fact]
    public void PeriodicTimersStartedAtDifferentMomentsComeDueTogether()
    {
        // Three one-second timers started 0.1, 0.45 and 0.9 s into a second: from their second run on they are due at
        // the same instants, so one wake-up serves all three.
        var runs = new[] { Ms(5_100), Ms(5_450), Ms(5_900) }
            .Select(start => Enumerable.Range(0, 3).Aggregate(new List<TimeSpan> { CoalescingScheduler.DueAt(start, Ms(1_000)) },
                (dues, _) => { dues.Add(CoalescingScheduler.DueAt(dues[^1], Ms(1_000))); return dues; }))
            .ToList();
        Assert.All(runs, dues => Assert.Equal([Ms(7_000), Ms(8_000), Ms(9_000), Ms(10_000)], dues));
    }

    [Fact]
    public void TheActorSystemRunsOnIt()
    {
        Assert.IsType<CoalescingScheduler>(Sys.Scheduler);
    }

    [Fact]
    public async Task AShortDelayIsKeptAndNotRoundedToATick()
    {
        var clock = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellOnce(Ms(30), TestActor, "due", ActorRefs.NoSender);
        await ExpectMsgAsync("due", TimeSpan.FromSeconds(5));
        Assert.True(clock.Elapsed >= Ms(30), $"ran after {clock.Elapsed.TotalMilliseconds} ms, asked for 30");
    }

    [Fact]
    public async Task ARepeatedTellRepeatsUntilCancelled()
    {
        var cancel = new Cancelable(Sys.Scheduler);
        var clock = Stopwatch.StartNew();
        Sys.Scheduler.ScheduleTellRepeatedly(Ms(20), Ms(40), TestActor, "tick", ActorRefs.NoSender, cancel);
        for (var i = 0; i < 3; i++) await ExpectMsgAsync("tick", TimeSpan.FromSeconds(5));
        // The third run is due 20 + 2 x 40 ms after the start, at the earliest.
        Assert.True(clock.Elapsed >= Ms(100), $"three runs within {clock.Elapsed.TotalMilliseconds} ms");
        cancel.Cancel();
        // A run already handed to the mailbox may still arrive; none after that.
        await Task.Delay(Ms(100));
        while (HasMessages) await ExpectMsgAsync("tick");
        await ExpectNoMsgAsync(Ms(300));
    }

    [Fact]
    public async Task AFailingActionDoesNotStopTheOthersDueWithIt()
    {
        Sys.Scheduler.Advanced.ScheduleOnce(Ms(20), () => throw new InvalidOperationException("scheduled failure"));
        Sys.Scheduler.ScheduleTellOnce(Ms(20), TestActor, "after the failure", ActorRefs.NoSender);
        await ExpectMsgAsync("after the failure", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ATerminatedSystemsSchedulerRefusesNewWorkAndDropsPendingWork()
    {
        var system = ActorSystem.Create("terminating", SchedulerConfig);
        var scheduler = system.Scheduler;
        var ran = 0;
        scheduler.Advanced.ScheduleOnce(Ms(300), () => Interlocked.Increment(ref ran));
        await system.Terminate();
        Assert.Throws<SchedulerException>(() => scheduler.Advanced.ScheduleOnce(Ms(10), () => { }));
        await Task.Delay(Ms(500));
        Assert.Equal(0, Volatile.Read(ref ran));
    }
}

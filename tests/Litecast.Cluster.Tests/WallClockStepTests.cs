using System.Diagnostics;
using Litecast.Actors;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The primary judges its replicas (silent, stalled, forgotten, lagging) on the monotonic clock. On the wall clock, a
/// step back (NTP correcting a clock that ran fast, a VM restored from a snapshot) made the last report look like it
/// came from the future: a replica that then fell silent stayed "following" with its last lag for as long as the step,
/// and an alert on the lag never fired.
/// </summary>
public class WallClockStepTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AReplicaThatFallsSilentAfterTheWallClockSteppedBackIsShownDisconnectedWithAGrowingLag()
    {
        var clock = new SteppedWallClock();
        await using var cluster = new TestCluster(output) { Tune = settings => settings with { Clock = clock } };
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        await cluster.Primary.Kit.AwaitAssertAsync(async () =>
            Assert.Equal(ReplicaStates.Following, Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas).State),
            TimeSpan.FromSeconds(30), TestCluster.Poll);

        clock.Step = -TimeSpan.FromHours(1);
        await cluster.IsolateAsync(cluster.Replica(1));
        PartitionTests.Write(app, 1);
        var written = Stopwatch.StartNew();

        await cluster.Primary.Kit.AwaitAssertAsync(async () =>
            Assert.Equal(ReplicaStates.Disconnected, Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas).State),
            TimeSpan.FromSeconds(30), TestCluster.Poll);
        // The lag is the age of the write the replica lacks, and grows with it. (It was checked as at least 5 s when
        // the primary waited for 10 s of silence; it now shows the replica disconnected once its failure detector
        // finds it unreachable, sooner.)
        var silent = Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas);
        var age = written.Elapsed.TotalMilliseconds;
        output.WriteLine($"disconnected {age / 1000:F1} s after the write, lag {silent.LagMs:F0} ms");
        Assert.True(silent.LagMs >= age - 1000 && silent.LagMs <= age + 1000,
            $"lag {silent.LagMs:F0} ms, not the {age:F0} ms since the write");
        await Task.Delay(TimeSpan.FromSeconds(2));
        var later = Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas);
        Assert.True(later.LagMs >= silent.LagMs + 1500, $"the silent replica's lag went from {silent.LagMs:F0} to {later.LagMs:F0} ms in 2 s");
    }

    /// <summary>The system's clocks, with the wall clock moved by <see cref="Step"/>; the monotonic timestamp is untouched,
    /// as a step of the system clock leaves it.</summary>
    private sealed class SteppedWallClock : TimeProvider
    {
        private long _stepTicks;

        public TimeSpan Step
        {
            get => TimeSpan.FromTicks(Interlocked.Read(ref _stepTicks));
            set => Interlocked.Exchange(ref _stepTicks, value.Ticks);
        }

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Step;
    }
}

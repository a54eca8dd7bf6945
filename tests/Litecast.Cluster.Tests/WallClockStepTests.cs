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
        var silent = Assert.Single((await cluster.Primary.StatusAsync("app.db")).Replicas);
        output.WriteLine($"disconnected {written.Elapsed.TotalSeconds:F1} s after the write, lag {silent.LagMs:F0} ms");
        Assert.True(silent.LagMs >= 5000, $"the silent replica's lag stayed at {silent.LagMs:F0} ms");
        Assert.True(silent.LagMs <= written.Elapsed.TotalMilliseconds + 1000,
            $"lag {silent.LagMs:F0} ms, more than the {written.Elapsed.TotalMilliseconds:F0} ms since the write");
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

using System.Diagnostics;
using Akka.Event;
using Akka.TestKit;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A TestProbe subscribed to a node's EventStream for every <see cref="LogEvent"/> (at the configured level: warnings
/// and errors), from before the node's database actor starts, so that nothing it logs is missed. It keeps what it
/// received, so a test can count occurrences across a long operation ("the resync was retried twice", "one more failure
/// since") and wait for more. A message expected a known number of times inside one action is
/// asserted with TestKit's EventFilter instead.
/// </summary>
public sealed class LogProbe
{
    private readonly TestProbe _probe;
    private readonly List<string> _seen = [];

    public LogProbe(TestKitBase kit)
    {
        _probe = kit.CreateTestProbe("log-probe");
        kit.Sys.EventStream.Subscribe(_probe.Ref, typeof(LogEvent));
    }

    /// <summary>How many events logged so far contain <paramref name="text"/> (takes what has arrived, without waiting).</summary>
    public int Count(string text)
    {
        TakeArrived();
        return _seen.Count(line => line.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Everything logged so far, one event a line (for a failure message).</summary>
    public string All
    {
        get
        {
            TakeArrived();
            return string.Join("\n", _seen);
        }
    }

    /// <summary>Waits until <paramref name="count"/> events containing <paramref name="text"/> have been logged since
    /// the node started; fails after <paramref name="max"/>, naming what was awaited.</summary>
    public async Task WaitForCountAsync(string text, int count, TimeSpan max, string what)
    {
        // Polls what has arrived rather than fishing with TestKit's async receive: in a loaded CI run a fish waited
        // out its 30 s while every event it waited for was already in the probe's queue (Count found all 94 at the end).
        var watch = Stopwatch.StartNew();
        while (Count(text) < count)
        {
            if (watch.Elapsed >= max)
                Assert.Fail($"timed out after {max.TotalSeconds} s waiting for {what}: {Count(text)} of {count} events " +
                            $"logged containing \"{text}\"; the last events logged:\n{string.Join("\n", _seen.TakeLast(40))}");
            await Task.Delay(ArrivalPoll);
        }
    }

    /// <summary>How often <see cref="WaitForCountAsync"/> looks at what has arrived.</summary>
    private static readonly TimeSpan ArrivalPoll = TimeSpan.FromMilliseconds(20);

    private void TakeArrived()
    {
        while (_probe.HasMessages) Record((LogEvent)_probe.ReceiveOne(TimeSpan.Zero)!);
    }

    private string Record(LogEvent e)
    {
        var line = $"[{e.LogLevel()}] {e.LogSource}: {e.Message}";
        _seen.Add(line);
        return line;
    }
}

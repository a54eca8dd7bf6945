using System.Diagnostics;
using Litecast.Storage;

namespace Litecast.Actors.Primary;

/// <summary>
/// Tells the tailer when SQLite counts a commit whose frames the tailer found in the WAL before the WAL-index counted
/// them. A write to the WAL wakes the tailer (<see cref="WalChangeNotifier"/>), but SQLite counts the commit a moment
/// later (after its fsync at synchronous=FULL) by writing the <c>-shm</c> file through a shared mapping, which raises
/// no file notification: without this watch such a commit waited for the next poll. One thread per primary database,
/// asleep unless asked.
/// </summary>
internal sealed class CommitWatch : IDisposable
{
    // Most commits are counted within microseconds of their last write, or after an fsync of a millisecond or two:
    // watched closely that long, then at a millisecond's pace. A commit never counted (its writer was killed) ends the
    // watch; the poll timer remains the fallback for one counted later still.
    private static readonly TimeSpan ClosePace = TimeSpan.FromMicroseconds(200);
    private static readonly TimeSpan CloseFor = TimeSpan.FromMilliseconds(3);
    private static readonly TimeSpan SlowPace = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMilliseconds(250);

    private readonly Func<WalVisibleEnd?> _readCounted;
    private readonly Action _counted;
    private readonly SemaphoreSlim _asked = new(0, 1);
    private readonly object _gate = new();
    private WalVisibleEnd _seen;
    private bool _watching;
    private volatile bool _disposed;

    /// <param name="readCounted">Reads the WAL-index (<see cref="WalIndex.ReadCommittedEnd"/>), from the watch's thread.</param>
    /// <param name="counted">Called on the watch's thread once the WAL-index moved past what the tailer saw.</param>
    public CommitWatch(Func<WalVisibleEnd?> readCounted, Action counted)
    {
        _readCounted = readCounted;
        _counted = counted;
        new Thread(Run) { IsBackground = true, Name = "litecast-commit-watch" }.Start();
    }

    /// <summary>Watches the WAL-index until it records more than <paramref name="seen"/>; a watch under way goes on.</summary>
    public void Await(WalVisibleEnd seen)
    {
        lock (_gate)
        {
            if (_watching || _disposed) return;
            _watching = true;
            _seen = seen;
        }
        _asked.Release();
    }

    private void Run()
    {
        while (true)
        {
            _asked.Wait();
            if (_disposed) return;
            WalVisibleEnd seen;
            lock (_gate) seen = _seen;
            var moved = Watch(seen);
            lock (_gate) _watching = false;
            if (_disposed) return;
            if (moved) _counted();
        }
    }

    private bool Watch(WalVisibleEnd seen)
    {
        var clock = Stopwatch.StartNew();
        while (!_disposed && clock.Elapsed < GiveUpAfter)
        {
            ShortSleep.For(clock.Elapsed < CloseFor ? ClosePace : SlowPace);
            // An index that cannot be read as it stands counts as moved: the tailer then asks SQLite.
            if (_readCounted() != seen) return true;
        }
        return false;
    }

    public void Dispose()
    {
        _disposed = true;
        lock (_gate)
        {
            if (_watching) return;
            _watching = true;
        }
        _asked.Release();
    }
}

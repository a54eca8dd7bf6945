namespace Litecast.Actors.Primary;

/// <summary>The points of the tailer's work where <see cref="ITailerEnvironment.Reached"/> is called.</summary>
public enum TailerPoint
{
    /// <summary>A poll begins (on every tick, and for every /sync).</summary>
    Poll,

    /// <summary>A part of a batch was just published; the batch's later parts are not yet.</summary>
    PartPublished,

    /// <summary>A resync's snapshot is pinned and about to be copied, on the copy's own thread (a test may hold it
    /// there while the tailer goes on publishing).</summary>
    SnapshotCopying,
}

/// <summary>
/// What the tailer needs from the world beyond its files: notice of writes to the WAL, and the points where a test may
/// make it fail. Production uses <see cref="TailerEnvironment.Default"/>; tests implement it (as LiteFS's tests replace
/// its OS) to fail the tailer at a chosen point, as a crash there would.
/// </summary>
public interface ITailerEnvironment
{
    /// <summary>Calls <paramref name="changed"/> whenever <paramref name="walPath"/> is written, created or deleted,
    /// until the returned handle is disposed (from any thread); null when file notifications are not available, and
    /// the tailer then polls at its short interval all the time.</summary>
    IDisposable? WatchWal(string walPath, Action changed);

    /// <summary>Called at <paramref name="point"/>; an exception thrown here fails the tailer there.</summary>
    void Reached(TailerPoint point);

    /// <summary>Called after each read of the WAL with the bytes of frames it checked (nothing to do in production;
    /// tests count them).</summary>
    void FramesChecked(long bytes)
    {
    }
}

/// <summary>The production environment: inotify for the WAL, no faults.</summary>
public sealed class TailerEnvironment : ITailerEnvironment
{
    public static readonly ITailerEnvironment Default = new TailerEnvironment();

    private TailerEnvironment()
    {
    }

    public IDisposable? WatchWal(string walPath, Action changed) => WalChangeNotifier.Subscribe(walPath, changed);

    public void Reached(TailerPoint point)
    {
    }
}

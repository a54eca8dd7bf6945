using Litecast.Actors.Primary;

namespace Litecast.Storage.Tests;

public sealed class WalChangeNotifierTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "litecast-notify-" + Guid.NewGuid().ToString("N"));

    public WalChangeNotifierTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void EachListenerHearsOnlyItsOwnFileUntilItUnsubscribes()
    {
        var x = Path.Combine(_directory, "x.db-wal");
        var y = Path.Combine(_directory, "y.db-wal");
        var xCalls = 0;
        using var xChanged = new SemaphoreSlim(0);
        using var yChanged = new SemaphoreSlim(0);
        var xWatch = WalChangeNotifier.Subscribe(x, () => { Interlocked.Increment(ref xCalls); xChanged.Release(); });
        Assert.NotNull(xWatch);
        using var yWatch = WalChangeNotifier.Subscribe(y, () => yChanged.Release());

        File.WriteAllBytes(y, [1]); // created, then written
        Assert.True(yChanged.Wait(TimeSpan.FromSeconds(10)), "no notification for y");
        Assert.Equal(0, Volatile.Read(ref xCalls));

        File.AppendAllText(x, "frame");
        Assert.True(xChanged.Wait(TimeSpan.FromSeconds(10)), "no notification for x");

        // Events are read in order: once y's later write is heard, x's earlier one was dispatched too (to nobody).
        xWatch.Dispose();
        var before = Volatile.Read(ref xCalls);
        while (yChanged.Wait(TimeSpan.FromMilliseconds(200))) { }
        File.AppendAllText(x, "frame");
        File.AppendAllText(y, "frame");
        Assert.True(yChanged.Wait(TimeSpan.FromSeconds(10)), "no notification for y after x unsubscribed");
        Assert.Equal(before, Volatile.Read(ref xCalls));
    }
}

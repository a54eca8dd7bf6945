using System.Collections.Concurrent;
using Litecast.Actors.Primary;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A tailer environment that fails the tailer once at an armed point, as a crash there would; otherwise it is the
/// production environment. Given to a database through <c>TestCluster.Tune</c>.
/// </summary>
public sealed class TailerFaults : ITailerEnvironment
{
    private readonly ConcurrentDictionary<TailerPoint, string> _armed = new();

    /// <summary>The next time the tailer reaches <paramref name="point"/>, it fails with <paramref name="reason"/>.</summary>
    public void Arm(TailerPoint point, string reason) => _armed[point] = reason;

    public IDisposable? WatchWal(string walPath, Action changed) => TailerEnvironment.Default.WatchWal(walPath, changed);

    public void Reached(TailerPoint point)
    {
        if (_armed.TryRemove(point, out var reason)) throw new InjectedFaultException(reason);
    }
}

/// <summary>A failure injected through <see cref="TailerFaults"/>.</summary>
public sealed class InjectedFaultException(string reason) : Exception($"injected fault: {reason}");

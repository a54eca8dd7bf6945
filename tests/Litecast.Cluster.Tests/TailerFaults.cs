using System.Collections.Concurrent;
using Litecast.Actors.Primary;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A tailer environment that fails the tailer once at an armed point, as a crash there would; otherwise it is the
/// production environment. Given to a database through <c>TestCluster.Tune</c>.
/// </summary>
public sealed class TailerFaults : ITailerEnvironment
{
    private readonly ConcurrentDictionary<TailerPoint, (string Reason, Func<bool> When)> _armed = new();

    /// <summary>The next time the tailer reaches <paramref name="point"/>, it fails with <paramref name="reason"/>.</summary>
    public void Arm(TailerPoint point, string reason) => Arm(point, reason, static () => true);

    /// <summary>The first time the tailer reaches <paramref name="point"/> and <paramref name="when"/> (run there, on
    /// the tailer's thread) returns true, it fails with <paramref name="reason"/>.</summary>
    public void Arm(TailerPoint point, string reason, Func<bool> when) => _armed[point] = (reason, when);

    public IDisposable? WatchWal(string walPath, Action changed) => TailerEnvironment.Default.WatchWal(walPath, changed);

    public void Reached(TailerPoint point)
    {
        if (_armed.TryGetValue(point, out var armed) && armed.When() && _armed.TryRemove(point, out _))
            throw new InjectedFaultException(armed.Reason);
    }
}

/// <summary>A failure injected through <see cref="TailerFaults"/>.</summary>
public sealed class InjectedFaultException(string reason) : Exception($"injected fault: {reason}");

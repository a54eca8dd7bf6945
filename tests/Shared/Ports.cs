using System.Net;
using System.Net.Sockets;

namespace Litecast.Tests.Shared;

/// <summary>Shared by the cluster and end-to-end tests, the chaos harness and the benchmarks (linked into each): ports
/// for their nodes.</summary>
public static class Ports
{
    private const int Lowest = 10000;

    /// <summary>The ports handed out are from <see cref="Lowest"/> up to the kernel's ephemeral range (<c>ip_local_port_range</c>).</summary>
    private static readonly int Count = Math.Max(EphemeralLow() - Lowest, 1);

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>Where this process starts looking: test processes that run side by side mostly pick different ports.</summary>
    private static int _next = Lowest + Random.Shared.Next(Count);

    /// <summary>
    /// A TCP port free on loopback right now, below the kernel's ephemeral range, and not handed out before in this
    /// process.
    /// </summary>
    /// <remarks>
    /// Not a port the kernel picked for a listener on port 0: that comes from the ephemeral range, from which the
    /// kernel also picks the local port of every outgoing connection, and in CI a replica's proxy port was taken by
    /// one between the test picking it and the node binding it. A port is handed out once per process, even after the
    /// search wraps around: a node's HTTP and cluster ports once came out equal.
    /// </remarks>
    public static int Free()
    {
        lock (HandedOut)
        {
            for (var tried = 0; tried < Count; tried++)
            {
                var port = _next;
                _next = _next + 1 < Lowest + Count ? _next + 1 : Lowest;
                if (HandedOut.Contains(port) || !CanListen(port)) continue;
                HandedOut.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"no free port in {Lowest}-{Lowest + Count - 1}");
    }

    private static bool CanListen(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralLow()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 32768;
        }
    }
}

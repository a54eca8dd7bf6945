using System.Net;
using System.Net.Sockets;

namespace Litecast.Host.Node;

/// <summary>
/// Refuses to start on a cluster port another process listens on. Akka.Remote binds with .NET's ReuseAddress, which on
/// Linux also sets SO_REUSEPORT: a second node given a running node's <c>cluster.port</c> bound it beside the first,
/// joined the cluster, and the kernel split incoming connections between the two processes.
/// </summary>
internal static class ClusterPortCheck
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    /// <summary>Throws <see cref="IOException"/> naming <c>cluster.port</c> when the port is taken; port 0 (a free one
    /// is picked) is not checked.</summary>
    public static void EnsureFree(string host, int port)
    {
        if (port == 0) return;
        foreach (var address in Addresses(host))
        {
            using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // SO_REUSEADDR alone: connections of an earlier process in TIME_WAIT do not count, a listener does.
            probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            try
            {
                probe.Bind(new IPEndPoint(address, port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"cluster.port {port} on {host} is already in use by another process (is another litecast running with this port?)", e);
            }
        }
    }

    private static IPAddress[] Addresses(string host) =>
        IPAddress.TryParse(host, out var address) ? [address] : Dns.GetHostAddresses(host);
}

using System.Net;
using System.Net.Sockets;

namespace Litecast.Host.Node;

/// <summary>
/// Checks, before the node touches any database, that it can listen where its config says: the cluster port, the admin
/// endpoint and the proxy. A failed start must change nothing on disk, and an address that is not this machine's made
/// Kestrel throw a bare SocketException out of the process. The cluster port is also checked for another listener
/// because Akka.Remote binds with .NET's ReuseAddress, which on Linux also sets SO_REUSEPORT: a second node given a
/// running node's <c>cluster.port</c> bound it beside the first, joined the cluster, and the kernel split incoming
/// connections between the two processes.
/// </summary>
internal static class ListenCheck
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    /// <summary>Throws <see cref="IOException"/> when <paramref name="host"/> (null, or a wildcard: every interface)
    /// cannot be bound at <paramref name="port"/> (0: any free one), naming <paramref name="hostKey"/> when the host is
    /// the cause and <paramref name="portKey"/> when the port is taken.</summary>
    public static void EnsureCanListen(string hostKey, string portKey, string? host, int port)
    {
        var shown = $"{host ?? "*"}:{port}";
        IPAddress[] addresses;
        try
        {
            addresses = host is null || Configuration.ClusterConfig.IsWildcard(host) ? [IPAddress.Any]
                : IPAddress.TryParse(host.Trim('[', ']'), out var address) ? [address]
                : Dns.GetHostAddresses(host);
        }
        catch (SocketException e)
        {
            throw new IOException($"{hostKey}: cannot resolve '{host}' ({e.Message})", e);
        }
        SocketException? unavailable = null;
        foreach (var address in addresses)
        {
            using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // SO_REUSEADDR alone: connections of an earlier process in TIME_WAIT do not count, a listener does.
            probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            try
            {
                probe.Bind(new IPEndPoint(address, port));
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"{portKey}: {shown} is already in use by another process (another litecast with this port, or this one's previous run still stopping?)", e);
            }
            catch (SocketException e)
            {
                // A name such as localhost may resolve to an address family this machine lacks: one that binds is enough.
                unavailable = e;
            }
        }
        throw new IOException(unavailable?.SocketErrorCode == SocketError.AddressNotAvailable
            ? $"{hostKey}: {host} is not an address of this machine, so nothing can listen on {shown}"
            : $"{portKey}: cannot listen on {shown}: {unavailable?.Message}", unavailable);
    }
}

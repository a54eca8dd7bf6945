using System.Net;
using System.Net.Sockets;

namespace Litecast.Tests.Shared;

/// <summary>Shared by the cluster and end-to-end tests and the chaos harness (linked into each): ports for test nodes.</summary>
public static class Ports
{
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A TCP port free on loopback right now and not handed out before in this process. The kernel may give the
    /// same free port to two listeners opened and closed in a row: a node's HTTP and cluster ports, picked one after the
    /// other, once came out equal in CI, and the primary could not bind its cluster endpoint.</summary>
    public static int Free()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
    }
}

using System.Net;
using System.Net.Sockets;
using Litecast.Host.Node;

namespace Litecast.Host.Tests.Node;

/// <summary>A cluster port another process listens on stops the node before it starts (Akka.Remote's own bind, with
/// .NET's ReuseAddress, SO_REUSEPORT on Linux, would have shared it), and so does a host that is not this machine's.</summary>
public class ListenCheckTests
{
    [Fact]
    public void APortAnotherListenerHoldsAsAkkaRemoteBindsItIsRefusedNamingTheKey()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Parse("::ffff:127.0.0.1"), 0));
        listener.Listen();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;

        var e = Assert.Throws<IOException>(() => ListenCheck.EnsureCanListen("cluster.host", "cluster.port", "127.0.0.1", port));
        Assert.Equal($"cluster.port: 127.0.0.1:{port} is already in use by another process (another litecast with this port, or this one's previous run still stopping?)", e.Message);
    }

    [Fact]
    public void AFreePortAndPortZeroPass()
    {
        int port;
        using (var taken = new TcpListener(IPAddress.Loopback, 0))
        {
            taken.Start();
            port = ((IPEndPoint)taken.LocalEndpoint).Port;
        }
        ListenCheck.EnsureCanListen("addr", "addr", "127.0.0.1", port);
        ListenCheck.EnsureCanListen("addr", "addr", null, port);
        ListenCheck.EnsureCanListen("addr", "addr", "localhost", port);
        ListenCheck.EnsureCanListen("cluster.host", "cluster.port", "127.0.0.1", 0);
    }

    [Fact]
    public void AHostThatIsNotThisMachinesIsNamedWithItsKey()
    {
        var e = Assert.Throws<IOException>(() => ListenCheck.EnsureCanListen("cluster.host", "cluster.port", "198.51.100.7", 4053));
        Assert.Equal("cluster.host: 198.51.100.7 is not an address of this machine, so nothing can listen on 198.51.100.7:4053", e.Message);
    }
}

using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Litecast.Chaos;

/// <summary>
/// A TCP relay in front of one node's cluster port. The node advertises the relay's port (<c>cluster.public-port</c>),
/// so every other node's connection to it passes here, and <see cref="Links"/> can cut or delay it per pair of nodes.
/// </summary>
internal sealed class TcpRelay : IDisposable
{
    private readonly TcpListener _listener;
    private readonly int _targetPort;
    private readonly Links _links;
    private readonly Func<IEnumerable<(string Name, int Pid)>> _nodes;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public TcpRelay(string server, int listenPort, int targetPort, Links links, Func<IEnumerable<(string Name, int Pid)>> nodes)
    {
        Server = server;
        ListenPort = listenPort;
        _targetPort = targetPort;
        _links = links;
        _nodes = nodes;
        _listener = new TcpListener(IPAddress.Loopback, listenPort);
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The node this relay fronts.</summary>
    public string Server { get; }
    public int ListenPort { get; }
    /// <summary>Connections relayed, those whose opening node could not be found (never cut), and those refused.</summary>
    public int Connections, Unidentified, Refused;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        client.NoDelay = true;
        var clientPort = ((IPEndPoint)client.RemoteEndPoint!).Port;
        var owner = SocketOwners.Find(clientPort, ListenPort, _nodes()) ?? "?";
        Interlocked.Increment(ref Connections);
        if (owner == "?") Interlocked.Increment(ref Unidentified);
        var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new RelayedConnection(owner, Server, client, target);
        if (!_links.Register(connection))
        {
            Interlocked.Increment(ref Refused);
            connection.Close();
            return;
        }
        try
        {
            await target.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            // Both directions; either one ending (a close, a cut, the node killed) ends the connection.
            await Task.WhenAny(Pump(client, target, connection), Pump(target, client, connection));
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException) { }
        finally
        {
            _links.Unregister(connection);
            connection.Close();
        }
    }

    /// <summary>Copies one direction; each chunk is released when its link's delay (read when it arrived) has passed,
    /// so a delay adds latency without throttling throughput.</summary>
    private async Task Pump(Socket from, Socket to, RelayedConnection connection)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Data)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (due, data) in queue.Reader.ReadAllAsync(_stop.Token))
                {
                    var wait = due - Environment.TickCount64;
                    if (wait > 0) await Task.Delay(TimeSpan.FromMilliseconds(wait), _stop.Token);
                    while (_links.Get(connection.Client, connection.Server).Held) await Task.Delay(50, _stop.Token);
                    await to.SendAsync(data, SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException) { connection.Close(); }
        });
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0) break;
                var delay = _links.Get(connection.Client, connection.Server).Delay;
                queue.Writer.TryWrite((Environment.TickCount64 + (long)delay.TotalMilliseconds, buffer.AsSpan(0, read).ToArray()));
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException) { }
        queue.Writer.TryComplete();
        await writer;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _accepting.Wait(TimeSpan.FromSeconds(2)); }
        catch (AggregateException) { }
    }
}

/// <summary>One relayed connection: the node that opened it, the node it reaches, and both sockets.</summary>
internal sealed class RelayedConnection(string client, string server, Socket clientSocket, Socket targetSocket)
{
    private int _closed;
    public string Client { get; } = client;
    public string Server { get; } = server;

    /// <summary>Closes both ends at once (a cut looks like a dropped network path to both nodes).</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1) return;
        foreach (var socket in new[] { clientSocket, targetSocket })
        {
            try { socket.Close(0); }
            catch (SocketException) { }
        }
    }
}

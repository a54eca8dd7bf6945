using System.Net;
using System.Net.Sockets;
using Litecast.Host.Configuration;
using Litecast.Host.Node;
using Litecast.Host.Proxy;
using Prometheus;

namespace Litecast.Host.Demo;

/// <summary>
/// The demo's web applications (<see cref="DemoWebApp"/>), one per node, each behind its node's proxy: node 0 is the
/// primary. The applications start first; the nodes' configurations then get their <c>proxy</c> section, and the
/// proxies start once the nodes run.
/// </summary>
internal sealed class DemoProxies : IAsyncDisposable
{
    private readonly List<DemoWebApp> _apps;
    private readonly int[] _ports;
    private readonly List<ProxyServer> _proxies = [];

    private DemoProxies(List<DemoWebApp> apps, int[] ports)
    {
        _apps = apps;
        _ports = ports;
    }

    /// <summary>Starts the applications of <paramref name="nodes"/> (label and database path; the first is the primary).</summary>
    public static async Task<DemoProxies> StartAppsAsync(IReadOnlyList<(string Label, string Path)> nodes)
    {
        var apps = new List<DemoWebApp>();
        for (var i = 0; i < nodes.Count; i++) apps.Add(await DemoWebApp.StartAsync(nodes[i].Label, nodes[i].Path, primary: i == 0));
        // The proxies' ports are chosen now: the primary's is advertised in its /cluster before its proxy listens.
        return new DemoProxies(apps, nodes.Select(_ => FreePort()).ToArray());
    }

    /// <summary>The proxy of node <paramref name="node"/>.</summary>
    public Uri ProxyUrl(int node) => new($"http://127.0.0.1:{_ports[node]}/");

    /// <summary><paramref name="config"/> with node <paramref name="node"/>'s proxy in front of its application.</summary>
    public LitecastConfig WithProxy(LitecastConfig config, int node) => config with
    {
        Proxy = new ProxyConfig
        {
            Addr = new HttpAddress("127.0.0.1", _ports[node]), Target = _apps[node].Url, Db = config.Dbs[0], PublicUrl = ProxyUrl(node),
        },
    };

    /// <summary>Starts every node's proxy; the primary's counts into <paramref name="primaryMetrics"/> (its admin endpoint's).</summary>
    public async Task StartProxiesAsync(IReadOnlyList<(LitecastConfig Config, ILitecastNode Node)> nodes, CollectorRegistry primaryMetrics,
        Action<string> log)
    {
        for (var i = 0; i < nodes.Count; i++)
        {
            var proxy = ProxyServer.Build(nodes[i].Config, nodes[i].Node, i == 0 ? primaryMetrics : Metrics.NewCustomRegistry(), log);
            await proxy.StartAsync();
            _proxies.Add(proxy);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var proxy in _proxies)
        {
            await proxy.StopAsync();
            await proxy.DisposeAsync();
        }
        foreach (var app in _apps) await app.DisposeAsync();
    }
}

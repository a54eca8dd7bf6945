using System.Net.Sockets;
using System.Runtime.InteropServices;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;
using Litecast.Host.Proxy;

namespace Litecast.Host;

/// <summary><c>litecast replicate</c>: runs one node (its databases, the cluster membership, the admin endpoint) until
/// SIGINT or SIGTERM, then leaves the cluster cleanly.</summary>
internal static class ReplicateRunner
{
    public static async Task<int> RunAsync(LitecastConfig config)
    {
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });

        Log($"litecast {Program.Version} starting with {config.File}: " +
            string.Join(", ", config.Dbs.Select(d => $"{d.Path} ({(d.Role == DbRole.Primary ? "primary" : "replica of " + d.Upstream!.Url)})")));
        if (config.UnsetVariables.Count > 0)
            Log($"warning: {config.File} names environment variables that are not set, each expanded to nothing: {string.Join(", ", config.UnsetVariables)}");
        LitecastNode node;
        try
        {
            ListenCheck.EnsureCanListen("cluster.host", "cluster.port", config.Cluster.Host, config.Cluster.EffectivePort(config.PrimaryDbs.Any()));
            if (config.Addr is { } admin) ListenCheck.EnsureCanListen("addr", "addr", admin.Host, admin.Port);
            if (config.Proxy is { } proxied) ListenCheck.EnsureCanListen("proxy.addr", "proxy.addr", proxied.Addr.Host, proxied.Addr.Port);
            // Locks each database (another litecast running one refuses this one) before anything touches it.
            node = LitecastNode.Start(config, Log);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            Log($"cannot start: {e.Message}");
            return 1;
        }
        AdminServer? server = null;
        ProxyServer? proxy = null;
        try
        {
            if (config.Addr is { } addr)
            {
                server = AdminServer.Build(addr, node, security: Security(config));
                await server.StartAsync();
                Log($"admin endpoint listening on {string.Join(", ", server.Urls)}");
            }
            if (config.Proxy is { } proxyConfig)
            {
                proxy = ProxyServer.Build(config, node, server?.Metrics.Registry ?? Prometheus.Metrics.NewCustomRegistry(), Log);
                await proxy.StartAsync();
                Log($"proxy listening on {string.Join(", ", proxy.Urls)} for {proxyConfig.Target} ({proxyConfig.Db.Name}, {AdminJson.RoleName(proxyConfig.Db.Role)})");
            }
            await stop.Task;
            Log("shutting down: leaving the cluster");
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            Log($"cannot start: {e.Message}");
            return 1;
        }
        finally
        {
            if (proxy is not null)
            {
                await proxy.StopAsync();
                await proxy.DisposeAsync();
            }
            if (server is not null)
            {
                await server.StopAsync();
                await server.DisposeAsync();
            }
            await node.DisposeAsync();
        }
        Log("stopped");
        return 0;
    }

    /// <summary>The admin endpoint's protection from the config's <c>tls</c> and <c>auth</c>.</summary>
    internal static AdminSecurity Security(LitecastConfig config) =>
        new(config.Tls?.Material.Certificate, config.Auth?.Token, config.Auth?.ProtectReads ?? false);

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTimeOffset.Now:HH:mm:ss.fff}] litecast: {message}");
}

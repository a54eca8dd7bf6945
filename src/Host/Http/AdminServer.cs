using System.Net;
using Litecast.Host.Configuration;
using Litecast.Host.Node;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Litecast.Host.Http;

/// <summary>
/// The HTTP admin endpoint of one node: a Kestrel server bound exactly to the configured <c>addr</c>
/// (<c>:9090</c> = every interface, <c>127.0.0.1:9090</c> = loopback only; port 0 lets the OS pick, see <see cref="Urls"/>).
/// </summary>
public sealed class AdminServer : IAsyncDisposable
{
    private AdminServer(WebApplication app, HttpAddress address, AdminMetrics metrics)
    {
        App = app;
        Address = address;
        Metrics = metrics;
    }

    /// <summary>The ASP.NET Core application.</summary>
    public WebApplication App { get; }

    /// <summary>The configured address.</summary>
    public HttpAddress Address { get; }

    /// <summary>The metrics <c>/metrics</c> exports.</summary>
    public AdminMetrics Metrics { get; }

    /// <summary>The URLs the server listens on, with the actual ports (after <see cref="StartAsync"/>).</summary>
    public IReadOnlyList<Uri> Urls =>
        App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Select(a => new Uri(a)).ToList()
        ?? [];

    /// <summary>A URL a client on this machine can use (wildcard hosts become loopback), after <see cref="StartAsync"/>.</summary>
    public Uri BaseUrl
    {
        get
        {
            var url = Urls.FirstOrDefault() ?? throw new InvalidOperationException("the admin server has not started");
            if (url.Host is "0.0.0.0" or "[::]" or "::" or "*" or "+")
                url = new UriBuilder(url) { Host = url.Host == "0.0.0.0" ? "127.0.0.1" : "localhost" }.Uri;
            return url;
        }
    }

    /// <summary>
    /// Builds (does not start) the admin endpoint for <paramref name="node"/> on <paramref name="address"/>.
    /// <paramref name="configure"/> may adjust the builder (logging, for instance) before the app is built.
    /// </summary>
    public static AdminServer Build(HttpAddress address, ILitecastNode node, Action<WebApplicationBuilder>? configure = null,
        AdminSecurity? security = null)
    {
        security ??= AdminSecurity.None;
        // The content root is the install directory and configuration files are never reloaded: by default ASP.NET Core
        // watches the working directory and everything below it for appsettings changes, and Litecast usually runs
        // beside the databases, whose every WAL write would then cost the node a file-watcher event.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddLitecastAdmin();
        // The slim builder leaves HTTPS out unless asked for.
        if (security.Certificate is not null) builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            Listen(kestrel, address, listen =>
            {
                if (security.Certificate is { } certificate) listen.UseHttps(certificate);
            });
        });
        configure?.Invoke(builder);
        var app = builder.Build();
        var metrics = AdminEndpoints.Map(app, node, security);
        return new AdminServer(app, address, metrics);
    }

    /// <summary>Starts listening.</summary>
    public Task StartAsync(CancellationToken cancellation = default) => App.StartAsync(cancellation);

    /// <summary>Stops listening (in-flight requests get a moment to finish).</summary>
    public Task StopAsync(CancellationToken cancellation = default) => App.StopAsync(cancellation);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => App.DisposeAsync();

    /// <summary>Binds <paramref name="kestrel"/> exactly to <paramref name="address"/> (shared with the proxy).</summary>
    internal static void Listen(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions kestrel, HttpAddress address,
        Action<Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions> configure)
    {
        if (address.Host is null || (ClusterConfig.IsWildcard(address.Host) && address.Host != "0.0.0.0"))
            kestrel.ListenAnyIP(address.Port, configure); // IPv6 dual-stack, IPv4 when the OS has no IPv6
        else
            foreach (var endpoint in Endpoints(address))
                kestrel.Listen(endpoint, configure);
    }

    /// <summary>
    /// The socket addresses for a host-bound <paramref name="address"/>: the IP itself for an IP (0.0.0.0 = every
    /// IPv4 interface), every address a host name resolves to otherwise.
    /// </summary>
    internal static IReadOnlyList<IPEndPoint> Endpoints(HttpAddress address)
    {
        int port = address.Port;
        if (address.Host is null)
            throw new ArgumentException("an all-interfaces address has no single endpoint", nameof(address));
        if (IPAddress.TryParse(address.Host, out var ip))
            return [new IPEndPoint(ip, port)];
        IPAddress[] resolved;
        try
        {
            resolved = Dns.GetHostAddresses(address.Host);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ArgumentException)
        {
            throw new InvalidOperationException($"addr {address}: cannot resolve host '{address.Host}': {e.Message}", e);
        }
        if (resolved.Length == 0)
            throw new InvalidOperationException($"addr {address}: host '{address.Host}' resolves to no address");
        if (port == 0 && resolved.Length > 1)
            resolved = [resolved.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? resolved[0]];
        return resolved.Distinct().Select(a => new IPEndPoint(a, port)).ToList();
    }
}

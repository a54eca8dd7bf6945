using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Prometheus;
using Yarp.ReverseProxy.Forwarder;

namespace Litecast.Host.Proxy;

/// <summary>
/// The proxy of one node (<c>proxy</c>): a Kestrel server on <c>proxy.addr</c> whose every request
/// <see cref="ProxyRequestHandler"/> forwards with YARP's <see cref="IHttpForwarder"/>, to this node's application or
/// to the primary's proxy. Plain HTTP; it reaches the primary's proxy over HTTPS when that one's URL says so, trusting
/// the cluster CA.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<IDisposable> _owned;

    private ProxyServer(WebApplication app, List<IDisposable> owned)
    {
        _app = app;
        _owned = owned;
    }

    /// <summary>The URLs the proxy listens on, with the actual ports (after <see cref="StartAsync"/>).</summary>
    public IReadOnlyList<Uri> Urls =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Select(a => new Uri(a)).ToList()
        ?? [];

    /// <summary>Builds (does not start) the proxy of <paramref name="config"/>'s node, counting into <paramref name="registry"/>.</summary>
    public static ProxyServer Build(LitecastConfig config, ILitecastNode node, CollectorRegistry registry, Action<string> log)
    {
        var proxy = config.Proxy ?? throw new ArgumentException("the configuration has no proxy section", nameof(config));
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // YARP logs each request it could not forward as a warning with its stack trace (about 20 lines); the handler
        // logs one line per failure instead.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder.HttpForwarder", LogLevel.Error);
        builder.Services.AddHttpForwarder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // A write's body is streamed to the application or the primary, whatever its size: the application decides.
            kestrel.Limits.MaxRequestBodySize = null;
            AdminServer.Listen(kestrel, proxy.Addr, _ => { });
        });
        var app = builder.Build();

        var authority = config.Tls?.Material.Authority;
        var application = Invoker(null, TimeSpan.FromSeconds(5));
        var primary = Invoker(authority, proxy.WaitTimeout);
        List<IDisposable> owned = [application, primary];
        PrimaryProxyLocator? locator = null;
        if (proxy.Db.Upstream is { } upstream)
        {
            var discovery = AdminHttpClient.Create(authority, config.Auth?.Token, proxy.WaitTimeout);
            owned.Add(discovery);
            locator = new PrimaryProxyLocator(discovery, upstream.Origin);
        }
        var handler = new ProxyRequestHandler(node, proxy, app.Services.GetRequiredService<IHttpForwarder>(), application, primary,
            locator, new ProxyMetrics(registry), log);
        app.Run(handler.HandleAsync);
        return new ProxyServer(app, owned);
    }

    /// <summary>
    /// A client as YARP recommends for forwarding (no proxy, redirects, decompression or cookies of its own, so the
    /// answer passes through as it came), connecting within <paramref name="connectTimeout"/>; over HTTPS it admits
    /// only a certificate from <paramref name="authority"/> when one is given.
    /// </summary>
    private static HttpMessageInvoker Invoker(X509Certificate2? authority, TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = connectTimeout,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
        };
        if (authority is not null)
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    ClusterTls.AdmitsServer(authority, certificate as X509Certificate2, chain, errors),
            };
        return new HttpMessageInvoker(handler);
    }

    /// <summary>Starts listening.</summary>
    public Task StartAsync(CancellationToken cancellation = default) => _app.StartAsync(cancellation);

    /// <summary>Stops listening (in-flight requests get a moment to finish).</summary>
    public Task StopAsync(CancellationToken cancellation = default) => _app.StopAsync(cancellation);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        foreach (var owned in _owned) owned.Dispose();
    }
}

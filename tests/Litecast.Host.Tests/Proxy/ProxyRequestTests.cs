using System.Net;
using System.Text.Json;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Proxy;
using Litecast.Host.Tests.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Litecast.Host.Tests.Proxy;

/// <summary>
/// The proxy's decisions, in process: a real proxy and a real Kestrel application on loopback, a fake node
/// (<see cref="FakeNode"/>: the primary at txid 100, sync answers 101, replicas at 98 and 95; the replica at 90).
/// </summary>
public sealed class ProxyRequestTests : IAsyncLifetime
{
    private readonly FakeNode _node = new();
    private readonly List<IAsyncDisposable> _servers = [];
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Prometheus.CollectorRegistry _metrics = Prometheus.Metrics.NewCustomRegistry();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log = new();
    private Uri _app = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/rows", () => "rows from the app");
        app.MapGet("/static/site.css", () => "body{}");
        app.MapPost("/rows", () => Results.Text("written", statusCode: StatusCodes.Status201Created));
        await app.StartAsync();
        _servers.Add(app);
        _app = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        foreach (var server in _servers) await server.DisposeAsync();
    }

    private async Task<Uri> ProxyAsync(DbConfig db, Func<ProxyConfig, ProxyConfig>? adjust = null, Uri? target = null)
    {
        var proxy = new ProxyConfig
        {
            Addr = new HttpAddress("127.0.0.1", 0), Target = target ?? _app, Db = db, Passthrough = ["/static/*"],
            WaitTimeout = TimeSpan.FromMilliseconds(300),
        };
        var config = new LitecastConfig { Dbs = [FakeNode.Primary, FakeNode.Replica], Proxy = adjust?.Invoke(proxy) ?? proxy };
        var server = ProxyServer.Build(config, _node, _metrics, _log.Enqueue);
        await server.StartAsync();
        _servers.Add(server);
        return server.Urls.Single();
    }

    private static string Txid(HttpResponseMessage response) =>
        response.Headers.TryGetValues(TxidCarrier.HeaderName, out var values) ? values.Single() : "";

    private async Task<string> MetricsAsync()
    {
        using var text = new MemoryStream();
        await _metrics.CollectAndExportAsTextAsync(text);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    private static string Error(string body) => JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;

    [Fact]
    public async Task AWriteOnThePrimaryCarriesItsTxidInTheHeaderAndTheCookie()
    {
        var proxy = await ProxyAsync(FakeNode.Primary);
        var response = await _http.PostAsync(new Uri(proxy, "/rows"), new StringContent("x"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("written", await response.Content.ReadAsStringAsync());
        Assert.Equal("101", Txid(response));
        Assert.Equal("litecast-txid=101; path=/; samesite=lax; httponly", response.Headers.GetValues("Set-Cookie").Single());
        Assert.Contains("sync app", _node.Requests);

        var read = await _http.GetAsync(new Uri(proxy, "/rows"));
        Assert.Equal("rows from the app", await read.Content.ReadAsStringAsync());
        Assert.Equal("100", Txid(read));
    }

    [Fact]
    public async Task AReplicaReadWaitsForItsTxidAndIsStampedWithThePositionReached()
    {
        _node.ReplicaReached = 95;
        var proxy = await ProxyAsync(FakeNode.Replica);
        // The wait series exist before any wait, at zero.
        var before = await MetricsAsync();
        Assert.Contains("litecast_proxy_wait_seconds_count{for=\"read\"} 0", before);
        Assert.Contains("litecast_proxy_wait_seconds_count{for=\"write_ack\"} 0", before);
        var cookie = new HttpRequestMessage(HttpMethod.Get, new Uri(proxy, "/rows"));
        cookie.Headers.Add("Cookie", "litecast-txid=95");
        var read = await _http.SendAsync(cookie);
        Assert.Equal("rows from the app", await read.Content.ReadAsStringAsync());
        Assert.Equal("95", Txid(read));
        Assert.Contains("wait other.db 95 300", _node.Requests);

        // Already there: no wait, stamped with the replica's own position.
        var header = new HttpRequestMessage(HttpMethod.Get, new Uri(proxy, "/rows"));
        header.Headers.Add("Litecast-Txid", "80");
        Assert.Equal("90", Txid(await _http.SendAsync(header)));
        Assert.DoesNotContain("wait other.db 80 300", _node.Requests);
        Assert.Contains("litecast_proxy_wait_seconds_count{for=\"read\"} 1", await MetricsAsync());
    }

    [Fact]
    public async Task AMalformedTxidHeaderIsRefusedExceptOnPassthroughPathsAndAMalformedCookieIgnored()
    {
        var proxy = await ProxyAsync(FakeNode.Replica);
        var header = new HttpRequestMessage(HttpMethod.Get, new Uri(proxy, "/rows"));
        header.Headers.Add("Litecast-Txid", "soon");
        var refused = await _http.SendAsync(header);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("invalid header Litecast-Txid 'soon': expected a txid (a non-negative integer)", Error(await refused.Content.ReadAsStringAsync()));

        // A cookie that is not a txid is not the proxy's (a browser cannot be asked to mend it): the read is served at
        // once, as one without a txid.
        var cookie = new HttpRequestMessage(HttpMethod.Get, new Uri(proxy, "/rows"));
        cookie.Headers.Add("Cookie", "litecast-txid=-1");
        var servedDespiteCookie = await _http.SendAsync(cookie);
        Assert.Equal(HttpStatusCode.OK, servedDespiteCookie.StatusCode);
        Assert.Equal("90", Txid(servedDespiteCookie));

        var css = new HttpRequestMessage(HttpMethod.Get, new Uri(proxy, "/static/site.css"));
        css.Headers.Add("Litecast-Txid", "soon");
        var served = await _http.SendAsync(css);
        Assert.Equal("body{}", await served.Content.ReadAsStringAsync());
        Assert.Equal("", Txid(served));
    }

    [Fact]
    public async Task WriteAckAnswers504WhenTooFewReplicasHaveTheWriteAndPassesItOnOnceEnoughDo()
    {
        var proxy = await ProxyAsync(FakeNode.Primary, p => p with { WriteAck = 1 });
        var refused = await _http.PostAsync(new Uri(proxy, "/rows"), new StringContent("x"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, refused.StatusCode);
        Assert.Equal("101", Txid(refused));
        Assert.Equal("the write committed at txid 101 on the primary, but fewer than 1 replica(s) applied it within 300ms (write-ack)",
            Error(await refused.Content.ReadAsStringAsync()));

        _node.Statuses[FakeNode.Primary.Name] = FakeNode.PrimaryStatus() with
        {
            Replicas = [new ReplicaView("akka.tcp://litecast@r1:4053", FakeNode.Generation, 101, 1, false, FakeNode.LastSeen)],
        };
        var acknowledged = await _http.PostAsync(new Uri(proxy, "/rows"), new StringContent("x"));
        Assert.Equal(HttpStatusCode.Created, acknowledged.StatusCode);
        Assert.Equal("written", await acknowledged.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AReplicaBeyondMaxLagSendsReadsToThePrimaryAnd503sWhenItCannotBeFound()
    {
        // The fake replica is 1.5 s behind; its upstream (http://primary:9090) does not resolve.
        var proxy = await ProxyAsync(FakeNode.Replica, p => p with { MaxLag = TimeSpan.FromSeconds(1) });
        var read = await _http.GetAsync(new Uri(proxy, "/rows"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
        Assert.Equal("1", read.Headers.RetryAfter?.ToString());
        Assert.StartsWith("the primary's proxy cannot be found through http://primary:9090/", Error(await read.Content.ReadAsStringAsync()));

        var within = await ProxyAsync(FakeNode.Replica, p => p with { MaxLag = TimeSpan.FromSeconds(2) });
        Assert.Equal("rows from the app", await _http.GetStringAsync(new Uri(within, "/rows")));
    }

    [Fact]
    public async Task ARequestAlreadyForwardedToThePrimaryIsNotForwardedAgainByAReplica()
    {
        var proxy = await ProxyAsync(FakeNode.Replica);
        var write = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy, "/rows")) { Content = new StringContent("x") };
        write.Headers.Add("Litecast-Forwarded", "1");
        var refused = await _http.SendAsync(write);
        Assert.Equal((HttpStatusCode)508, refused.StatusCode);
        Assert.Contains("reached this replica's proxy", Error(await refused.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task AnApplicationThatDoesNotAnswerIsA502()
    {
        var closed = new Uri($"http://127.0.0.1:{FreePort()}");
        var proxy = await ProxyAsync(FakeNode.Primary, target: closed);
        var read = await _http.GetAsync(new Uri(proxy, "/rows"));
        Assert.Equal(HttpStatusCode.BadGateway, read.StatusCode);
        Assert.StartsWith($"the application at {closed.GetLeftPart(UriPartial.Authority)} did not answer (Request)", Error(await read.Content.ReadAsStringAsync()));
        // One line in the log, not YARP's warning with its stack trace.
        Assert.StartsWith($"proxy: GET /rows: the application at {closed.GetLeftPart(UriPartial.Authority)} did not answer (Request)", Assert.Single(_log));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Net;
using System.Text;
using Litecast.Host.Proxy;

namespace Litecast.Host.Tests.Proxy;

/// <summary>A replica's proxy learns the primary's proxy URL and wait-timeout from the primary's <c>GET /cluster</c>,
/// an answer from outside: a wait-timeout that is not a plausible duration is ignored (the replica's own applies).</summary>
public sealed class PrimaryProxyLocatorTests
{
    [Theory]
    [InlineData("7500", 7500.0)]
    [InlineData("null", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("1e300", null)]
    [InlineData(null, null)]
    public async Task ThePrimarysWaitTimeoutIsTakenOnlyWhenItIsAPlausibleDuration(string? field, double? expectedMs)
    {
        var extra = field is null ? "" : $", \"proxyWaitTimeoutMs\": {field}";
        using var admin = new HttpClient(new Answer($"{{\"node\": \"akka.tcp://litecast@p:4053\", \"dbs\": [], \"proxy\": \"http://p:8080/\"{extra}}}"));
        var proxy = await new PrimaryProxyLocator(admin, new Uri("http://p:4000")).LocateAsync(CancellationToken.None);
        Assert.Equal(new Uri("http://p:8080/"), proxy.Url);
        Assert.Equal(expectedMs, proxy.WaitTimeout?.TotalMilliseconds);
    }

    private sealed class Answer(string json) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
    }
}

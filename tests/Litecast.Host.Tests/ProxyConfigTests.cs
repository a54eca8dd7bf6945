using Litecast.Host.Configuration;
using Litecast.Host.Proxy;

namespace Litecast.Host.Tests;

/// <summary>The <c>proxy</c> section: its keys, its defaults, and errors that name the key and the place.</summary>
public sealed class ProxyConfigTests : IDisposable
{
    private readonly TempConfig _t = new();

    public void Dispose() => _t.Dispose();

    private const string Dbs = "dbs:\n  - path: /data/db\n";

    [Fact]
    public void EveryKeyIsRead()
    {
        var config = _t.Load(Dbs + """
            proxy:
              addr: ":8080"
              target: "localhost:8081"
              db: "db"
              passthrough: ["/static/*", "*.css"]
              max-lag: 5s
              wait-timeout: 2s
              write-ack: 1
              public-url: http://app1:8080
            """);
        var proxy = config.Proxy!;
        Assert.Equal(new HttpAddress(null, 8080), proxy.Addr);
        Assert.Equal(new Uri("http://localhost:8081"), proxy.Target);
        Assert.Equal("/data/db", proxy.Db.Path);
        Assert.Equal(["/static/*", "*.css"], proxy.Passthrough);
        Assert.Equal(TimeSpan.FromSeconds(5), proxy.MaxLag);
        Assert.Equal(TimeSpan.FromSeconds(2), proxy.WaitTimeout);
        Assert.Equal(1, proxy.WriteAck);
        Assert.Equal(new Uri("http://app1:8080"), proxy.AdvertisedUrl("testhost"));
    }

    [Fact]
    public void DefaultsAndTheAdvertisedAddress()
    {
        var proxy = _t.Load(Dbs + "proxy:\n  addr: \":8080\"\n  target: http://127.0.0.1:8081\n  db: db\n").Proxy!;
        Assert.Null(proxy.MaxLag);
        Assert.Equal(ProxyConfig.DefaultWaitTimeout, proxy.WaitTimeout);
        Assert.Equal(0, proxy.WriteAck);
        Assert.Empty(proxy.Passthrough);
        // A wildcard address is advertised by the cluster's public host name.
        Assert.Equal(new Uri("http://testhost:8080"), proxy.AdvertisedUrl("testhost"));
        var bound = _t.Load(Dbs + "proxy:\n  addr: \"10.0.0.5:8080\"\n  target: localhost:8081\n  db: db\n").Proxy!;
        Assert.Equal(new Uri("http://10.0.0.5:8080"), bound.AdvertisedUrl("testhost"));
        Assert.Null(_t.Load(Dbs).Proxy);
    }

    [Theory]
    [InlineData("proxy:\n  target: localhost:8081\n  db: db\n", "proxy.addr", "missing required key 'addr'")]
    [InlineData("proxy:\n  addr: \":8080\"\n  db: db\n", "proxy.target", "missing required key 'target'")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n", "proxy.db", "missing required key 'db'")]
    [InlineData("proxy:\n  addr: \"8080\"\n  target: localhost:8081\n  db: db\n", "proxy.addr", "proxy.addr: invalid address '8080'")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081/app\n  db: db\n", "proxy.target", "is not the application's host:port")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8080\n  db: db\n", "proxy.target", "is the proxy's own address (proxy.addr ':8080')")]
    [InlineData("proxy:\n  addr: \"127.0.0.1:8080\"\n  target: http://127.0.0.1:8080\n  db: db\n", "proxy.target", "is the proxy's own address")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: other\n", "proxy.db", "no database named 'other' in dbs (names: db)")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: db\n  max-lag: 0s\n", "proxy.max-lag", "must be greater than zero")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: db\n  wait-timeout: soon\n", "proxy.wait-timeout", "proxy.wait-timeout:")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: db\n  write-ack: -1\n", "proxy.write-ack", "is not a number of replicas")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: db\n  public-url: app1:8080\n", "proxy.public-url", "is not an http(s) URL")]
    [InlineData("proxy:\n  addr: \":8080\"\n  target: localhost:8081\n  db: db\n  passthrough: /static/*\n", "proxy.passthrough", "expected a list of path patterns")]
    [InlineData("proxy: [1]\n", "proxy", "proxy: expected a mapping")]
    public void ErrorsNameTheKeyAndThePlace(string section, string key, string message)
    {
        var e = _t.Fail(Dbs + section);
        Assert.Equal(key, e.Key);
        Assert.Contains(message, e.Message);
        Assert.NotNull(e.Line);
    }

    [Fact]
    public void AnUnknownKeyListsTheProxyKeys()
    {
        var e = _t.Fail(Dbs + "proxy:\n  addr: \":8080\"\n  targt: localhost:8081\n");
        Assert.Contains("unknown key 'targt' in proxy (expected one of: addr, target, db, passthrough, max-lag, wait-timeout, write-ack, public-url)", e.Message);
        Assert.Equal(5, e.Line);
    }

    [Theory]
    [InlineData("/static/app.js", true)]
    [InlineData("/static/img/logo.png", true)]
    [InlineData("/site.css", true)]
    [InlineData("/a/b/theme.css", true)]
    [InlineData("/staticky", false)]
    [InlineData("/rows", false)]
    [InlineData("/site.css.map", false)]
    public void PassthroughPatternsMatchPaths(string path, bool matches) =>
        Assert.Equal(matches, new PassthroughPatterns(["/static/*", "*.css"]).Matches(path));

    [Fact]
    public void NoPassthroughPatternsMatchNothing() => Assert.False(new PassthroughPatterns([]).Matches("/"));
}

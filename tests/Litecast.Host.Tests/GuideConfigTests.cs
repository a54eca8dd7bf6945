using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

/// <summary>The user's guide's two configs, exactly as written there, plus the documented extras.</summary>
public sealed class GuideConfigTests : IDisposable
{
    private readonly TempConfig _t = new();

    public void Dispose() => _t.Dispose();

    private const string GuidePrimary = """
        addr: ":9090"

        dbs:
          - path: /data/db
        """;

    private const string GuideReplica = """
        addr: ":9090"

        dbs:
          - path: /data/db
            upstream:
              url: http://$PRIMARY_HOSTNAME:9090
        """;

    [Fact]
    public void GuidePrimaryParsesWithDefaults()
    {
        var c = _t.Load(GuidePrimary);

        Assert.EndsWith("litecast.yml", c.File);
        Assert.NotNull(c.Addr);
        Assert.Null(c.Addr!.Host);
        Assert.True(c.Addr.IsAllInterfaces);
        Assert.Equal(9090, c.Addr.Port);
        Assert.Equal("http://*:9090", c.Addr.ListenUrl);
        Assert.Equal("http://localhost:9090", c.Addr.LocalUrl);
        Assert.Equal(":9090", c.Addr.ToString());

        var db = Assert.Single(c.Dbs);
        Assert.Equal("/data/db", db.Path);
        Assert.Equal("db", db.Name);
        Assert.Equal(DbRole.Primary, db.Role);
        Assert.Null(db.Upstream);
        Assert.Equal("/data/db", db.UpstreamPath);
        Assert.Equal(1000, db.CheckpointThresholdPages);
        Assert.Equal(64L * 1024 * 1024, db.RetainedLogBytes);
        Assert.Equal(TimeSpan.FromSeconds(10), db.MaxLag);
        Assert.Equal(TimeSpan.FromHours(24), db.ScrubInterval);
        Assert.Single(c.PrimaryDbs);
        Assert.Empty(c.ReplicaDbs);
        Assert.Null(c.UpstreamOrigin);

        Assert.Equal("0.0.0.0", c.Cluster.Host);
        Assert.Equal(4053, c.Cluster.Port);
        Assert.Equal("testhost", c.Cluster.PublicHost);
        Assert.Empty(c.Cluster.Seeds);
    }

    [Fact]
    public void GuideReplicaParsesWithTheVariableSet()
    {
        _t.Env["PRIMARY_HOSTNAME"] = "primary.internal";
        var c = _t.Load(GuideReplica);

        var db = Assert.Single(c.Dbs);
        Assert.Equal(DbRole.Replica, db.Role);
        Assert.Equal("/data/db", db.Path);
        Assert.Equal(new Uri("http://primary.internal:9090"), db.Upstream!.Url);
        Assert.Null(db.Upstream.Path);
        Assert.Equal("/data/db", db.UpstreamPath);
        Assert.Equal(new Uri("http://primary.internal:9090/"), c.UpstreamOrigin);
        Assert.Equal(9090, c.Addr!.Port);
    }

    [Fact]
    public void GuideReplicaWithTheVariableUnsetNamesTheUrlAndHintsAtTheVariable()
    {
        var e = _t.Fail(GuideReplica);
        Assert.Equal(6, e.Line);
        Assert.Equal("dbs[0].upstream.url", e.Key);
        Assert.Contains("dbs[0].upstream.url", e.Message);
        Assert.Contains("'http://:9090'", e.Message);
        Assert.Contains("environment variable", e.Message);
    }

    [Fact]
    public void UpstreamPathNamesThePrimarysPath()
    {
        var c = _t.Load("""
            dbs:
              - path: /var/lib/replica/app.db
                upstream:
                  url: https://primary:9443
                  path: /srv/primary/app.db
            """);
        var db = Assert.Single(c.Dbs);
        Assert.Equal("/srv/primary/app.db", db.Upstream!.Path);
        Assert.Equal("/srv/primary/app.db", db.UpstreamPath);
        Assert.Equal("app.db", db.Name);
        Assert.Equal("https", db.Upstream.Url.Scheme);
        Assert.Null(c.Addr);
    }

    [Fact]
    public void ClusterSectionIsRead()
    {
        var c = _t.Load("""
            addr: 127.0.0.1:9091
            dbs:
              - path: /data/db
            cluster:
              host: 10.0.0.5
              port: 4100
              public-host: node-a.example
              seeds:
                - akka.tcp://litecast@node-a.example:4100
                - akka.tcp://litecast@10.0.0.6:4053
            """);
        Assert.Equal("127.0.0.1", c.Addr!.Host);
        Assert.Equal(9091, c.Addr.Port);
        Assert.Equal("10.0.0.5", c.Cluster.Host);
        Assert.Equal(4100, c.Cluster.Port);
        Assert.Equal("node-a.example", c.Cluster.PublicHost);
        Assert.Equal(["akka.tcp://litecast@node-a.example:4100", "akka.tcp://litecast@10.0.0.6:4053"], c.Cluster.Seeds);
    }

    [Fact]
    public void PublicPortIsReadAndDefaultsToNone()
    {
        var relayed = _t.Load("dbs: [{path: /d}]\ncluster:\n  host: 127.0.0.1\n  port: 4100\n  public-port: 14100\n");
        Assert.Equal(4100, relayed.Cluster.Port);
        Assert.Equal(14100, relayed.Cluster.PublicPort);

        Assert.Null(_t.Load("dbs: [{path: /d}]\ncluster:\n  port: 4100\n").Cluster.PublicPort);
        Assert.Null(_t.Load("dbs: [{path: /d}]\n").Cluster.PublicPort);
    }

    [Fact]
    public void PublicHostDefaultsToABoundHostOrTheMachineName()
    {
        var bound = _t.Load("dbs: [{path: /d}]\ncluster:\n  host: 192.168.1.2\n");
        Assert.Equal("192.168.1.2", bound.Cluster.PublicHost);
        Assert.Equal(4053, bound.Cluster.Port);

        var wildcard = _t.Load("dbs: [{path: /d}]\ncluster:\n  port: 0\n");
        Assert.Equal("testhost", wildcard.Cluster.PublicHost);
        Assert.Equal(0, wildcard.Cluster.Port);

        var empty = _t.Load("dbs: [{path: /d}]\ncluster:\n");
        Assert.Equal("testhost", empty.Cluster.PublicHost);
        Assert.Equal("0.0.0.0", empty.Cluster.Host);
    }

    [Fact]
    public void TunablesAreRead()
    {
        var c = _t.Load("""
            dbs:
              - path: /data/a.db
                name: alpha
                checkpoint-threshold-pages: 2500
                retained-log-bytes: 1GiB
                max-lag: 1m30s
                scrub-interval: 6h
              - path: /data/b.db
                retained-log-bytes: 1048576
                max-lag: 500ms
                scrub-interval: Off
              - path: /data/c.db
                retained-log-bytes: "64MB"
                scrub-interval: 0
            """);
        Assert.Equal("alpha", c.Dbs[0].Name);
        Assert.Equal(2500, c.Dbs[0].CheckpointThresholdPages);
        Assert.Equal(1L << 30, c.Dbs[0].RetainedLogBytes);
        Assert.Equal(TimeSpan.FromSeconds(90), c.Dbs[0].MaxLag);
        Assert.Equal("b.db", c.Dbs[1].Name);
        Assert.Equal(1048576, c.Dbs[1].RetainedLogBytes);
        Assert.Equal(TimeSpan.FromMilliseconds(500), c.Dbs[1].MaxLag);
        Assert.Equal(64_000_000, c.Dbs[2].RetainedLogBytes);
        Assert.Equal(1000, c.Dbs[2].CheckpointThresholdPages);
        Assert.Equal(TimeSpan.FromHours(6), c.Dbs[0].ScrubInterval);
        Assert.Null(c.Dbs[1].ScrubInterval);
        Assert.Null(c.Dbs[2].ScrubInterval);
    }

    [Fact]
    public void EnvironmentIsExpandedInBothForms()
    {
        _t.Env["PRIMARY"] = "db-primary";
        _t.Env["PORT"] = "9191";
        _t.Env["DATA"] = "/mnt/data";
        var c = _t.Load("""
            addr: ":${PORT}"
            dbs:
              - path: $DATA/app.db
                name: app${UNSET_SUFFIX}
                upstream:
                  url: http://${PRIMARY}:$PORT
            """);
        Assert.Equal(9191, c.Addr!.Port);
        Assert.Equal("/mnt/data/app.db", c.Dbs[0].Path);
        Assert.Equal("app", c.Dbs[0].Name);
        Assert.Equal(new Uri("http://db-primary:9191"), c.Dbs[0].Upstream!.Url);
    }

    [Fact]
    public void ExpansionCanBeTurnedOff()
    {
        _t.Env["X"] = "expanded";
        string path = _t.Write("dbs:\n  - path: /data/$X\n");
        var c = ConfigLoader.LoadFile(path, _t.Options with { ExpandEnvironment = false });
        Assert.Equal("/data/$X", c.Dbs[0].Path);
        Assert.Equal("/data/expanded", ConfigLoader.LoadFile(path, _t.Options).Dbs[0].Path);
    }

    [Fact]
    public void AliasesAndTagsAreRead()
    {
        var c = _t.Load("""
            dbs:
              - path: !!str /r/a.db
                checkpoint-threshold-pages: !!int 2500
                upstream: &primary {url: "http://primary:9090"}
              - path: /r/b.db
                name: !custom beta
                upstream: *primary
            cluster: !!map
              port: 4100
            """);
        Assert.Equal("/r/a.db", c.Dbs[0].Path);
        Assert.Equal(2500, c.Dbs[0].CheckpointThresholdPages);
        Assert.Equal("beta", c.Dbs[1].Name);
        Assert.Equal(new Uri("http://primary:9090"), c.Dbs[1].Upstream!.Url);
        Assert.Equal(4100, c.Cluster.Port);
    }

    [Fact]
    public void RelativeAndHomePathsAreMadeAbsolute()
    {
        var c = _t.Load("dbs:\n  - path: data/app.db\n  - path: ~/x.db\n");
        Assert.Equal(Path.Combine(_t.Dir, "data/app.db"), c.Dbs[0].Path);
        Assert.Equal("/home/tester/x.db", c.Dbs[1].Path);
    }

    [Fact]
    public void SeveralReplicaDbsOfOnePrimaryAreFine()
    {
        var c = _t.Load("""
            dbs:
              - path: /r/a.db
                upstream: {url: "http://primary:9090"}
              - path: /r/b.db
                upstream: {url: "http://PRIMARY:9090/"}
              - path: /r/local.db
            """);
        Assert.Equal(2, c.ReplicaDbs.Count());
        Assert.Single(c.PrimaryDbs);
    }

    [Theory]
    [InlineData("\":9090\"", null, 9090)]
    [InlineData("127.0.0.1:9090", "127.0.0.1", 9090)]
    [InlineData("localhost:8080", "localhost", 8080)]
    [InlineData("\"[::1]:9090\"", "::1", 9090)]
    [InlineData("0.0.0.0:1", "0.0.0.0", 1)]
    public void AddrForms(string yaml, string? host, int port)
    {
        var c = _t.Load($"addr: {yaml}\ndbs: [{{path: /d}}]\n");
        Assert.Equal(new HttpAddress(host, port), c.Addr);
    }

    [Fact]
    public void EmptyOrMissingAddrMeansNoHttpServer()
    {
        Assert.Null(_t.Load("addr: \"\"\ndbs: [{path: /d}]\n").Addr);
        Assert.Null(_t.Load("addr:\ndbs: [{path: /d}]\n").Addr);
        Assert.Null(_t.Load("dbs: [{path: /d}]\n").Addr);
    }

    [Fact]
    public void IPv6AddrListensInBrackets()
    {
        var a = HttpAddress.TryParse("[::1]:9090", out _)!;
        Assert.Equal("http://[::1]:9090", a.ListenUrl);
        Assert.Equal("[::1]:9090", a.ToString());
    }
}

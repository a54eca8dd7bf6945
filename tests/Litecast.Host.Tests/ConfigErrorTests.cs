using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

/// <summary>Every error names the file, line, column and key.</summary>
public sealed class ConfigErrorTests : IDisposable
{
    private readonly TempConfig _t = new();

    public void Dispose() => _t.Dispose();

    private static void At(ConfigException e, int line, int column, string? key)
    {
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Equal(key, e.Key);
        Assert.StartsWith($"{e.File}:{line}:{column}: ", e.Message);
        if (key is not null)
            Assert.Contains(key.Split('.').Last(), e.Message);
    }

    [Fact]
    public void UnknownKeyInADbIsNamedWithItsPositionAndTheKnownKeys()
    {
        var e = _t.Fail("""
            addr: ":9090"
            dbs:
              - path: /data/db
                upstrem:
                  url: http://primary:9090
            """);
        At(e, 4, 5, "dbs[0].upstrem");
        Assert.Equal(
            $"{e.File}:4:5: unknown key 'upstrem' in dbs[0] (expected one of: path, upstream, name, checkpoint-threshold-pages, retained-log-bytes, max-lag, scrub-interval)",
            e.Message);
    }

    [Fact]
    public void UnknownTopLevelKey()
    {
        var e = _t.Fail("addr: \":9090\"\nadr: x\ndbs: [{path: /d}]\n");
        At(e, 2, 1, "adr");
        Assert.Contains("unknown key 'adr' at top level (expected one of: addr, dbs, cluster, tls, auth, proxy)", e.Message);
    }

    [Fact]
    public void UnknownKeyInUpstreamAndCluster()
    {
        var e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n      url: http://p:9090\n      pth: /x\n");
        At(e, 5, 7, "dbs[0].upstream.pth");
        Assert.Contains("in dbs[0].upstream (expected one of: url, path)", e.Message);

        e = _t.Fail("dbs: [{path: /d}]\ncluster:\n  seed: []\n");
        At(e, 3, 3, "cluster.seed");
        Assert.Contains("(expected one of: host, port, public-host, public-port, seeds)", e.Message);
    }

    [Fact]
    public void LitestreamReplicasKeyGetsAHint()
    {
        var e = _t.Fail("dbs:\n  - path: /d\n    replicas:\n      - url: s3://bucket/db\n");
        At(e, 3, 5, "dbs[0].replicas");
        Assert.Contains("object storage", e.Message);
    }

    [Fact]
    public void MalformedYamlCarriesYamlDotNetsPosition()
    {
        var e = _t.Fail("dbs:\n  - path: \"/data/db\n  - path: /x\n");
        Assert.NotNull(e.Line);
        Assert.NotNull(e.Column);
        Assert.Contains("malformed YAML", e.Message);
        Assert.Matches(@":\d+:\d+: malformed YAML: ", e.Message);
        Assert.DoesNotContain("(Line:", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n   name: x\n");
        Assert.Contains("malformed YAML", e.Message);
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void DuplicateKeyIsAnError()
    {
        var e = _t.Fail("dbs:\n  - path: /a\n    path: /b\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("Duplicate key", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void DuplicateKeyNamesTheKeyAndItsSection()
    {
        var e = _t.Fail("dbs:\n  - path: /a\n    path: /b\n");
        At(e, 3, 5, "dbs[0].path");
        Assert.Equal($"{e.File}:3:5: duplicate key 'path' in dbs[0]", e.Message);

        e = _t.Fail("dbs: [{path: /a}]\ndbs: [{path: /b}]\n");
        At(e, 2, 1, "dbs");
        Assert.Contains("duplicate key 'dbs' at top level", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream: {url: \"http://p:1\", url: \"http://q:1\"}\n");
        At(e, 3, 35, "dbs[0].upstream.url");
        Assert.Contains("in dbs[0].upstream", e.Message);
    }

    [Fact]
    public void UnknownKeyInALaterEntryNamesItsIndex()
    {
        var e = _t.Fail("dbs:\n  - path: /a\n  - path: /b\n    nme: x\n");
        At(e, 4, 5, "dbs[1].nme");
        Assert.Contains("unknown key 'nme' in dbs[1] (expected one of:", e.Message);

        e = _t.Fail("dbs: [{path: /a}, {path: /b, upstream: {url: \"http://p:1\", pth: /x}}]\n");
        Assert.Equal("dbs[1].upstream.pth", e.Key);
        Assert.Contains("unknown key 'pth' in dbs[1].upstream", e.Message);
    }

    [Fact]
    public void KeysAreCheckedBeforeValues()
    {
        // The deserializer matches every key of the file before the validation pass reads a value.
        var e = _t.Fail("addr: \"bad\"\ndbs:\n  - path: /d\n    nme: x\n");
        At(e, 4, 5, "dbs[0].nme");
    }

    [Fact]
    public void KeysMustBePlainNames()
    {
        var e = _t.Fail("dbs: [{path: /d}]\n? [a]\n: b\n");
        At(e, 2, 3, "");
        Assert.Contains("keys must be plain names at top level", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    ? {a: 1}\n    : b\n");
        At(e, 3, 7, "dbs[0]");
        Assert.Contains("keys must be plain names in dbs[0]", e.Message);
    }

    [Fact]
    public void AnAliasIsCheckedAsTheNodeItNames()
    {
        var e = _t.Fail("addr: &a \":9090\"\ndbs: *a\n");
        At(e, 1, 7, "dbs");
        Assert.Contains("dbs: expected a list of databases", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    name: &n x\n  - path: /e\n    name: *n\n");
        At(e, 4, 5, "dbs[1].name");
        Assert.Contains("'x' is already used by dbs[0]", e.Message);
    }

    /// <summary>A replica pointed at its own admin endpoint asked itself for the primary forever (found by a black-box
    /// review); it is a config error at the url.</summary>
    [Fact]
    public void AnUpstreamThatIsThisNodesOwnAddrIsRefused()
    {
        var e = _t.Fail("addr: \":9090\"\ndbs:\n  - path: /d\n    upstream:\n      url: http://localhost:9090\n");
        At(e, 5, 12, "dbs[0].upstream.url");
        Assert.Contains("'http://localhost:9090' is this node's own admin endpoint (addr ':9090'); point it at the primary's", e.Message);

        e = _t.Fail("addr: \"127.0.0.1:9090\"\ndbs:\n  - path: /d\n    upstream: {url: \"http://127.0.0.1:9090\"}\n");
        Assert.Equal("dbs[0].upstream.url", e.Key);

        // Another address, or another port, on this machine can be another node's.
        Assert.NotNull(_t.Load("addr: \"127.0.0.2:9090\"\ndbs:\n  - path: /d\n    upstream: {url: \"http://127.0.0.1:9090\"}\n").Dbs[0].Upstream);
        Assert.NotNull(_t.Load("addr: \":9091\"\ndbs:\n  - path: /d\n    upstream: {url: \"http://localhost:9090\"}\n").Dbs[0].Upstream);
    }

    /// <summary>YamlDotNet places a tab indent at the start of the enclosing mapping (1:1 for the top level).</summary>
    [Fact]
    public void ATabInTheIndentationIsReportedOnItsLine()
    {
        var e = _t.Fail("addr: \":9090\"\ndbs:\n\t- path: /x\n");
        At(e, 3, 1, null);
        Assert.Contains("malformed YAML", e.Message);

        e = _t.Fail("dbs:\n  - path: /x\n    upstream:\n  \t  url: http://a\n");
        At(e, 4, 3, null);
    }

    [Fact]
    public void AnAliasWithoutItsAnchorIsMalformedYaml()
    {
        var e = _t.Fail("dbs: *x\n");
        At(e, 1, 6, null);
        Assert.Contains("malformed YAML: alias *x does not name a node anchored before it", e.Message);

        e = _t.Fail("dbs: &a\n  - path: /d\n    name: *a\n");
        At(e, 3, 11, null);
        Assert.Contains("malformed YAML: alias *a", e.Message);
    }

    [Fact]
    public void UpstreamsNamingTwoClustersAreAnError()
    {
        var e = _t.Fail("""
            dbs:
              - path: /r/a.db
                upstream:
                  url: http://primary-a:9090
              - path: /r/b.db
                upstream:
                  url: http://primary-b:9090
            """);
        At(e, 7, 12, "dbs[1].upstream.url");
        Assert.Contains("upstreams name two clusters", e.Message);
        Assert.Contains("'http://primary-a:9090' (dbs[0], line 4)", e.Message);
        Assert.Contains("line 4", e.Message);
        Assert.Contains("'http://primary-b:9090' (dbs[1], line 7)", e.Message);
        Assert.Contains("line 7", e.Message);
    }

    [Theory]
    [InlineData("http://p:9090", "http://p:9091")]
    [InlineData("http://p:9090", "https://p:9090")]
    [InlineData("http://p", "http://p:8080")]
    public void DifferentSchemeOrPortIsAnotherCluster(string a, string b)
    {
        var e = _t.Fail($"dbs:\n  - path: /a\n    upstream: {{url: \"{a}\"}}\n  - path: /b\n    upstream: {{url: \"{b}\"}}\n");
        Assert.Contains("upstreams name two clusters", e.Message);
        Assert.Equal("dbs[1].upstream.url", e.Key);
    }

    [Fact]
    public void DefaultPortMatchesExplicitDefaultPort()
    {
        var c = _t.Load("dbs:\n  - path: /a\n    upstream: {url: \"http://p\"}\n  - path: /b\n    upstream: {url: \"http://p:80\"}\n");
        Assert.Equal(2, c.ReplicaDbs.Count());
    }

    [Theory]
    [InlineData("checkpoint-threshold-pages: abc", "checkpoint-threshold-pages", "not a whole number")]
    [InlineData("checkpoint-threshold-pages: 0", "checkpoint-threshold-pages", "at least 1")]
    [InlineData("checkpoint-threshold-pages: -5", "checkpoint-threshold-pages", "at least 1")]
    [InlineData("checkpoint-threshold-pages: 99999999999", "checkpoint-threshold-pages", "must be at most 2147483647 (got 99999999999)")]
    [InlineData("checkpoint-threshold-pages: 1.5", "checkpoint-threshold-pages", "not a whole number")]
    [InlineData("max-lag: 5", "max-lag", "missing unit")]
    [InlineData("max-lag: soon", "max-lag", "invalid duration")]
    [InlineData("max-lag: 5 sec", "max-lag", "unknown unit")]
    [InlineData("max-lag: -1s", "max-lag", "negative")]
    [InlineData("max-lag: 0s", "max-lag", "greater than zero")]
    [InlineData("max-lag: 0", "max-lag", "greater than zero")]
    [InlineData("scrub-interval: 30s", "scrub-interval", "must be at least 1m, or off (got '30s')")]
    [InlineData("scrub-interval: daily", "scrub-interval", "invalid duration 'daily' (expected e.g. 500ms, 5s, 1m30s); use a duration such as 24h, or off")]
    [InlineData("scrub-interval: -1h", "scrub-interval", "must not be negative")]
    [InlineData("retained-log-bytes: 64XB", "retained-log-bytes", "unknown unit 'XB'")]
    [InlineData("retained-log-bytes: 0", "retained-log-bytes", "at least 1 byte")]
    [InlineData("retained-log-bytes: lots", "retained-log-bytes", "invalid size")]
    [InlineData("retained-log-bytes: -1MB", "retained-log-bytes", "invalid size")]
    [InlineData("retained-log-bytes: 99999999TiB", "retained-log-bytes", "too large")]
    [InlineData("name: \"\"", "name", "must not be empty")]
    [InlineData("name: a/b", "name", "used in URLs")]
    [InlineData("name: [a]", "name", "expected a single value, not a list")]
    public void BadDbValuesNameTheKeyAndLine(string line, string key, string expected)
    {
        var e = _t.Fail($"dbs:\n  - path: /data/db\n    {line}\n");
        Assert.Equal(3, e.Line);
        Assert.Equal($"dbs[0].{key}", e.Key);
        Assert.Contains($"dbs[0].{key}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AnUnclosedFlowCollectionIsMalformedYamlNotACrash()
    {
        // YamlDotNet's scanner throws InvalidOperationException, with no position, for this one.
        var e = _t.Fail("auth:\n  token: [abc\ndbs:\n  - path: /tmp/x.db\n");
        Assert.Contains("malformed YAML: a flow collection ('[' or '{') is not closed", e.Message);
        Assert.Equal(2, e.Line);
    }

    [Theory]
    [InlineData("*S3cretTok")]
    [InlineData("[S3cretTok")]
    public void AVariableThatBreaksTheYamlIsNamedAndItsValueNeverShown(string token)
    {
        _t.Env["LITECAST_TOKEN"] = token;
        var e = _t.Fail("auth:\n  token: ${LITECAST_TOKEN}\ndbs:\n  - path: /tmp/x.db\n");
        Assert.Contains("malformed YAML", e.Message);
        Assert.DoesNotContain("S3cretTok", e.Message);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void AnErrorNamesTheUnsetVariables()
    {
        _t.Env["SET"] = "1h";
        var e = _t.Fail("dbs:\n  - path: /data/db\n    max-lag: $NOPE_UNSET\n    scrub-interval: ${SET}\n");
        Assert.Equal("dbs[0].max-lag", e.Key);
        Assert.EndsWith("dbs[0].max-lag: must not be empty (unset environment variables, expanded to nothing: $NOPE_UNSET)", e.Message);
    }

    /// <summary>A valid file that names unset variables loads as Litestream's does (each expanded to nothing), and says
    /// which they were, for the node's warning at start: <c>$DATA/app.db</c> with DATA unset is <c>/app.db</c>.</summary>
    [Fact]
    public void AValidConfigSaysWhichVariablesWereUnset()
    {
        _t.Env["SET"] = "1h";
        var config = _t.Load("dbs:\n  - path: $NOPE_DATA/app.db\n    scrub-interval: ${SET}\n  - path: ${NOPE_DATA}/b.db\n");
        Assert.Equal("/app.db", config.Dbs[0].Path);
        Assert.Equal(["$NOPE_DATA"], config.UnsetVariables);
        Assert.Empty(_t.Load("dbs:\n  - path: /d\n").UnsetVariables);
    }

    [Fact]
    public void ADatabasePathThatIsADirectoryIsRefused()
    {
        var e = _t.Fail($"dbs:\n  - path: {_t.Dir}\n");
        At(e, 2, 11, "dbs[0].path");
        Assert.Contains($"'{_t.Dir}' is a directory; give the path of the database file", e.Message);
    }

    [Fact]
    public void ADatabasePathThatIsASymbolicLinkIsRefusedNamingItsTarget()
    {
        // SQLite follows the link and writes its WAL beside the target, where a primary's tailer would never look.
        var target = Path.Combine(_t.Dir, "real.db");
        File.WriteAllBytes(target, []);
        var link = Path.Combine(_t.Dir, "link.db");
        File.CreateSymbolicLink(link, "real.db");
        var e = _t.Fail($"dbs:\n  - path: {link}\n");
        At(e, 2, 11, "dbs[0].path");
        Assert.Contains($"'{link}' is a symbolic link (to '{target}')", e.Message);
        Assert.Equal(0, new FileInfo(target).Length);
    }

    [Theory]
    [InlineData("addr: \":99999\"", 1, "addr", "out of range")]
    [InlineData("addr: \"9090\"", 1, "addr", "expected host:port")]
    [InlineData("addr: \":http\"", 1, "addr", "not a number")]
    [InlineData("addr: \"::1:9090\"", 1, "addr", "brackets")]
    [InlineData("addr: [1]", 1, "addr", "single value")]
    public void BadAddr(string line, int lineNo, string key, string expected)
    {
        var e = _t.Fail($"{line}\ndbs: [{{path: /d}}]\n");
        Assert.Equal(lineNo, e.Line);
        Assert.Equal(key, e.Key);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("port: 70000", "cluster.port", "out of range")]
    [InlineData("port: -1", "cluster.port", "out of range")]
    [InlineData("port: four", "cluster.port", "not a number")]
    [InlineData("host: \"\"", "cluster.host", "must not be empty")]
    [InlineData("public-host: 0.0.0.0", "cluster.public-host", "not a name other nodes can reach")]
    [InlineData("public-port: 70000", "cluster.public-port", "out of range")]
    [InlineData("public-port: 0", "cluster.public-port", "not a port other nodes can reach")]
    [InlineData("public-port: four", "cluster.public-port", "not a number")]
    [InlineData("seeds: akka.tcp://litecast@a:4053", "cluster.seeds", "expected a list")]
    [InlineData("seeds: [\"http://a:4053\"]", "cluster.seeds[0]", "expected akka.tcp")]
    [InlineData("seeds: [\"akka.tcp://other@a:4053\"]", "cluster.seeds[0]", "must name the actor system 'litecast'")]
    [InlineData("seeds: [\"akka.tcp://litecast@a\"]", "cluster.seeds[0]", "needs a host and a port")]
    [InlineData("seeds: [\"not a uri\"]", "cluster.seeds[0]", "not a cluster address")]
    public void BadClusterValues(string line, string key, string expected)
    {
        var e = _t.Fail($"dbs: [{{path: /d}}]\ncluster:\n  {line}\n");
        Assert.Equal(3, e.Line);
        Assert.Equal(key, e.Key);
        Assert.Contains(key + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ClusterMustBeAMapping()
    {
        var e = _t.Fail("dbs: [{path: /d}]\ncluster: yes\n");
        At(e, 2, 10, "cluster");
    }

    [Fact]
    public void EmptyPathIsAnError()
    {
        var e = _t.Fail("dbs:\n  - path: \"\"\n");
        At(e, 2, 11, "dbs[0].path");
        Assert.Contains("dbs[0].path: must not be empty", e.Message);

        e = _t.Fail("dbs:\n  - path:\n    name: x\n");
        Assert.Equal("dbs[0].path", e.Key);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void MissingPathIsAnError()
    {
        var e = _t.Fail("dbs:\n  - name: x\n");
        At(e, 2, 5, "dbs[0].path");
        Assert.Contains("missing required key 'path'", e.Message);
    }

    [Fact]
    public void UpstreamErrors()
    {
        var e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n");
        Assert.Equal("dbs[0].upstream", e.Key);
        Assert.Equal(3, e.Line);
        Assert.Contains("set 'url:'", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n      path: /p\n");
        At(e, 4, 7, "dbs[0].upstream.url");
        Assert.Contains("missing required key 'url'", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n      url: ftp://p:21\n");
        At(e, 4, 12, "dbs[0].upstream.url");
        Assert.Contains("not an http(s) URL", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n      url: primary:9090\n");
        Assert.Equal("dbs[0].upstream.url", e.Key);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream: http://p:9090\n");
        At(e, 3, 15, "dbs[0].upstream");
        Assert.Contains("expected a mapping with 'url:'", e.Message);

        e = _t.Fail("dbs:\n  - path: /d\n    upstream:\n      url: http://p:9090\n      path: \"\"\n");
        At(e, 5, 13, "dbs[0].upstream.path");
    }

    [Fact]
    public void DbsShapeErrors()
    {
        var e = _t.Fail("addr: \":9090\"\n");
        At(e, 1, 1, "dbs");
        Assert.Contains("missing required key 'dbs'", e.Message);

        e = _t.Fail("dbs: []\n");
        At(e, 1, 6, "dbs");
        Assert.Contains("no databases configured", e.Message);

        e = _t.Fail("dbs:\n  path: /d\n");
        At(e, 2, 3, "dbs");
        Assert.Contains("expected a list", e.Message);

        e = _t.Fail("dbs:\n  - /data/db\n");
        At(e, 2, 5, "dbs[0]");
        Assert.Contains("expected a mapping", e.Message);
    }

    /// <summary>Found by a black-box review: a config path that is a directory was reported as not found, and a file that
    /// is not UTF-8 was read with its bad bytes as U+FFFD (a database name made of them was accepted).</summary>
    [Fact]
    public void ADirectoryOrAFileThatIsNotUtf8IsNamedAsSuch()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(_t.Dir, _t.Options));
        Assert.Equal($"{_t.Dir}: config file {_t.Dir} (from -config) is a directory; give the path of the file, such as {_t.Dir}/litecast.yml", e.Message);

        string path = _t.Write("dbs:\n  - path: /d\n");
        File.WriteAllBytes(path, [.. "dbs:\n  - path: /d\n    name: "u8, 0xC3, 0x28, (byte)'\n']);
        e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path, _t.Options));
        Assert.Equal($"{path}:3: the file is not valid UTF-8 (byte 28); save it as UTF-8", e.Message);

        // A byte-order mark is allowed, and UTF-8 beyond ASCII is read as written.
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "dbs:\n  - path: /d\n    name: caf\u00e9\n"u8]);
        Assert.Equal("caf\u00e9", ConfigLoader.LoadFile(path, _t.Options).Dbs[0].Name);
    }

    [Fact]
    public void EmptyFileAndNonMappingTopLevel()
    {
        string path = _t.Write("# nothing here\n");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path, _t.Options));
        Assert.Equal(path, e.File);
        Assert.Null(e.Line);
        Assert.Equal($"{path}: config is empty; expected at least 'dbs:' with one '- path:' entry", e.Message);

        e = _t.Fail("- path: /d\n");
        At(e, 1, 1, null);
        Assert.Contains("expected a mapping at the top level", e.Message);

        e = _t.Fail("dbs: [{path: /a}]\n---\ndbs: [{path: /b}]\n");
        Assert.Contains("one YAML document", e.Message);
    }

    [Fact]
    public void TwoPathsOfOneFileAreAnError()
    {
        var db = Path.Combine(_t.Dir, "db");
        var hardLink = Path.Combine(_t.Dir, "hardlink");
        var throughLinkedDirectory = Path.Combine(_t.Dir, "linked-dir", "db");
        File.WriteAllBytes(db, [1, 2, 3]);
        using (var ln = System.Diagnostics.Process.Start("ln", [db, hardLink])) ln.WaitForExit();
        Assert.True(File.Exists(hardLink));
        Directory.CreateSymbolicLink(Path.Combine(_t.Dir, "linked-dir"), _t.Dir);

        foreach (var other in new[] { hardLink, throughLinkedDirectory })
        {
            var e = _t.Fail($"dbs:\n  - path: {db}\n  - path: {other}\n    name: other\n");
            Assert.Contains($"dbs[1].path: '{other}' is the same file as dbs[0] '{db}' (line 2), through a hard link, a linked directory or another mount", e.Message);
            At(e, 3, 5, "dbs[1].path");
        }
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(db));
        Assert.Equal(2, _t.Load($"dbs:\n  - path: {db}\n  - path: {_t.Dir}/absent\n").Dbs.Count);

        // A file not created yet (a replica's first start) named twice through a linked directory: refused as well,
        // before anything is created beside it (the start refused it later, after making one state directory).
        var absent = Path.Combine(_t.Dir, "replica.db");
        var absentThroughLink = Path.Combine(_t.Dir, "linked-dir", "replica.db");
        var twice = _t.Fail($"dbs:\n  - path: {absent}\n  - path: {absentThroughLink}\n    name: other\n");
        Assert.Contains($"dbs[1].path: '{absentThroughLink}' is the same file as dbs[0] '{absent}' (line 2)", twice.Message);
        At(twice, 3, 5, "dbs[1].path");
        Assert.False(File.Exists(absent));
        Assert.False(Directory.Exists(Path.Combine(_t.Dir, ".replica.db-litecast")));
    }

    [Fact]
    public void DuplicatePathsAndNamesAreErrors()
    {
        var e = _t.Fail("dbs:\n  - path: /data/db\n  - path: /data/other\n  - path: /data/../data/db\n");
        At(e, 4, 5, "dbs[2].path");
        Assert.Contains("already configured as dbs[0] (line 2)", e.Message);

        e = _t.Fail("dbs:\n  - path: /a/app.db\n  - path: /b/app.db\n");
        At(e, 3, 5, "dbs[1].name");
        Assert.Contains("'app.db' is already used by dbs[0] (line 2)", e.Message);

        e = _t.Fail("dbs:\n  - path: /a/x\n    name: main\n  - path: /b/y\n    name: MAIN\n");
        Assert.Equal("dbs[1].name", e.Key);
    }

    [Fact]
    public void DerivedNameProblemPointsAtThePath()
    {
        var e = _t.Fail("dbs:\n  - path: \"/data/my db\"\n");
        At(e, 2, 11, "dbs[0].path");
        Assert.Contains("derived from path; set 'name:'", e.Message);
    }

    [Fact]
    public void TwoListenersOnOnePortAreRefusedNamingBoth()
    {
        var e = _t.Fail("addr: \":9090\"\ndbs: [{path: /d}]\ncluster:\n  port: 9090\n");
        At(e, 4, 9, "cluster.port");
        Assert.Contains("cluster.port: port 9090 is also addr's", e.Message);

        // A primary's cluster port defaults to 4053 even when the file does not say so.
        e = _t.Fail("addr: \":4053\"\ndbs: [{path: /d}]\n");
        At(e, 1, 7, "cluster.port");
        Assert.Contains("cluster.port (default 4053): port 4053 is also addr's", e.Message);

        e = _t.Fail("addr: \"127.0.0.1:9090\"\ndbs: [{path: /d}]\nproxy:\n  addr: \":9090\"\n  target: localhost:8081\n  db: d\n");
        At(e, 4, 9, "proxy.addr");
        Assert.Contains("proxy.addr: port 9090 is also addr's", e.Message);
    }

    [Fact]
    public void ListenersMayShareAPortOnDifferentAddressesOrLetTheOsPick()
    {
        var config = _t.Load("addr: \"127.0.0.1:9090\"\ndbs: [{path: /d}]\ncluster:\n  host: 127.0.0.2\n  port: 9090\n");
        Assert.Equal(9090, config.Cluster.Port);
        Assert.Equal(9090, config.Addr!.Port);

        config = _t.Load("addr: \":0\"\ndbs: [{path: /d}]\ncluster:\n  port: 0\n");
        Assert.Equal(0, config.Cluster.Port);

        // A replica-only node without cluster.port listens on a free port, whatever addr is.
        config = _t.Load("addr: \":4053\"\ndbs:\n  - path: /d\n    upstream:\n      url: http://p:9090\n");
        Assert.Equal(0, config.Cluster.EffectivePort(hasPrimary: false));
    }

    [Fact]
    public void MissingFileNamesThePath()
    {
        string path = Path.Combine(_t.Dir, "nope.yml");
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path, _t.Options));
        Assert.Equal(path, e.File);
        Assert.Null(e.Line);
        Assert.Contains("config file not found", e.Message);
        Assert.Contains(path, e.Message);
    }
}

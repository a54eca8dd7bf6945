using System.Diagnostics;
using System.Net;

namespace Litecast.EndToEnd.Tests;

/// <summary>Bad input at the process level: each gets a clear error or status, and no database file is touched.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "litecast-bad-" + Guid.NewGuid().ToString("N"));
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public BadInputTests() => Directory.CreateDirectory(_dir);

    private string Config(string yaml)
    {
        var path = Path.Combine(_dir, "litecast.yml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void MissingConfigFileExitsNonZeroNamingThePath()
    {
        var missing = Path.Combine(_dir, "nope.yml");
        var (code, output) = LitecastProcess.Run(_dir, "replicate", "-config", missing);
        Assert.NotEqual(0, code);
        Assert.Contains(missing, output);
    }

    [Fact]
    public void MalformedYamlNamesTheFileAndLine()
    {
        var path = Config("addr: \":9090\"\ndbs:\n  - path: /data/db\n   bad: [unclosed\n");
        var (code, output) = LitecastProcess.Run(_dir, "replicate", "-config", path);
        Assert.NotEqual(0, code);
        Assert.Contains("litecast.yml:", output);
        Assert.Matches(@"litecast\.yml:\d+", output);
    }

    [Fact]
    public void UnknownKeyNamesTheKeyAndLine()
    {
        var path = Config("addr: \":9090\"\ndbs:\n  - path: /data/db\n    upstrem:\n      url: http://x:9090\n");
        var (code, output) = LitecastProcess.Run(_dir, "replicate", "-config", path);
        Assert.NotEqual(0, code);
        Assert.Contains("litecast.yml:4", output);
        Assert.Contains("upstrem", output);
    }

    [Fact]
    public void UpstreamsInTwoClustersAreAnError()
    {
        var path = Config("""
            dbs:
              - path: /data/a
                upstream:
                  url: http://one:9090
              - path: /data/b
                upstream:
                  url: http://two:9090
            """);
        var (code, output) = LitecastProcess.Run(_dir, "replicate", "-config", path);
        Assert.NotEqual(0, code);
        Assert.Contains("http://one:9090", output);
        Assert.Contains("http://two:9090", output);
    }

    [Fact]
    public async Task UnreachableUpstreamKeepsRetryingAndIsUnhealthy()
    {
        var deadPort = Ports.Free();
        var httpPort = Ports.Free();
        var replica = Path.Combine(_dir, "replica.db");
        Config($"""
            addr: "127.0.0.1:{httpPort}"
            dbs:
              - path: {replica}
                upstream:
                  url: http://127.0.0.1:{deadPort}
            """);
        using var process = LitecastProcess.Start(_dir, null, "replicate");
        var url = $"http://127.0.0.1:{httpPort}/healthz";
        var watch = Stopwatch.StartNew();
        HttpResponseMessage? response = null;
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            try { response = await _http.GetAsync(url); }
            catch (HttpRequestException) { }
            if (response is not null && process.Output.Contains("unreachable")) break;
            await Task.Delay(200);
        }
        Assert.NotNull(response);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("unreachable", await response.Content.ReadAsStringAsync());
        Assert.False(process.HasExited, "litecast must keep retrying, not exit");
        Assert.Contains($"127.0.0.1:{deadPort}", process.Output);
        Assert.False(File.Exists(replica), "no replica file is created before the primary is reached");
    }

    [Theory]
    [InlineData("addr", "addr: 198.51.100.7 is not an address of this machine")]
    [InlineData("proxy.addr", "proxy.addr: 198.51.100.7 is not an address of this machine")]
    [InlineData("cluster.host", "cluster.host: 198.51.100.7 is not an address of this machine")]
    [InlineData("addr in use", "addr: 127.0.0.1:{taken} is already in use by another process")]
    public void AnAddressTheNodeCannotListenOnStopsItBeforeItTouchesTheDatabase(string what, string expected)
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var takenPort = ((IPEndPoint)taken.LocalEndpoint).Port;
        var db = Path.Combine(_dir, "app.db");
        EndToEndCluster.Python($"""
            import sqlite3
            db = sqlite3.connect({System.Text.Json.JsonSerializer.Serialize(db)}, isolation_level=None)
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("CREATE TABLE t(x)")
            db.close()
            """);
        const string Foreign = "198.51.100.7"; // TEST-NET-2: never an address of this machine
        var addr = what switch { "addr" => $"{Foreign}:{Ports.Free()}", "addr in use" => $"127.0.0.1:{takenPort}", _ => $"127.0.0.1:{Ports.Free()}" };
        var proxy = what == "proxy.addr" ? $"proxy: {{addr: \"{Foreign}:{Ports.Free()}\", target: \"localhost:{Ports.Free()}\", db: app.db}}\n" : "";
        var path = Config($"""
            addr: "{addr}"
            dbs:
              - path: {db}
            cluster:
              host: {(what == "cluster.host" ? Foreign : "127.0.0.1")}
              port: {Ports.Free()}
            {proxy}
            """);

        var (code, output) = LitecastProcess.Run(_dir, "replicate", "-config", path);

        Assert.Equal(1, code);
        Assert.Contains("cannot start: " + expected.Replace("{taken}", takenPort.ToString()), output);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.Equal("delete", EndToEndCluster.ReadOnlyQuery(db, "PRAGMA journal_mode"));
        Assert.False(File.Exists(db + "-wal"));
        Assert.False(Directory.Exists(Path.Combine(_dir, ".app.db-litecast")), "no state directory is made");
    }

    /// <param name="emptyFile">The file exists but is empty (<c>: &gt; db</c>): no database yet either. Litecast once
    /// switched it to WAL, writing page 1 with the default page size before the application's <c>PRAGMA page_size</c>.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PrimaryWaitsForTheApplicationToCreateTheDatabaseAndSwitchesItToWal(bool emptyFile)
    {
        var httpPort = Ports.Free();
        var db = Path.Combine(_dir, "later.db");
        if (emptyFile) File.WriteAllBytes(db, []);
        Config($"""
            addr: "127.0.0.1:{httpPort}"
            dbs:
              - path: {db}
            cluster:
              host: 127.0.0.1
              port: {Ports.Free()}
            """);
        using var process = LitecastProcess.Start(_dir, null, "replicate");
        await Until(() => process.Output.Contains("waiting for the application to create"), process);
        if (emptyFile) Assert.Equal(0, new FileInfo(db).Length);
        else Assert.False(File.Exists(db), "Litecast never creates the primary's database");
        var health = await _http.GetAsync($"http://127.0.0.1:{httpPort}/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);

        // The application creates it in rollback-journal mode, with its own page size: Litecast switches it to WAL
        // and says so, and the page size is the application's.
        EndToEndCluster.Python($"""
            import sqlite3
            db = sqlite3.connect({System.Text.Json.JsonSerializer.Serialize(db)}, isolation_level=None)
            db.execute("PRAGMA page_size = 8192")
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("CREATE TABLE t(x)")
            db.close()
            """);
        await Until(() => process.Output.Contains("switched it to WAL"), process);
        Assert.Equal("wal", EndToEndCluster.ReadOnlyQuery(db, "PRAGMA journal_mode"));
        Assert.Equal("8192", EndToEndCluster.ReadOnlyQuery(db, "PRAGMA page_size"));
        var sync = await _http.PostAsync($"http://127.0.0.1:{httpPort}/dbs/later.db/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
    }

    [Fact]
    public async Task HttpRequestsForUnknownDatabasesAndBadTxidsAreRejected()
    {
        var httpPort = Ports.Free();
        var db = CreateWalDatabase("app.db");
        var before = File.ReadAllBytes(db);
        Config($"""
            addr: "127.0.0.1:{httpPort}"
            dbs:
              - path: {db}
            cluster:
              host: 127.0.0.1
              port: {Ports.Free()}
            """);
        using var process = LitecastProcess.Start(_dir, null, "replicate");
        var baseUrl = $"http://127.0.0.1:{httpPort}";
        await Until(async () => (await TryGet($"{baseUrl}/healthz")) == HttpStatusCode.OK, process);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.PostAsync($"{baseUrl}/dbs/nope.db/sync", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, await TryGet($"{baseUrl}/dbs/nope.db/wait?txid=1"));
        Assert.Equal(HttpStatusCode.BadRequest, await TryGet($"{baseUrl}/dbs/app.db/wait?txid=abc"));
        Assert.Equal(HttpStatusCode.BadRequest, await TryGet($"{baseUrl}/dbs/app.db/wait?txid=-1"));
        Assert.Equal(HttpStatusCode.BadRequest, await TryGet($"{baseUrl}/dbs/app.db/wait"));
        Assert.Equal(HttpStatusCode.Conflict, (await _http.PostAsync($"{baseUrl}/dbs/app.db/resync", null)).StatusCode);
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(db, "SELECT count(*) FROM sqlite_schema"));
        Assert.Equal(before.Length, new FileInfo(db).Length);

        // `litecast status` against the real node.
        var (code, output) = LitecastProcess.Run(_dir, "status", "-url", baseUrl);
        Assert.Equal(0, code);
        Assert.Contains("app.db", output);
        Assert.Contains("primary", output);
    }

    [Fact]
    public async Task SigtermLeavesTheClusterAndExitsCleanly()
    {
        using var process = await StartLonePrimaryAsync(Ports.Free());
        Assert.Equal(0, process.Terminate(TimeSpan.FromSeconds(30)));
        Assert.Contains("leaving the cluster", process.Output);
        Assert.Contains("stopped", process.Output);
        // The tailer saved its position on the way out.
        Assert.True(File.Exists(Path.Combine(_dir, ".app.db-litecast", "primary.json")));
    }

    /// <summary>An open <c>/events</c> stream ends when litecast is told to stop: it held the shutdown for Kestrel's 30 s
    /// (a black-box review), longer than <c>docker stop</c> waits before it kills.</summary>
    [Fact]
    public async Task SigtermEndsOpenEventStreamsAndExitsWithinDockersGracePeriod()
    {
        var httpPort = Ports.Free();
        using var process = await StartLonePrimaryAsync(httpPort);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var response = await http.GetAsync($"http://127.0.0.1:{httpPort}/events", HttpCompletionOption.ResponseHeadersRead);
        using var events = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: {\"type\":\"snapshot\"", await events.ReadLineAsync());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, process.Terminate(TimeSpan.FromSeconds(10)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"SIGTERM took {clock.Elapsed.TotalSeconds:F1} s with an event stream open");
        // The stream ended rather than being cut: what was sent can be read to its end.
        while (await events.ReadLineAsync() is not null) { }
    }

    /// <summary>A primary of app.db alone, its admin endpoint on <paramref name="httpPort"/>, once healthy.</summary>
    private async Task<LitecastProcess> StartLonePrimaryAsync(int httpPort)
    {
        var db = CreateWalDatabase("app.db");
        Config($"""
            addr: "127.0.0.1:{httpPort}"
            dbs:
              - path: {db}
            cluster:
              host: 127.0.0.1
              port: {Ports.Free()}
            """);
        var process = LitecastProcess.Start(_dir, null, "replicate");
        await Until(async () => (await TryGet($"http://127.0.0.1:{httpPort}/healthz")) == HttpStatusCode.OK, process);
        return process;
    }

    /// <summary>A replica stopped with SIGTERM is the one leaving: Akka's cluster ends by announcing every member
    /// removed, the primary included, and the replica once logged "the primary ... left the cluster; leaving to rejoin
    /// the primary's cluster" on its way out.</summary>
    [Fact]
    public async Task SigtermOnAReplicaDoesNotReportThePrimaryLeaving()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(x)')", replicas: 1, TimeSpan.FromSeconds(60));
        var replica = cluster.Replicas[0]!;
        Assert.Equal(0, replica.Terminate(TimeSpan.FromSeconds(30)));
        Assert.Contains("stopped", replica.Output);
        Assert.DoesNotContain("left the cluster", replica.Output);
    }

    /// <summary>A replica whose primary is gone cannot leave the cluster the ordinary way (the members left cannot agree
    /// it has left): its stop waited out Akka's 10 s for that, 13 s in all, past Docker's 10 s grace period, after
    /// which the process is killed (found by a black-box review).</summary>
    [Fact]
    public async Task SigtermOnAReplicaWhosePrimaryIsGoneExitsWithinDockersGracePeriod()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(x)')", replicas: 1, TimeSpan.FromSeconds(60));
        cluster.Primary!.Kill();
        var replica = cluster.Replicas[0]!;
        await Until(async () => (await cluster.GetJsonAsync($"{cluster.ReplicaUrl(0)}/status")).GetProperty("members")
            .EnumerateArray().Any(m => !m.GetProperty("reachable").GetBoolean()), replica);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, replica.Terminate(TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"SIGTERM took {clock.Elapsed.TotalSeconds:F1} s with the primary gone");
    }

    /// <summary>The application creates a WAL database with one table, from Python (another SQLite, another process).</summary>
    private string CreateWalDatabase(string name)
    {
        var path = Path.Combine(_dir, name);
        EndToEndCluster.Python($"""
            import sqlite3
            db = sqlite3.connect({System.Text.Json.JsonSerializer.Serialize(path)}, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("CREATE TABLE t(x)")
            db.close()
            """);
        return path;
    }

    private async Task<HttpStatusCode?> TryGet(string url)
    {
        try { return (await _http.GetAsync(url)).StatusCode; }
        catch (HttpRequestException) { return null; }
    }

    private static Task Until(Func<bool> condition, LitecastProcess process) => Until(() => Task.FromResult(condition()), process);

    private static async Task Until(Func<Task<bool>> condition, LitecastProcess process)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("condition not reached\n" + process.Output);
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}

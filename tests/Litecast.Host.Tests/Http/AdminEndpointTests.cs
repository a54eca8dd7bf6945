using System.Globalization;
using System.Net;
using System.Text.Json;
using Litecast.Host.Configuration;
using Litecast.Host.Http;

namespace Litecast.Host.Tests.Http;

/// <summary>The admin endpoint's contracts, against a real Kestrel server on 127.0.0.1 port 0 and a fake node.</summary>
public sealed class AdminEndpointTests : FakeNodeServer
{
    private async Task<(HttpStatusCode Status, JsonElement Json)> Send(HttpMethod method, string path)
    {
        using var response = await Http.SendAsync(new HttpRequestMessage(method, path));
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(body);
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private Task<(HttpStatusCode Status, JsonElement Json)> Get(string path) => Send(HttpMethod.Get, path);
    private Task<(HttpStatusCode Status, JsonElement Json)> Post(string path) => Send(HttpMethod.Post, path);

    private static string[] PropertyNames(JsonElement e) => e.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void Binds_exactly_the_configured_loopback_address_with_the_actual_port()
    {
        var url = Assert.Single(Server.Urls);
        Assert.Equal("127.0.0.1", url.Host);
        Assert.NotEqual(0, url.Port);
        Assert.Equal(url, Server.BaseUrl);
    }

    [Fact]
    public async Task Status_reports_every_field_of_the_primary()
    {
        var (status, json) = await Get("/status");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["node", "dbs", "proxy", "members"], PropertyNames(json));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("proxy").ValueKind);
        Assert.Equal("akka.tcp://litecast@node1:4053", json.GetProperty("node").GetString());
        Assert.Equal(2, json.GetProperty("dbs").GetArrayLength());
        var member = Assert.Single(json.GetProperty("members").EnumerateArray());
        Assert.Equal(["address", "roles", "status", "reachable"], PropertyNames(member));
        Assert.Equal("akka.tcp://litecast@node1:4053", member.GetProperty("address").GetString());
        Assert.Equal("primary", member.GetProperty("roles")[0].GetString());
        Assert.Equal("up", member.GetProperty("status").GetString());
        Assert.True(member.GetProperty("reachable").GetBoolean());

        var p = json.GetProperty("dbs")[0];
        Assert.Equal(
            ["name", "path", "role", "generation", "txid", "checksum", "lagMs", "lagTxids", "healthy", "problem", "sqliteVersion", "replicas", "state", "stateSince", "resync", "lastScrub"],
            PropertyNames(p));
        Assert.Equal(JsonValueKind.Null, p.GetProperty("state").ValueKind);
        Assert.Equal(JsonValueKind.Null, p.GetProperty("resync").ValueKind);
        Assert.Equal("app", p.GetProperty("name").GetString());
        Assert.Equal("/data/app.db", p.GetProperty("path").GetString());
        Assert.Equal("primary", p.GetProperty("role").GetString());
        Assert.Equal("0123456789abcdef", p.GetProperty("generation").GetString());
        Assert.Equal(JsonValueKind.Number, p.GetProperty("txid").ValueKind);
        Assert.Equal(100UL, p.GetProperty("txid").GetUInt64());
        Assert.Equal("fedcba9876543210", p.GetProperty("checksum").GetString());
        Assert.Equal(JsonValueKind.Null, p.GetProperty("lagMs").ValueKind);
        Assert.Equal(JsonValueKind.Null, p.GetProperty("lagTxids").ValueKind);
        Assert.True(p.GetProperty("healthy").GetBoolean());
        Assert.Equal(JsonValueKind.Null, p.GetProperty("problem").ValueKind);
        Assert.Equal("3.50.4", p.GetProperty("sqliteVersion").GetString());

        var replicas = p.GetProperty("replicas");
        Assert.Equal(2, replicas.GetArrayLength());
        var r1 = replicas[0];
        Assert.Equal(["node", "txid", "lagMs", "resyncing", "lastSeen", "state"], PropertyNames(r1));
        Assert.Equal("following", r1.GetProperty("state").GetString());
        Assert.Equal("akka.tcp://litecast@r1:4053", r1.GetProperty("node").GetString());
        Assert.Equal(98UL, r1.GetProperty("txid").GetUInt64());
        Assert.Equal(12.5, r1.GetProperty("lagMs").GetDouble());
        Assert.False(r1.GetProperty("resyncing").GetBoolean());
        Assert.Equal(FakeNode.LastSeen, r1.GetProperty("lastSeen").GetDateTimeOffset());
        var r2 = replicas[1];
        Assert.Equal("akka.tcp://litecast@r2:4053", r2.GetProperty("node").GetString());
        Assert.Equal(95UL, r2.GetProperty("txid").GetUInt64());
        Assert.Equal(250.0, r2.GetProperty("lagMs").GetDouble());
        Assert.True(r2.GetProperty("resyncing").GetBoolean());
        Assert.Equal("resyncing", r2.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Status_reports_every_field_of_a_replica()
    {
        Node.Statuses["other.db"] = FakeNode.ReplicaStatus(healthy: false);
        var (status, json) = await Get("/status");
        Assert.Equal(HttpStatusCode.OK, status);
        var r = json.GetProperty("dbs")[1];
        Assert.Equal("other.db", r.GetProperty("name").GetString());
        Assert.Equal("/data/replica/other.db", r.GetProperty("path").GetString());
        Assert.Equal("replica", r.GetProperty("role").GetString());
        Assert.Equal("0123456789abcdef", r.GetProperty("generation").GetString());
        Assert.Equal(90UL, r.GetProperty("txid").GetUInt64());
        Assert.Equal("00000000deadbeef", r.GetProperty("checksum").GetString());
        Assert.Equal(1500.0, r.GetProperty("lagMs").GetDouble());
        Assert.Equal(10UL, r.GetProperty("lagTxids").GetUInt64());
        Assert.False(r.GetProperty("healthy").GetBoolean());
        Assert.Equal("lag 15s exceeds max-lag 10s", r.GetProperty("problem").GetString());
        Assert.Equal("3.50.4", r.GetProperty("sqliteVersion").GetString());
        Assert.Equal(JsonValueKind.Array, r.GetProperty("replicas").ValueKind);
        Assert.Equal(0, r.GetProperty("replicas").GetArrayLength());
        Assert.Equal("stalled", r.GetProperty("state").GetString());
        Assert.Equal(FakeNode.LastSeen, r.GetProperty("stateSince").GetDateTimeOffset());
        var scrub = r.GetProperty("lastScrub");
        Assert.Equal(["at", "txid", "pages", "sound"], scrub.EnumerateObject().Select(p => p.Name));
        Assert.Equal(FakeNode.LastSeen, scrub.GetProperty("at").GetDateTimeOffset());
        Assert.Equal(80UL, scrub.GetProperty("txid").GetUInt64());
        Assert.Equal(1234U, scrub.GetProperty("pages").GetUInt32());
        Assert.True(scrub.GetProperty("sound").GetBoolean());
    }

    [Fact]
    public async Task Status_of_a_database_that_does_not_answer_is_reported_unhealthy_not_a_500()
    {
        Node.StatusFailures["other.db"] = "actor not started";
        var (status, json) = await Get("/status");
        Assert.Equal(HttpStatusCode.OK, status);
        var r = json.GetProperty("dbs")[1];
        Assert.Equal("other.db", r.GetProperty("name").GetString());
        Assert.Equal("replica", r.GetProperty("role").GetString());
        Assert.False(r.GetProperty("healthy").GetBoolean());
        Assert.Contains("actor not started", r.GetProperty("problem").GetString());

        var (health, h) = await Get("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health);
        Assert.Contains(h.GetProperty("reasons").EnumerateArray(), e => e.GetString()!.StartsWith("other.db: ") && e.GetString()!.Contains("actor not started"));
    }

    [Fact]
    public async Task Healthz_is_200_ok_when_everything_is_healthy()
    {
        var (status, json) = await Get("/healthz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["status"], PropertyNames(json));
        Assert.Equal("ok", json.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Healthz_is_503_with_a_reason_per_unhealthy_database()
    {
        Node.Statuses["other.db"] = FakeNode.ReplicaStatus(healthy: false);
        var (status, json) = await Get("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("unhealthy", json.GetProperty("status").GetString());
        var reasons = json.GetProperty("reasons").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["other.db: lag 15s exceeds max-lag 10s"], reasons);
    }

    [Fact]
    public async Task Healthz_is_503_when_the_node_has_a_problem()
    {
        Node.NodeProblem = "upstream http://primary:9090 unreachable; retrying in 4s";
        var (status, json) = await Get("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("unhealthy", json.GetProperty("status").GetString());
        var reason = Assert.Single(json.GetProperty("reasons").EnumerateArray());
        Assert.Contains("upstream http://primary:9090 unreachable", reason.GetString());
    }

    [Fact]
    public async Task Cluster_and_status_name_the_nodes_proxy()
    {
        Node.ProxyUrl = new Uri("http://app1:8080");
        Node.ProxyWaitTimeout = TimeSpan.FromSeconds(7.5);
        foreach (var route in new[] { "/cluster", "/status" })
        {
            var (status, json) = await Get(route);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("http://app1:8080/", json.GetProperty("proxy").GetString());
        }
        Assert.Equal(7500, (await Get("/cluster")).Json.GetProperty("proxyWaitTimeoutMs").GetDouble());
    }

    [Fact]
    public async Task Cluster_answers_the_node_address_and_configured_databases()
    {
        var (status, json) = await Get("/cluster");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["node", "dbs", "proxy", "proxyWaitTimeoutMs"], PropertyNames(json));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("proxy").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("proxyWaitTimeoutMs").ValueKind);
        Assert.Equal("akka.tcp://litecast@node1:4053", json.GetProperty("node").GetString());
        var dbs = json.GetProperty("dbs");
        Assert.Equal(2, dbs.GetArrayLength());
        Assert.Equal(["name", "path", "role"], PropertyNames(dbs[0]));
        Assert.Equal("app", dbs[0].GetProperty("name").GetString());
        Assert.Equal("/data/app.db", dbs[0].GetProperty("path").GetString());
        Assert.Equal("primary", dbs[0].GetProperty("role").GetString());
        Assert.Equal("other.db", dbs[1].GetProperty("name").GetString());
        Assert.Equal("/data/replica/other.db", dbs[1].GetProperty("path").GetString());
        Assert.Equal("replica", dbs[1].GetProperty("role").GetString());
    }

    [Theory]
    [InlineData("app")]
    [InlineData("app.db")]
    [InlineData("%2Fdata%2Fapp.db")]
    public async Task Sync_on_the_primary_answers_txid_and_generation(string name)
    {
        var (status, json) = await Post($"/dbs/{name}/sync");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["txid", "generation"], PropertyNames(json));
        Assert.Equal(101UL, json.GetProperty("txid").GetUInt64());
        Assert.Equal("0123456789abcdef", json.GetProperty("generation").GetString());
        Assert.Equal(["sync app"], Node.Requests);
    }

    [Fact]
    public async Task Sync_on_a_replica_is_409()
    {
        var (status, json) = await Post("/dbs/other.db/sync");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("replica", json.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_unexpected_failure_is_a_500_json_error()
    {
        Node.SyncFailure = new InvalidOperationException("ask timed out");
        var (status, json) = await Post("/dbs/app/sync");
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.Contains("ask timed out", json.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("POST", "/dbs/nope/sync")]
    [InlineData("GET", "/dbs/nope/wait?txid=1")]
    [InlineData("GET", "/dbs/nope/wait?txid=abc")]
    [InlineData("POST", "/dbs/nope/resync")]
    public async Task Unknown_database_is_404_and_reaches_no_actor(string method, string path)
    {
        var (status, json) = await Send(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("unknown database 'nope'", json.GetProperty("error").GetString());
        Assert.Empty(Node.Requests);
    }

    [Fact]
    public async Task Wait_answers_once_the_txid_is_reached()
    {
        var (status, json) = await Get("/dbs/other.db/wait?txid=85&timeout=2s");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["txid", "generation"], PropertyNames(json));
        Assert.Equal(90UL, json.GetProperty("txid").GetUInt64());
        Assert.Equal("0123456789abcdef", json.GetProperty("generation").GetString());
        Assert.Equal(["wait other.db 85 2000"], Node.Requests);
    }

    [Fact]
    public async Task Wait_passes_the_bookmarks_generation_on()
    {
        var (status, _) = await Get("/dbs/other.db/wait?txid=85&timeout=2s&generation=0123456789ABCDEF");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["wait other.db 85 2000 0123456789abcdef"], Node.Requests);
    }

    [Fact]
    public async Task Wait_defaults_to_a_5s_timeout()
    {
        var (status, _) = await Get("/dbs/other.db/wait?txid=0");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["wait other.db 0 5000"], Node.Requests);
    }

    [Fact]
    public async Task Wait_times_out_with_504_quickly()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (status, json) = await Get("/dbs/other.db/wait?txid=91&timeout=100ms");
        watch.Stop();
        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.StartsWith("timed out", json.GetProperty("error").GetString());
        Assert.Contains("91", json.GetProperty("error").GetString());
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(90), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_wait_timed_out_for_a_generation_names_it()
    {
        var (status, json) = await Get("/dbs/other.db/wait?txid=91&timeout=100ms&generation=0000000000000001");
        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.Equal("timed out after 100ms waiting for txid 91 of generation 0000000000000001 on 'other.db'", json.GetProperty("error").GetString());
    }

    /// <summary>Load balancers' health checks often use HEAD.</summary>
    [Theory]
    [InlineData("/healthz")]
    [InlineData("/status")]
    [InlineData("/cluster")]
    [InlineData("/")]
    public async Task The_read_only_documents_answer_HEAD_like_GET_without_a_body(string path)
    {
        using var get = await Http.GetAsync(path);
        using var head = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        Assert.Equal(get.StatusCode, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        Assert.NotEmpty(await get.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("", "missing")]
    [InlineData("?timeout=1s", "missing")]
    [InlineData("?txid=", "missing")]
    [InlineData("?txid=abc", "invalid txid 'abc'")]
    [InlineData("?txid=-1", "negative")]
    [InlineData("?txid=1.5", "invalid txid")]
    [InlineData("?txid=99999999999999999999999", "invalid txid")]
    [InlineData("?txid=1&timeout=abc", "invalid timeout")]
    [InlineData("?txid=1&timeout=5", "invalid timeout")]
    [InlineData("?txid=1&timeout=-1s", "invalid timeout")]
    [InlineData("?txid=1&timeout=6m", "at most 5m")]
    [InlineData("?txid=1&generation=", "invalid generation ''")]
    [InlineData("?txid=1&generation=12345", "invalid generation '12345'")]
    [InlineData("?txid=1&generation=0123456789abcdeg", "16 hex digits")]
    [InlineData("?txid=1&generation=0x23456789abcdef", "invalid generation")]
    public async Task Wait_rejects_bad_parameters_with_400(string query, string expected)
    {
        var (status, json) = await Get("/dbs/other.db/wait" + query);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, json.GetProperty("error").GetString());
        Assert.Empty(Node.Requests);
    }

    [Fact]
    public async Task Resync_on_a_replica_is_202_accepted()
    {
        var (status, json) = await Post("/dbs/other.db/resync");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(["accepted", "detail"], PropertyNames(json));
        Assert.True(json.GetProperty("accepted").GetBoolean());
        Assert.Contains("resync", json.GetProperty("detail").GetString());
        Assert.Equal(["resync other.db"], Node.Requests);
    }

    [Fact]
    public async Task Resync_on_the_primary_is_409()
    {
        var (status, json) = await Post("/dbs/app/resync");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("primary", json.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("GET", "/nope")]
    [InlineData("GET", "/dbs/app")]
    [InlineData("GET", "/index.html")]
    public async Task Unknown_routes_are_404_json(string method, string path)
    {
        var (status, json) = await Send(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("not found", json.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("GET", "/dbs/app/sync")]
    [InlineData("POST", "/metrics")]
    [InlineData("DELETE", "/metrics")]
    public async Task Wrong_method_is_405_json(string method, string path)
    {
        var (status, json) = await Send(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, status);
        Assert.Contains("not allowed", json.GetProperty("error").GetString());
        Assert.Empty(Node.Requests);
    }

    private async Task<string> Scrape()
    {
        using var response = await Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsStringAsync();
    }

    private static double Value(string text, string metric, string db, string role)
    {
        string prefix = $"{metric}{{db=\"{db}\",role=\"{role}\"}} ";
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        Assert.True(line is not null, $"no series {prefix.Trim()} in:\n{text}");
        return double.Parse(line![prefix.Length..].Trim(), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_export_every_series_per_database_with_the_status_values()
    {
        string text = await Scrape();
        Assert.Contains("# TYPE litecast_transactions_replicated_total counter", text);
        Assert.Contains("# TYPE litecast_txid gauge", text);

        Assert.Equal(100, Value(text, "litecast_txid", "app", "primary"));
        Assert.Equal(0.25, Value(text, "litecast_lag_seconds", "app", "primary")); // max over replicas
        Assert.Equal(5, Value(text, "litecast_lag_txids", "app", "primary"));
        Assert.Equal(100, Value(text, "litecast_transactions_replicated_total", "app", "primary"));
        Assert.Equal(409600, Value(text, "litecast_bytes_replicated_total", "app", "primary"));
        Assert.Equal(2, Value(text, "litecast_resyncs_total", "app", "primary"));
        Assert.Equal(3, Value(text, "litecast_checkpoints_total", "app", "primary"));
        Assert.Equal(8192, Value(text, "litecast_wal_bytes", "app", "primary"));
        Assert.Equal(0, Value(text, "litecast_local_writes_total", "app", "primary"));
        Assert.Equal(123456, Value(text, "litecast_resync_bytes_total", "app", "primary"));
        Assert.Equal(1, Value(text, "litecast_healthy", "app", "primary"));
        Assert.True(double.IsNaN(Value(text, "litecast_scrub_sound", "app", "primary"))); // no scrub yet
        Assert.True(double.IsNaN(Value(text, "litecast_scrub_timestamp_seconds", "app", "primary")));

        Assert.Equal(90, Value(text, "litecast_txid", "other.db", "replica"));
        Assert.Equal(1.5, Value(text, "litecast_lag_seconds", "other.db", "replica"));
        Assert.Equal(10, Value(text, "litecast_lag_txids", "other.db", "replica"));
        Assert.Equal(90, Value(text, "litecast_transactions_replicated_total", "other.db", "replica"));
        Assert.Equal(368640, Value(text, "litecast_bytes_replicated_total", "other.db", "replica"));
        Assert.Equal(1, Value(text, "litecast_resyncs_total", "other.db", "replica"));
        Assert.Equal(4, Value(text, "litecast_checkpoints_total", "other.db", "replica"));
        Assert.Equal(4096, Value(text, "litecast_wal_bytes", "other.db", "replica"));
        Assert.Equal(7, Value(text, "litecast_local_writes_total", "other.db", "replica"));
        Assert.Equal(2, Value(text, "litecast_stalls_total", "other.db", "replica"));
        Assert.Equal(65536, Value(text, "litecast_resync_bytes_total", "other.db", "replica"));
        Assert.Equal(1, Value(text, "litecast_healthy", "other.db", "replica"));
        Assert.Equal(1, Value(text, "litecast_scrub_sound", "other.db", "replica"));
        Assert.Equal(FakeNode.LastSeen.ToUnixTimeSeconds(), Value(text, "litecast_scrub_timestamp_seconds", "other.db", "replica"));
    }

    [Fact]
    public async Task Metrics_follow_the_status_on_every_scrape()
    {
        await Scrape();
        Node.Statuses["app"] = FakeNode.PrimaryStatus(transactions: 250);
        Node.Statuses["other.db"] = FakeNode.ReplicaStatus(healthy: false, lagMs: null, lagTxids: 0);
        string text = await Scrape();
        Assert.Equal(250, Value(text, "litecast_transactions_replicated_total", "app", "primary"));
        Assert.Equal(0, Value(text, "litecast_lag_seconds", "other.db", "replica")); // caught up, no lagMs
        Assert.Equal(0, Value(text, "litecast_healthy", "other.db", "replica"));

        // A source counter that restarts (actor restart) restarts the series instead of sticking at the old value.
        Node.Statuses["app"] = FakeNode.PrimaryStatus(transactions: 3);
        text = await Scrape();
        Assert.Equal(3, Value(text, "litecast_transactions_replicated_total", "app", "primary"));

        // Unknown lag (no primary yet) is NaN, not a reassuring 0.
        Node.Statuses["other.db"] = FakeNode.ReplicaStatus(healthy: false, lagMs: null, lagTxids: null);
        text = await Scrape();
        Assert.True(double.IsNaN(Value(text, "litecast_lag_seconds", "other.db", "replica")));
    }

    [Fact]
    public async Task Two_servers_in_one_process_have_separate_metrics()
    {
        var other = new FakeNode();
        other.Statuses["app"] = FakeNode.PrimaryStatus(transactions: 7);
        await using var second = AdminServer.Build(new HttpAddress("127.0.0.1", 0), other);
        await second.StartAsync();
        using var http = new HttpClient { BaseAddress = second.BaseUrl };
        string secondText = await http.GetStringAsync("/metrics");
        string firstText = await Scrape();
        Assert.Equal(7, Value(secondText, "litecast_transactions_replicated_total", "app", "primary"));
        Assert.Equal(100, Value(firstText, "litecast_transactions_replicated_total", "app", "primary"));
        await second.StopAsync();
    }

    [Fact]
    public async Task All_interfaces_address_binds_the_wildcard_and_answers_on_loopback()
    {
        await using var wildcard = AdminServer.Build(new HttpAddress(null, 0), Node);
        await wildcard.StartAsync();
        var url = Assert.Single(wildcard.Urls);
        Assert.Contains(url.Host, new[] { "[::]", "0.0.0.0" });
        using var http = new HttpClient { BaseAddress = wildcard.BaseUrl };
        Assert.Contains("\"ok\"", await http.GetStringAsync("/healthz"));
        await wildcard.StopAsync();
    }
}

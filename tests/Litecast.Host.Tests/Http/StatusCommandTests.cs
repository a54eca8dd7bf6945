using System.Net;
using System.Net.Sockets;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Xunit.Abstractions;

namespace Litecast.Host.Tests.Http;

/// <summary><c>litecast status</c> against a real admin server with a fake node, and against nothing.</summary>
public sealed class StatusCommandTests(ITestOutputHelper log)
{
    [Fact]
    public async Task Prints_databases_positions_lag_health_and_replicas()
    {
        var node = new FakeNode();
        node.Statuses["other.db"] = FakeNode.ReplicaStatus(healthy: false);
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), node);
        await server.StartAsync();

        var output = new StringWriter();
        var error = new StringWriter();
        int code = await StatusClient.RunAsync(server.BaseUrl, StatusClient.PlainConsole(output), error, CancellationToken.None);
        string text = output.ToString();
        log.WriteLine(text);

        Assert.Equal(0, code);
        Assert.Equal("", error.ToString());
        Assert.Contains("akka.tcp://litecast@node1:4053", text);
        var lines = text.Split('\n');
        var app = Assert.Single(lines, l => l.Contains(" app ") && l.Contains("primary"));
        Assert.Contains("0123456789abcdef", app);
        Assert.Contains(" 100 ", app);
        Assert.Contains("ok", app);
        var replica = Assert.Single(lines, l => l.Contains("other.db"));
        Assert.Contains("replica", replica);
        Assert.Contains(" 90 ", replica);
        Assert.Contains("1.5s (10 tx)", replica);
        Assert.Contains("UNHEALTHY lag 15s exceeds max-lag 10s", replica);
        Assert.Contains(" stalled ", replica);
        var r1 = Assert.Single(lines, l => l.Contains("akka.tcp://litecast@r1:4053"));
        Assert.Contains(" 98 ", r1);
        Assert.Contains("12.5ms (2 tx)", r1);
        var r2 = Assert.Single(lines, l => l.Contains("akka.tcp://litecast@r2:4053"));
        Assert.Contains("resyncing", r2);
        Assert.Contains(" 95 ", r2);
        Assert.Contains(" following ", r1);
        // The cluster's members, as /status lists them.
        Assert.Contains("member akka.tcp://litecast@node1:4053 (primary), up, reachable", text);
        // Replicas are listed under their primary, before the next database.
        Assert.True(Array.IndexOf(lines, app) < Array.IndexOf(lines, r1));
        Assert.True(Array.IndexOf(lines, r2) < Array.IndexOf(lines, replica));
        Assert.Contains("3.50.4", text);
        // The replica's last scrub, under it: sound, the txid it checked, the pages it read.
        var scrub = Assert.Single(lines, l => l.Contains("scrub"));
        Assert.Contains("sound", scrub);
        Assert.Contains(" 80 ", scrub);
        Assert.Contains("1234 pages", scrub);
        Assert.True(Array.IndexOf(lines, replica) < Array.IndexOf(lines, scrub));
        await server.StopAsync();
    }

    [Fact]
    public async Task Unreachable_endpoint_exits_1_naming_the_url()
    {
        // A port nothing listens on: bind one, then release it.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var output = new StringWriter();
        var error = new StringWriter();
        var url = new Uri($"http://127.0.0.1:{port}");
        int code = await StatusClient.RunAsync(url, StatusClient.PlainConsole(output), error, CancellationToken.None);
        log.WriteLine(error.ToString());

        Assert.Equal(1, code);
        Assert.Equal("", output.ToString());
        Assert.Contains($"cannot reach http://127.0.0.1:{port}/status", error.ToString());
        Assert.Contains("Is `litecast replicate` running there", error.ToString());
    }

    [Fact]
    public void Program_runs_status_and_exits_1_when_unreachable()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Assert.Equal(1, Program.Main(["status", "-url", $"http://127.0.0.1:{port}"]));
    }

    [Fact]
    public async Task A_server_that_is_not_litecast_exits_1()
    {
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), new FakeNode());
        await server.StartAsync();
        var error = new StringWriter();
        // /status under a prefix that does not exist: the server answers 404.
        int code = await StatusClient.RunAsync(new Uri(server.BaseUrl, "nothing/here"), StatusClient.PlainConsole(new StringWriter()),
            error, CancellationToken.None);
        Assert.Equal(1, code);
        Assert.Contains("answered 404", error.ToString());
        await server.StopAsync();
    }

    /// <summary>The admin endpoint's refusal is its JSON <c>error</c> in plain words (not the escaped document), and a
    /// missing or wrong token says how to give one.</summary>
    [Theory]
    [InlineData(null, "401 Unauthorized: GET /status needs the admin token: Authorization: Bearer <auth.token>")]
    [InlineData("wrong", "403 Forbidden: ")]
    public async Task A_refused_token_is_said_in_words_with_how_to_give_one(string? token, string refusal)
    {
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), new FakeNode(),
            security: new AdminSecurity(null, "the-token", ProtectReads: true));
        await server.StartAsync();
        using var http = AdminHttpClient.Create(null, token, TimeSpan.FromSeconds(30));
        var error = new StringWriter();

        int code = await StatusClient.RunAsync(server.BaseUrl, StatusClient.PlainConsole(new StringWriter()), error, CancellationToken.None, http);
        log.WriteLine(error.ToString());

        Assert.Equal(1, code);
        var lines = error.ToString().Split(Environment.NewLine);
        Assert.StartsWith($"litecast status: {server.BaseUrl}status answered {refusal}", lines[0]);
        Assert.DoesNotContain("\\u003C", lines[0]);
        Assert.DoesNotContain("{", lines[0]);
        Assert.Equal("Pass the node's auth.token with -token, or set $LITECAST_TOKEN.", lines[1]);
        await server.StopAsync();
    }
}

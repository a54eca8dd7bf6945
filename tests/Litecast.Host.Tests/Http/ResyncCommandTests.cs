using System.Net;
using Litecast.Actors;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Litecast.Host.Tests.Http;

/// <summary><c>litecast resync</c> against a real admin server with a fake node whose replica the test moves along.</summary>
public sealed class ResyncCommandTests
{
    private static ResyncProgressView Progress(uint done) => new(done, 100, done * 4096L, 409600, done * 4096L, DateTimeOffset.UtcNow, 1e6, 1);

    [Fact]
    public async Task ShowsTheProgressUntilTheCopyIsDone()
    {
        var node = new FakeNode();
        node.Statuses["other.db"] = FakeNode.ReplicaStatus() with { State = ReplicaStates.Resyncing, Resync = Progress(40) };
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), node);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        var output = new StringWriter();
        var error = new StringWriter();

        var run = ResyncClient.RunAsync(new ResyncCommand("other.db", server.BaseUrl), http, StatusClient.PlainConsole(output), error, CancellationToken.None);
        while (!output.ToString().Contains("40/100 pages")) await Task.Delay(50);
        node.Statuses["other.db"] = FakeNode.ReplicaStatus() with { Txid = 120, StateSince = DateTimeOffset.UtcNow };

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("resync other.db", node.Requests);
        Assert.Contains("done: other.db at txid 120, following", output.ToString());
        Assert.Equal("", error.ToString());
    }

    /// <summary>A replica whose sessions keep failing (its file has another page size) stays in the resyncing state
    /// between retries: the command reports the failure instead of showing 0% until it is stopped.</summary>
    [Fact]
    public async Task AFailedSessionEndsTheCommandWithItsReason()
    {
        var node = new FakeNode();
        node.Statuses["other.db"] = FakeNode.ReplicaStatus() with { State = ReplicaStates.Resyncing, Resync = Progress(0) };
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), node);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        var output = new StringWriter();
        var error = new StringWriter();

        var run = ResyncClient.RunAsync(new ResyncCommand("other.db", server.BaseUrl), http, StatusClient.PlainConsole(output), error, CancellationToken.None);
        while (!output.ToString().Contains("0/100 pages")) await Task.Delay(50);
        const string Reason = "resync failed: the replica file has page size 4096 but the primary's is 8192; move /r/other.db away to resync it";
        node.Statuses["other.db"] = FakeNode.ReplicaStatus() with { State = ReplicaStates.Resyncing, Healthy = false, Problem = Reason };

        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"litecast resync: {Reason} (the replica retries by itself", error.ToString());
    }

    [Fact]
    public async Task CtrlCStopsFollowingWithoutAnError()
    {
        var node = new FakeNode();
        node.Statuses["other.db"] = FakeNode.ReplicaStatus() with { State = ReplicaStates.Resyncing, Resync = Progress(10) };
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), node);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        using var stop = new CancellationTokenSource();
        var output = new StringWriter();
        var error = new StringWriter();

        var run = ResyncClient.RunAsync(new ResyncCommand("other.db", server.BaseUrl), http, StatusClient.PlainConsole(output), error, stop.Token);
        while (!output.ToString().Contains("10/100 pages")) await Task.Delay(50);
        stop.Cancel();

        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("stopped following; the resync of other.db goes on", error.ToString());
    }

    /// <summary>A server that is not Litecast (here as <c>python3 -m http.server</c> answers a POST) refuses with an
    /// HTML page: the command says so, it does not crash reading the page as JSON.</summary>
    [Fact]
    public async Task AnErrorPageThatIsNotJsonExits1NamingTheUrlStatusAndPage()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using var app = builder.Build();
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status501NotImplemented;
            context.Response.ContentType = "text/html";
            return context.Response.WriteAsync("<!DOCTYPE HTML><html><body><h1>Error response</h1><p>Unsupported method ('POST')</p></body></html>");
        });
        await app.StartAsync();
        var url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        using var http = new HttpClient();
        var output = new StringWriter();
        var error = new StringWriter();

        int code = await ResyncClient.RunAsync(new ResyncCommand("db", url), http, StatusClient.PlainConsole(output), error, CancellationToken.None);

        Assert.Equal(1, code);
        Assert.Equal("", output.ToString());
        Assert.Equal($"litecast resync: {url}dbs/db/resync answered 501 Not Implemented: <!DOCTYPE HTML><html><body><h1>Error response</h1>"
            + "<p>Unsupported method ('POST')</p></body></html>" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public async Task TheNodesRefusalIsItsJsonError()
    {
        await using var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), new FakeNode());
        await server.StartAsync();
        using var http = new HttpClient();
        var error = new StringWriter();

        int code = await ResyncClient.RunAsync(new ResyncCommand("nope.db", server.BaseUrl), http, StatusClient.PlainConsole(new StringWriter()),
            error, CancellationToken.None);

        Assert.Equal(1, code);
        Assert.StartsWith($"litecast resync: {server.BaseUrl}dbs/nope.db/resync answered 404 Not Found: ", error.ToString());
        Assert.DoesNotContain("{", error.ToString());
    }
}

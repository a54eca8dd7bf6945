using Litecast.Actors;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Http;

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
}

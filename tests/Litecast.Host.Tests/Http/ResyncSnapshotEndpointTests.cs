using System.Net;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;

namespace Litecast.Host.Tests.Http;

/// <summary>
/// <c>GET /resync/{session}</c>, the primary's side of a resync's page transfer, and <see cref="HttpSnapshotFetcher"/>,
/// the replica's, over a real Kestrel server: the bytes asked for and no others, a clear error for a session that is
/// not in flight, a range served only once the snapshot's copy has reached it, and the token always required when one
/// is configured (the snapshot is the whole database).
/// </summary>
public sealed class ResyncSnapshotEndpointTests : IDisposable
{
    private const string Token = "the-right-token";
    private readonly string _dir = Directory.CreateTempSubdirectory("litecast-resync-http-").FullName;
    private readonly FakeNode _node = new();
    private readonly Guid _session = Guid.NewGuid();
    private readonly byte[] _snapshot = new byte[5 * 4096];

    public ResyncSnapshotEndpointTests()
    {
        Random.Shared.NextBytes(_snapshot);
        var path = Path.Combine(_dir, "snapshot.pages");
        File.WriteAllBytes(path, _snapshot);
        _node.ResyncSnapshots[_session] = path;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<AdminServer> StartAsync(string? token)
    {
        var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), _node, security: new AdminSecurity(null, token, ProtectReads: false));
        await server.StartAsync();
        return server;
    }

    [Fact]
    public async Task TheFetcherGetsExactlyTheRangeAskedForAndTheNodeCountsIt()
    {
        await using var server = await StartAsync(token: null);
        using var http = AdminHttpClient.Create(null, null, TimeSpan.FromSeconds(30));
        var fetcher = new HttpSnapshotFetcher(http, server.BaseUrl);

        var data = new byte[3 * 4096];
        await fetcher.FetchAsync(_session, 4096, data, CancellationToken.None);

        Assert.Equal(_snapshot.AsSpan(4096, 3 * 4096).ToArray(), data);
        Assert.Equal([3 * 4096L], _node.ResyncSnapshotBytes);
        Assert.Equal(_snapshot, await http.GetByteArrayAsync(new Uri(server.BaseUrl, $"resync/{_session}")));
    }

    [Fact]
    public async Task ARangeIsServedOnceTheCopyHasReachedItAndAFailedCopyIsA503ThatSaysWhy()
    {
        await using var server = await StartAsync(token: null);
        using var http = AdminHttpClient.Create(null, null, TimeSpan.FromSeconds(30));
        var fetcher = new HttpSnapshotFetcher(http, server.BaseUrl);
        var copied = new TaskCompletionSource();
        _node.ResyncSnapshotCopied = copied.Task;

        var data = new byte[4096];
        var fetch = fetcher.FetchAsync(_session, 0, data, CancellationToken.None);
        Assert.NotSame(fetch, await Task.WhenAny(fetch, Task.Delay(300)));
        copied.SetResult();
        await fetch;
        Assert.Equal(_snapshot.AsSpan(0, 4096).ToArray(), data);

        _node.ResyncSnapshotCopied = Task.FromException(new IOException("copying the snapshot failed: No space left on device"));
        var e = await Assert.ThrowsAsync<IOException>(() => fetcher.FetchAsync(_session, 0, new byte[4096], CancellationToken.None));
        Assert.Contains("503", e.Message);
        Assert.Contains("No space left on device", e.Message);
    }

    /// <summary>A range answer names the snapshot's whole size while its copy is still growing the file (it named the
    /// file's length so far, a total that changed from one answer to the next: a black-box review), and a range past
    /// the snapshot's end is a 416 that names the size at once.</summary>
    [Fact]
    public async Task ARangeAnswerNamesTheSnapshotsSizeWhileItsCopyGrowsTheFile()
    {
        await using var server = await StartAsync(token: null);
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        _node.ResyncSnapshotLength = 8 * 4096;

        using var request = new HttpRequestMessage(HttpMethod.Get, $"resync/{_session}");
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(4096, 3 * 4096 - 1);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("bytes 4096-12287/32768", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(_snapshot.AsSpan(4096, 2 * 4096).ToArray(), await response.Content.ReadAsByteArrayAsync());

        using var past = new HttpRequestMessage(HttpMethod.Get, $"resync/{_session}");
        past.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(8 * 4096, 9 * 4096 - 1);
        using var refused = await http.SendAsync(past);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, refused.StatusCode);
        Assert.Equal("bytes */32768", refused.Content.Headers.ContentRange?.ToString());
    }

    [Fact]
    public async Task ASessionNotInFlightIsA404ThatNamesIt()
    {
        await using var server = await StartAsync(token: null);
        using var http = AdminHttpClient.Create(null, null, TimeSpan.FromSeconds(30));
        var other = Guid.NewGuid();

        var e = await Assert.ThrowsAsync<IOException>(() => new HttpSnapshotFetcher(http, server.BaseUrl).FetchAsync(other, 0, new byte[4096], CancellationToken.None));

        Assert.Contains("404", e.Message);
        Assert.Contains($"no resync session {other} is in flight", e.Message);
        using var notAGuid = await http.GetAsync(new Uri(server.BaseUrl, "resync/not-a-session"));
        Assert.Equal(HttpStatusCode.NotFound, notAGuid.StatusCode);
        Assert.Empty(_node.ResyncSnapshotBytes);
    }

    [Fact]
    public async Task WithATokenTheSnapshotNeedsItEvenThoughOtherReadsDoNot()
    {
        await using var server = await StartAsync(Token);
        using var anonymous = AdminHttpClient.Create(null, null, TimeSpan.FromSeconds(30));
        using var withToken = AdminHttpClient.Create(null, Token, TimeSpan.FromSeconds(30));
        var url = new Uri(server.BaseUrl, $"resync/{_session}");

        using var refused = await anonymous.GetAsync(url);
        using var status = await anonymous.GetAsync(new Uri(server.BaseUrl, "status"));
        var data = new byte[4096];
        await new HttpSnapshotFetcher(withToken, server.BaseUrl).FetchAsync(_session, 0, data, CancellationToken.None);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.Equal(_snapshot.AsSpan(0, 4096).ToArray(), data);
        Assert.Equal([4096L], _node.ResyncSnapshotBytes); // the refused request never reached the node
    }
}

using System.Net;
using System.Net.Http.Headers;
using Litecast.Actors.Replica;

namespace Litecast.Host.Node;

/// <summary>
/// Fetches ranges of a resync's snapshot from the primary's admin endpoint (<c>GET /resync/{session}</c> with a
/// <c>Range</c> header), with the client that discovers the primary: the cluster CA's HTTPS and the node's token.
/// </summary>
/// <param name="http">An admin client (<see cref="Http.AdminHttpClient"/>).</param>
/// <param name="primary">The primary's admin endpoint: <c>upstream.url</c>'s origin.</param>
internal sealed class HttpSnapshotFetcher(HttpClient http, Uri primary) : ISnapshotFetcher
{
    public async Task FetchAsync(Guid session, long offset, Memory<byte> destination, CancellationToken cancellation)
    {
        var url = new Uri(primary, $"/resync/{session:N}");
        var length = destination.Length;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        if (response.StatusCode != HttpStatusCode.PartialContent)
        {
            var body = await response.Content.ReadAsStringAsync(cancellation);
            throw new IOException($"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}: {body[..Math.Min(body.Length, 200)]}");
        }
        var range = response.Content.Headers.ContentRange;
        if (range?.From != offset || range.To != offset + length - 1)
            throw new IOException($"GET {url} answered bytes {range?.From}-{range?.To}, not the {offset}-{offset + length - 1} asked for");
        await using var stream = await response.Content.ReadAsStreamAsync(cancellation);
        await stream.ReadExactlyAsync(destination, cancellation);
    }
}

using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Litecast.Host.Node;

/// <summary>What a node's <c>GET /cluster</c> answers: its cluster address, its databases and its proxy's URL (null
/// without a proxy, or from a node older than the proxy).</summary>
public sealed record ClusterInfo(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("dbs")] IReadOnlyList<ClusterDatabase> Dbs,
    [property: JsonPropertyName("proxy")] string? Proxy = null);

/// <summary>One database in <see cref="ClusterInfo"/>.</summary>
public sealed record ClusterDatabase(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("role")] string Role);

/// <summary>
/// Finds the primary through its HTTP admin endpoint (the replica's config names only <c>upstream.url</c>, as in the
/// user's guide): the primary's cluster address, to join through and to key topics by, and its databases.
/// </summary>
public static class UpstreamDiscovery
{
    /// <summary>Asks <paramref name="origin"/>/cluster with <paramref name="http"/> (<see cref="Http.AdminHttpClient"/>);
    /// throws <see cref="HttpRequestException"/> when unreachable or refused.</summary>
    public static async Task<ClusterInfo> DiscoverAsync(HttpClient http, Uri origin, CancellationToken cancellation)
    {
        var url = new Uri(origin, "/cluster");
        using var response = await http.GetAsync(url, cancellation);
        if (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
            throw new HttpRequestException($"{url} refused this node's token ({(int)response.StatusCode}): set auth.token to the primary's");
        response.EnsureSuccessStatusCode();
        var info = await response.Content.ReadFromJsonAsync<ClusterInfo>(cancellation)
            ?? throw new HttpRequestException($"{url} answered an empty body");
        if (info.Dbs is null || info.Node is null)
            throw new HttpRequestException($"{url} did not answer a Litecast cluster description");
        // An Akka address (akka.tcp://litecast@host:port, or with test transport adapters akka.trttl.gremlin.tcp://...).
        if (!info.Node.StartsWith("akka.", StringComparison.Ordinal) || !info.Node.Contains("://", StringComparison.Ordinal))
            throw new HttpRequestException($"the primary at {origin} has not joined its cluster yet");
        return info;
    }

    /// <summary>
    /// The primary's database a replica follows: the one whose path equals <paramref name="upstreamPath"/>, else whose
    /// name or file name equals its file name. Null when the primary has no such database.
    /// </summary>
    public static ClusterDatabase? Match(ClusterInfo primary, string upstreamPath)
    {
        var primaries = primary.Dbs.Where(d => d.Role == "primary").ToList();
        var fileName = System.IO.Path.GetFileName(upstreamPath);
        return primaries.FirstOrDefault(d => d.Path == upstreamPath)
            ?? primaries.FirstOrDefault(d => d.Name == upstreamPath)
            ?? primaries.FirstOrDefault(d => d.Name == fileName || System.IO.Path.GetFileName(d.Path) == fileName);
    }
}

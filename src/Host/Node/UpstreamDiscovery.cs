using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Litecast.Host.Node;

/// <summary>What a node's <c>GET /cluster</c> answers: its cluster address, its databases, its proxy's URL and
/// wait-timeout in milliseconds (null without a proxy, or from a node older than the proxy or the field).</summary>
public sealed record ClusterInfo(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("dbs")] IReadOnlyList<ClusterDatabase> Dbs,
    [property: JsonPropertyName("proxy")] string? Proxy = null,
    [property: JsonPropertyName("proxyWaitTimeoutMs")] double? ProxyWaitTimeoutMs = null);

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
    public static ClusterDatabase? Match(ClusterInfo primary, string upstreamPath) => Find(primary, "primary", upstreamPath);

    /// <summary>Why <paramref name="upstreamPath"/> has no <see cref="Match"/> at <paramref name="origin"/>: the node
    /// there is itself a replica of it (upstream.url names a replica's endpoint), or it has no such database.</summary>
    public static string NoMatch(ClusterInfo info, Uri origin, string upstreamPath)
    {
        if (Find(info, "replica", upstreamPath) is { } replica)
            return $"{origin} is a replica of '{replica.Name}', not its primary: upstream.url must name the primary's admin endpoint";
        var primaries = info.Dbs.Where(d => d.Role == "primary").Select(d => d.Path).ToList();
        return $"the primary at {origin} has no database '{upstreamPath}' " +
            (primaries.Count == 0 ? "(it is the primary of none)" : $"(it is the primary of: {string.Join(", ", primaries)})");
    }

    /// <summary>The database of <paramref name="role"/> that <see cref="Match"/>'s rules pick for <paramref name="upstreamPath"/>.</summary>
    private static ClusterDatabase? Find(ClusterInfo info, string role, string upstreamPath)
    {
        var candidates = info.Dbs.Where(d => d.Role == role).ToList();
        var fileName = System.IO.Path.GetFileName(upstreamPath);
        return candidates.FirstOrDefault(d => d.Path == upstreamPath)
            ?? candidates.FirstOrDefault(d => d.Name == upstreamPath)
            ?? candidates.FirstOrDefault(d => d.Name == fileName || System.IO.Path.GetFileName(d.Path) == fileName);
    }
}

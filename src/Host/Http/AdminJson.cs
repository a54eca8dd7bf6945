using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Node;

namespace Litecast.Host.Http;

// The admin endpoint's JSON documents. External clients (litecast status, replicas' discovery, scripts) read these:
// the property names and shapes are a contract. camelCase; nulls are written, not omitted.

/// <summary><c>GET /status</c>.</summary>
/// <param name="Proxy">The node's proxy URL (<c>proxy</c>), or null without one.</param>
/// <param name="Members">The cluster's members as this node sees them (address, roles, status, reachable).</param>
public sealed record StatusResponse(string Node, IReadOnlyList<DbStatusJson> Dbs, string? Proxy, IReadOnlyList<ClusterMember> Members);

/// <summary>One database in <see cref="StatusResponse"/>.</summary>
/// <param name="Generation">16 lowercase hex digits.</param>
/// <param name="Checksum">The rolling checksum at <paramref name="Txid"/>, 16 lowercase hex digits.</param>
/// <param name="LagMs">Replica: milliseconds behind the primary; null when unknown (and always null on a primary).</param>
/// <param name="LagTxids">Replica: transactions behind the primary; null when unknown.</param>
/// <param name="SqliteVersion">The primary's SQLite version (replicas report their primary's), or null when not known yet.</param>
/// <param name="Replicas">Primary: the replicas it knows; empty on replicas.</param>
/// <param name="State">Replica: following, catching-up, resyncing, stalled or disconnected; null on a primary.</param>
/// <param name="StateSince">Replica: when it entered that state.</param>
/// <param name="Resync">Replica: the resync in flight (pages and bytes done of the total, bytes fetched, rate, time
/// left); null when none is.</param>
/// <param name="LastScrub">The node's last scrub of the database (when, the txid checked, pages read, whether the file
/// was sound); null before the first.</param>
public sealed record DbStatusJson(
    string Name,
    string Path,
    string Role,
    string Generation,
    ulong Txid,
    string Checksum,
    double? LagMs,
    ulong? LagTxids,
    bool Healthy,
    string? Problem,
    string? SqliteVersion,
    IReadOnlyList<ReplicaJson> Replicas,
    string? State,
    DateTimeOffset? StateSince,
    ResyncProgressView? Resync,
    ScrubView? LastScrub);

/// <summary>One replica as its primary sees it.</summary>
/// <param name="State">following, catching-up, resyncing, stalled or disconnected (see ReplicaStates).</param>
public sealed record ReplicaJson(string Node, ulong Txid, double? LagMs, bool Resyncing, DateTimeOffset LastSeen, string State);

/// <summary><c>GET /cluster</c>: what a replica that only knows <c>upstream.url</c> asks to find the cluster.</summary>
/// <param name="Node">The node's cluster address (<c>akka.tcp://litecast@host:port</c>).</param>
/// <param name="Proxy">The node's proxy URL, where replicas' proxies forward writes; null without one.</param>
/// <param name="ProxyWaitTimeoutMs">The node's proxy's <c>wait-timeout</c> in milliseconds, how long it may hold a
/// write's answer (<c>write-ack</c>): a replica's proxy waits that long for a forwarded write. Null without a proxy.</param>
public sealed record ClusterResponse(string Node, IReadOnlyList<ClusterDbJson> Dbs, string? Proxy, double? ProxyWaitTimeoutMs);

/// <summary>One configured database in <see cref="ClusterResponse"/>.</summary>
public sealed record ClusterDbJson(string Name, string Path, string Role);

/// <summary><c>POST /dbs/{name}/sync</c> and <c>GET /dbs/{name}/wait</c>: a position.</summary>
public sealed record PositionResponse(ulong Txid, string Generation);

/// <summary><c>POST /dbs/{name}/resync</c>.</summary>
public sealed record ResyncResponse(bool Accepted, string Detail);

/// <summary><c>GET /healthz</c>: <c>{"status":"ok"}</c>, or <c>unhealthy</c> with reasons.</summary>
public sealed record HealthResponse(
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Reasons);

/// <summary>Every error answer: <c>{"error": "..."}</c>.</summary>
public sealed record ErrorResponse(string Error);

/// <summary>Source-generated serialization (works trimmed/AOT too).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(ClusterResponse))]
[JsonSerializable(typeof(PositionResponse))]
[JsonSerializable(typeof(ResyncResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ErrorResponse))]
public sealed partial class AdminJsonContext : JsonSerializerContext;

/// <summary>Conversions from the actors' status records to the JSON documents.</summary>
public static class AdminJson
{
    /// <summary>The wire name of a role.</summary>
    public static string RoleName(DbRole role) => role == DbRole.Primary ? "primary" : "replica";

    /// <summary>A 64-bit value as 16 lowercase hex digits (generations, checksums).</summary>
    public static string Hex(ulong value) => value.ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>The <c>/status</c> entry of one database.</summary>
    public static DbStatusJson ToJson(DatabaseStatus s) => new(
        s.Name,
        s.Path,
        s.Role,
        Hex(s.Generation),
        s.Txid,
        Hex(s.Hash),
        s.LagMs,
        s.LagTxids,
        s.Healthy,
        s.Problem,
        s.PrimarySqliteVersion,
        s.Role == "primary"
            ? s.Replicas.Select(r => new ReplicaJson(r.Node, r.Txid, r.LagMs, r.Resyncing, r.LastSeen, r.State)).ToList()
            : [],
        s.State,
        s.StateSince,
        s.Resync,
        s.LastScrub);
}

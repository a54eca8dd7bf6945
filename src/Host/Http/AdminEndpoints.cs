using System.Globalization;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Node;
using Microsoft.AspNetCore.Http.Json;
using Prometheus;

namespace Litecast.Host.Http;

/// <summary>
/// The HTTP admin endpoint's routes (ASP.NET Core minimal API). Read-only towards the file system: every handler
/// only asks the node; none writes a file.
/// </summary>
public static class AdminEndpoints
{
    /// <summary>Default <c>timeout</c> of <c>/wait</c>.</summary>
    public static readonly TimeSpan DefaultWaitTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Largest <c>timeout</c> <c>/wait</c> accepts.</summary>
    public static readonly TimeSpan MaxWaitTimeout = TimeSpan.FromMinutes(5);

    /// <summary>How long one database's status may take before <c>/status</c> reports it as unavailable.</summary>
    public static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a resync range may wait for the snapshot's copy to reach it (the copy runs at disk speed; the
    /// resync source gives up on a replica silent for as long).</summary>
    private static readonly TimeSpan SnapshotCopyWait = TimeSpan.FromSeconds(60);

    /// <summary>How long <c>/events</c> stays silent before it sends a comment line.</summary>
    private static readonly TimeSpan EventKeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>The read-only documents answer HEAD as GET (without the body): load balancers' health checks use it.</summary>
    private static readonly string[] ReadMethods = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>Registers the JSON options the endpoints use (camelCase, source-generated types). Call on the builder's services.</summary>
    public static IServiceCollection AddLitecastAdmin(this IServiceCollection services) =>
        services.Configure<JsonOptions>(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJsonContext.Default));

    /// <summary>Maps every admin route, JSON 404/405 answers, and JSON 500 answers for unexpected failures.</summary>
    public static AdminMetrics MapLitecastAdmin(this WebApplication app, ILitecastNode node, AdminSecurity? security = null) =>
        Map(app, node, security ?? AdminSecurity.None);

    /// <summary>Maps every admin route behind <paramref name="security"/>'s token, JSON 404/405 answers, and JSON 500
    /// answers for unexpected failures; returns the metrics it exports.</summary>
    public static AdminMetrics Map(WebApplication app, ILitecastNode node, AdminSecurity security)
    {
        var metrics = new AdminMetrics();
        metrics.Registry.AddBeforeCollectCallback(async cancel =>
        {
            foreach (var (db, status, _) in await CollectAsync(node, cancel))
            {
                if (status is not null) metrics.Update(status);
                else metrics.MarkUnavailable(db.Name, AdminJson.RoleName(db.Role));
            }
        });

        // A HEAD answer has headers only. Kestrel drops the body of one over HTTP/1.1, but over HTTP/2 it sent the
        // body of every answer without a Content-Length (the JSON documents, the errors) as DATA frames, which clients
        // reject as a protocol error (curl exit 92): a load balancer's health check over HTTPS failed.
        app.Use(async (context, next) =>
        {
            if (HttpMethods.IsHead(context.Request.Method)) context.Response.Body = Stream.Null;
            await next(context);
        });
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
            {
                context.Response.Clear();
                await Error(StatusCodes.Status500InternalServerError, $"internal error: {e.Message}").ExecuteAsync(context);
            }
        });
        // Before any route: 401 without a token (with the challenge RFC 6750 asks for), 403 with a wrong one.
        app.Use(async (context, next) =>
        {
            if (!security.Guards(context.Request.Method, context.Request.Path))
            {
                await next(context);
                return;
            }
            var authorization = context.Request.Headers.Authorization.ToString();
            if (AdminSecurity.BearerToken(authorization) is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"litecast\"";
                await Error(StatusCodes.Status401Unauthorized,
                    $"{context.Request.Method} {context.Request.Path} needs the admin token: Authorization: Bearer <auth.token>").ExecuteAsync(context);
                return;
            }
            if (!security.Admits(authorization))
            {
                await Error(StatusCodes.Status403Forbidden, "the bearer token is not this node's auth.token").ExecuteAsync(context);
                return;
            }
            await next(context);
        });
        app.UseStatusCodePages(async ctx =>
        {
            var http = ctx.HttpContext;
            int code = http.Response.StatusCode;
            string message = code switch
            {
                404 => $"not found: {http.Request.Method} {http.Request.Path}",
                405 => $"method {http.Request.Method} not allowed on {http.Request.Path}",
                _ => $"HTTP {code}",
            };
            await Error(code, message).ExecuteAsync(http);
        });

        app.MapMethods("/status", ReadMethods, async (CancellationToken cancel) =>
            Results.Json(await StatusAsync(node, cancel), AdminJsonContext.Default.StatusResponse));

        var events = new AdminEvents(node);
        app.MapGet("/events", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            // Proxies (nginx) would otherwise hold the stream back to fill their buffers.
            context.Response.Headers["X-Accel-Buffering"] = "no";
            await context.Response.Body.FlushAsync(context.RequestAborted);
            // The stream ends when the client goes or the server stops: an open stream held a SIGTERM for Kestrel's
            // whole shutdown timeout, 30 s.
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, app.Lifetime.ApplicationStopping);
            async Task Send(string text)
            {
                await context.Response.WriteAsync(text, ended.Token);
                await context.Response.Body.FlushAsync(ended.Token);
            }
            // A quiet cluster sends no event for minutes, and proxies close a silent stream (nginx after 60 s): a
            // comment line, which clients ignore, keeps it open.
            var stream = events.ListenAsync(ended.Token).GetAsyncEnumerator(ended.Token);
            var next = stream.MoveNextAsync().AsTask();
            try
            {
                while (true)
                {
                    if (await Task.WhenAny(next, Task.Delay(EventKeepAlive, ended.Token)) != next)
                    {
                        if (ended.IsCancellationRequested) break;
                        await Send(": keepalive\n\n");
                        continue;
                    }
                    if (!await next) break;
                    await Send($"data: {stream.Current.ToJsonString()}\n\n");
                    next = stream.MoveNextAsync().AsTask();
                }
            }
            catch (OperationCanceledException) when (ended.IsCancellationRequested)
            {
            }
            finally
            {
                // An enumerator is disposed only once its pending step has ended, which the cancelled token makes prompt.
                ended.Cancel();
                try { await next; }
                catch (OperationCanceledException) { }
                await stream.DisposeAsync();
            }
        });

        app.MapMethods("/", ReadMethods, () => Results.Content(Dashboard.Html, "text/html; charset=utf-8"));

        app.MapMethods("/healthz", ReadMethods, async (CancellationToken cancel) =>
        {
            var reasons = new List<string>();
            if (node.NodeProblem is { } nodeProblem)
                reasons.Add($"node: {nodeProblem}");
            foreach (var (db, status, error) in await CollectAsync(node, cancel))
            {
                if (status is null)
                    reasons.Add($"{db.Name}: status unavailable: {error}");
                else if (!status.Healthy)
                    reasons.Add($"{status.Name}: {status.Problem ?? "unhealthy"}");
            }
            return reasons.Count == 0
                ? Results.Json(new HealthResponse("ok", null), AdminJsonContext.Default.HealthResponse)
                : Results.Json(new HealthResponse("unhealthy", reasons), AdminJsonContext.Default.HealthResponse,
                    statusCode: StatusCodes.Status503ServiceUnavailable);
        });

        // GET and HEAD only, as every other read: prometheus-net's endpoint answered POST, PUT and DELETE too.
        app.MapMetrics("/metrics", metrics.Registry).WithMetadata(new HttpMethodMetadata(ReadMethods));

        app.MapMethods("/cluster", ReadMethods, () => Results.Json(
            new ClusterResponse(node.NodeId,
                node.Databases.Select(d => new ClusterDbJson(d.Name, d.Path, AdminJson.RoleName(d.Role))).ToList(), node.ProxyUrl?.ToString(),
                node.ProxyWaitTimeout?.TotalMilliseconds),
            AdminJsonContext.Default.ClusterResponse));

        // A replica fetches the snapshot of its resync session range by range (Range: bytes=...), sent from the file
        // by the kernel once the snapshot's copy has passed the range; the offers, their hashes and the demands stay on
        // the cluster.
        app.MapGet("/resync/{session:guid}", async (Guid session, HttpContext context, CancellationToken cancel) =>
        {
            var ranges = context.Request.GetTypedHeaders().Range?.Ranges;
            var (from, to) = ranges is { Count: 1 } && ranges.First() is { From: { } first, To: { } last } && last >= first
                ? (first, last) : ((long?)null, (long?)null);
            ResyncSnapshotFile? snapshot;
            try
            {
                snapshot = await node.ResyncSnapshotAsync(session, from, to, cancel);
                if (snapshot is null) return Error(StatusCodes.Status404NotFound, $"no resync session {session} is in flight on this node");
                if (from >= snapshot.Length)
                {
                    context.Response.Headers.ContentRange = $"bytes */{snapshot.Length}";
                    return Error(StatusCodes.Status416RangeNotSatisfiable, $"the snapshot has {snapshot.Length} bytes; bytes from {from} were asked for");
                }
                await snapshot.Copied.WaitAsync(SnapshotCopyWait, cancel);
            }
            catch (Exception e) when (e is NodeRequestException or IOException or TimeoutException)
            {
                var reason = e is TimeoutException ? $"the snapshot's copy did not reach the bytes asked for in {SnapshotCopyWait.TotalSeconds:F0} s" : e.Message;
                return Error(StatusCodes.Status503ServiceUnavailable, reason);
            }
            if (from is not { } start || to is not { } requestedEnd)
                return TypedResults.PhysicalFile(snapshot.Path, "application/octet-stream", enableRangeProcessing: true);
            // Served here rather than by PhysicalFile, whose Content-Range total is the file's length so far: it grew
            // from one answer to the next while the snapshot was being copied.
            var end = Math.Min(requestedEnd, snapshot.Length - 1);
            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.ContentType = "application/octet-stream";
            context.Response.Headers.AcceptRanges = "bytes";
            context.Response.Headers.ContentRange = $"bytes {start}-{end}/{snapshot.Length}";
            context.Response.ContentLength = end - start + 1;
            await context.Response.SendFileAsync(snapshot.Path, start, end - start + 1, cancel);
            return Results.Empty;
        });

        app.MapPost("/dbs/{name}/sync", async (string name, CancellationToken cancel) =>
        {
            if (Find(node, name) is not { } db)
                return UnknownDatabase(name);
            try
            {
                var synced = await node.SyncAsync(db, cancel);
                return Position(synced.Txid, synced.Generation);
            }
            catch (NodeRequestException e)
            {
                return Error(StatusCodes.Status409Conflict, e.Message);
            }
        });

        app.MapGet("/dbs/{name}/wait", async (string name, HttpRequest request, CancellationToken cancel) =>
        {
            if (Find(node, name) is not { } db)
                return UnknownDatabase(name);
            if (!TryParseTxid(request.Query["txid"], out ulong txid, out string? txidError))
                return Error(StatusCodes.Status400BadRequest, txidError);
            if (!TryParseTimeout(request.Query["timeout"], out var timeout, out string? timeoutError))
                return Error(StatusCodes.Status400BadRequest, timeoutError);
            if (!TryParseGeneration(request.Query["generation"], out var generation, out string? generationError))
                return Error(StatusCodes.Status400BadRequest, generationError);
            try
            {
                var reached = await node.WaitAsync(db, txid, generation, timeout, cancel);
                return reached is null
                    ? Error(StatusCodes.Status504GatewayTimeout,
                        $"timed out after {ValueParsers.FormatDuration(timeout)} waiting for txid {txid}"
                        + (generation is { } g ? $" of generation {g:x16}" : "") + $" on '{db.Name}'")
                    : Position(reached.Txid, reached.Generation);
            }
            catch (NodeRequestException e)
            {
                return Error(StatusCodes.Status409Conflict, e.Message);
            }
        });

        app.MapPost("/dbs/{name}/resync", async (string name, CancellationToken cancel) =>
        {
            if (Find(node, name) is not { } db)
                return UnknownDatabase(name);
            try
            {
                var started = await node.ResyncAsync(db, cancel);
                return started.Accepted
                    ? Results.Json(new ResyncResponse(true, started.Detail), AdminJsonContext.Default.ResyncResponse,
                        statusCode: StatusCodes.Status202Accepted)
                    : Error(StatusCodes.Status409Conflict, started.Detail);
            }
            catch (NodeRequestException e)
            {
                return Error(StatusCodes.Status409Conflict, e.Message);
            }
        });

        return metrics;
    }

    /// <summary>Parses <c>txid</c>: required, a non-negative integer.</summary>
    internal static bool TryParseTxid(string? text, out ulong txid, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        txid = 0;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "missing query parameter 'txid' (e.g. ?txid=42, the txid /sync answered on the primary)";
            return false;
        }
        if (text.TrimStart().StartsWith('-'))
        {
            error = $"invalid txid '{text}': must not be negative";
            return false;
        }
        if (!ulong.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out txid))
        {
            error = $"invalid txid '{text}': expected a non-negative integer";
            return false;
        }
        return true;
    }

    /// <summary>Parses <c>generation</c>: optional, the 16 hex digits <c>/sync</c> answered.</summary>
    internal static bool TryParseGeneration(string? text, out ulong? generation, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        generation = null;
        error = null;
        if (text is null)
            return true;
        if (text.Length != 16 || !ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            error = $"invalid generation '{text}': expected the 16 hex digits /sync answered";
            return false;
        }
        generation = value;
        return true;
    }

    /// <summary>Parses <c>timeout</c>: a Go duration (default 5s, at most 5m).</summary>
    internal static bool TryParseTimeout(string? text, out TimeSpan timeout, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        error = null;
        timeout = DefaultWaitTimeout;
        if (text is null)
            return true;
        if (!ValueParsers.TryParseDuration(text, out timeout, out string? parseError))
        {
            error = $"invalid timeout: {parseError}";
            return false;
        }
        if (timeout > MaxWaitTimeout)
        {
            error = $"invalid timeout '{text}': at most {ValueParsers.FormatDuration(MaxWaitTimeout)}";
            return false;
        }
        return true;
    }

    /// <summary>Finds a database by the route's <c>{name}</c>: its name, file name or path. ASP.NET Core decodes every
    /// escape in a route value except <c>%2F</c>, which is decoded here so a full path can be given.</summary>
    private static DbConfig? Find(ILitecastNode node, string name)
    {
        string decoded = name.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        return node.FindDatabase(decoded);
    }

    internal static async Task<List<(DbConfig Db, DatabaseStatus? Status, string? Error)>> CollectAsync(
        ILitecastNode node, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(StatusTimeout);
        var tasks = node.Databases.Select(async db =>
        {
            try
            {
                return (db, await node.StatusAsync(db, timeout.Token), (string?)null);
            }
            catch (Exception e) when (!cancel.IsCancellationRequested)
            {
                string error = e is OperationCanceledException ? $"no answer within {ValueParsers.FormatDuration(StatusTimeout)}" : e.Message;
                return (db, (DatabaseStatus?)null, error);
            }
        }).ToList();
        return [.. await Task.WhenAll(tasks)];
    }

    /// <summary><c>GET /status</c>'s document.</summary>
    internal static async Task<StatusResponse> StatusAsync(ILitecastNode node, CancellationToken cancel)
    {
        var dbs = (await CollectAsync(node, cancel))
            .Select(x => x.Status is not null ? AdminJson.ToJson(x.Status) : Unavailable(x.Db, x.Error!))
            .ToList();
        return new StatusResponse(node.NodeId, dbs, node.ProxyUrl?.ToString(), node.Members);
    }

    private static DbStatusJson Unavailable(DbConfig db, string error) => new(
        db.Name, db.Path, AdminJson.RoleName(db.Role), AdminJson.Hex(0), 0, AdminJson.Hex(0), null, null,
        false, $"status unavailable: {error}", null, [], null, null, null, null);

    private static IResult Position(ulong txid, ulong generation) =>
        Results.Json(new PositionResponse(txid, AdminJson.Hex(generation)), AdminJsonContext.Default.PositionResponse);

    private static IResult UnknownDatabase(string name) =>
        Error(StatusCodes.Status404NotFound, $"unknown database '{name.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase)}'");

    private static IResult Error(int status, string message) =>
        Results.Json(new ErrorResponse(message), AdminJsonContext.Default.ErrorResponse, statusCode: status);
}

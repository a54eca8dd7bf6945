using System.Diagnostics;
using Litecast.Host.Configuration;
using Litecast.Host.Node;
using Yarp.ReverseProxy.Forwarder;

namespace Litecast.Host.Proxy;

/// <summary>
/// Where each request goes. GET, HEAD and OPTIONS are reads, everything else a write (LiteFS's rule); a passthrough
/// path is served locally whatever it is. On the primary's node every request goes to the local application. On a
/// replica's node a write goes to the primary's proxy; a read goes there too when the replica is beyond
/// <c>max-lag</c> or cannot reach the read's txid within <c>wait-timeout</c>, else it is served locally. Nothing is
/// ever retried: a write might run twice. Requests go on as the client sent them, its Host header included (YARP's
/// <see cref="HttpTransformer.Empty"/> and transformers derived from the base class), so an application builds its
/// links and cookies for the address its users typed, on whichever node serves them; one sent to the primary carries
/// the mark of <see cref="ToPrimaryTransformer"/>.
/// </summary>
public sealed class ProxyRequestHandler(
    ILitecastNode node,
    ProxyConfig config,
    IHttpForwarder forwarder,
    HttpMessageInvoker application,
    HttpMessageInvoker primary,
    PrimaryProxyLocator? locator,
    ProxyMetrics metrics,
    Action<string> log)
{
    private readonly PassthroughPatterns _passthrough = new(config.Passthrough);
    private readonly PrimaryWriteTransformer _primaryWrite = new(node, config, metrics, log);
    private readonly string _target = config.Target.GetLeftPart(UriPartial.Authority);


    public async Task HandleAsync(HttpContext context)
    {
        try
        {
            await RouteAsync(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left while its read waited: nobody to answer.
        }
    }

    private async Task RouteAsync(HttpContext context)
    {
        var request = context.Request;
        if (_passthrough.Matches(request.Path.Value ?? "/"))
        {
            await ToApplicationAsync(context, RequestKind.Passthrough, HttpTransformer.Empty);
            return;
        }
        var kind = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)
            ? RequestKind.Read
            : RequestKind.Write;
        bool onPrimary = config.Db.Role == DbRole.Primary;
        if (kind == RequestKind.Write)
        {
            if (onPrimary) await ToApplicationAsync(context, kind, _primaryWrite);
            else await ToPrimaryAsync(context, kind);
            return;
        }

        if (!TxidCarrier.TryRead(request, out var txid, out var txidError))
        {
            metrics.Request(kind, RequestOutcome.BadRequest);
            await ProxyAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, txidError);
            return;
        }
        var status = await node.StatusAsync(config.Db, context.RequestAborted);
        ulong servedAt = status.Txid;
        if (!onPrimary)
        {
            if (config.MaxLag is { } maxLag && (status.LagMs is not { } lag || lag > maxLag.TotalMilliseconds))
            {
                metrics.ReadToPrimary("max_lag");
                await ToPrimaryAsync(context, kind);
                return;
            }
            if (txid is { } wanted && wanted > servedAt)
            {
                var clock = Stopwatch.StartNew();
                var reached = await node.WaitAsync(config.Db, wanted, null, config.WaitTimeout, context.RequestAborted);
                metrics.Waited("read", clock.Elapsed);
                if (reached is null)
                {
                    metrics.ReadToPrimary("wait_timeout");
                    await ToPrimaryAsync(context, kind);
                    return;
                }
                servedAt = reached.Txid;
            }
        }
        await ToApplicationAsync(context, kind, new ServedAtTransformer(servedAt));
    }

    private async Task ToApplicationAsync(HttpContext context, RequestKind kind, HttpTransformer transformer)
    {
        var error = await forwarder.SendAsync(context, _target, application, ForwarderRequestConfig.Empty, transformer);
        if (error == ForwarderError.None)
        {
            metrics.Request(kind, context.Items.ContainsKey(PrimaryWriteTransformer.WriteAckTimedOut) ? RequestOutcome.AckTimeout : RequestOutcome.Local);
            return;
        }
        metrics.Request(kind, RequestOutcome.ApplicationUnreachable);
        await ForwardFailedAsync(context, StatusCodes.Status502BadGateway, $"the application at {_target} did not answer ({error}): {Describe(context)}");
    }

    private async Task ToPrimaryAsync(HttpContext context, RequestKind kind)
    {
        if (context.Request.Headers.ContainsKey(ToPrimaryTransformer.HeaderName))
        {
            metrics.Request(kind, RequestOutcome.Loop);
            await ProxyAnswers.ErrorAsync(context, StatusCodes.Status508LoopDetected,
                $"a request marked {ToPrimaryTransformer.HeaderName} (sent by a replica's proxy to the primary's) reached this replica's proxy: " +
                $"is the primary's proxy.public-url this node's ({config.Db.Upstream!.Origin} advertises it), or did the client send the header itself?");
            return;
        }
        PrimaryProxy primaryProxy;
        try
        {
            primaryProxy = await locator!.LocateAsync(context.RequestAborted);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            metrics.Request(kind, RequestOutcome.PrimaryUnreachable);
            await ProxyAnswers.ErrorAsync(context, StatusCodes.Status503ServiceUnavailable,
                $"the primary's proxy cannot be found through {config.Db.Upstream!.Origin}: {e.Message}");
            return;
        }
        var url = primaryProxy.Url;
        var error = await forwarder.SendAsync(context, url.GetLeftPart(UriPartial.Authority), primary,
            IsStream(context.Request) ? ForwarderRequestConfig.Empty : ToPrimary(primaryProxy), ToPrimaryTransformer.Instance);
        if (error == ForwarderError.None)
        {
            metrics.Request(kind, RequestOutcome.Primary);
            return;
        }
        locator.Forget();
        metrics.Request(kind, RequestOutcome.PrimaryUnreachable);
        await ForwardFailedAsync(context, StatusCodes.Status503ServiceUnavailable,
            $"the primary's proxy at {url} did not answer ({error}): {Describe(context)}; the request was not retried");
    }

    /// <summary>
    /// How long a request forwarded to the primary's proxy may go without an answer: the primary's proxy may hold a
    /// write for its wait-timeout (write-ack) before it answers, which can be longer than this proxy's; longer than
    /// that with no answer at all, it is gone. A WebSocket or an event stream may be silent for longer: it keeps
    /// YARP's default (100 s).
    /// </summary>
    private ForwarderRequestConfig ToPrimary(PrimaryProxy primaryProxy)
    {
        var held = primaryProxy.WaitTimeout is { } theirs && theirs > config.WaitTimeout ? theirs : config.WaitTimeout;
        return new ForwarderRequestConfig { ActivityTimeout = 2 * held + TimeSpan.FromSeconds(1) };
    }

    /// <summary>
    /// A request YARP could not forward, unless the client went away: one log line (YARP's own warning, with a stack
    /// trace, is filtered out), and the answer <paramref name="status"/> when the application's had not begun.
    /// </summary>
    private async Task ForwardFailedAsync(HttpContext context, int status, string message)
    {
        if (context.RequestAborted.IsCancellationRequested) return;
        log($"proxy: {context.Request.Method} {context.Request.Path}: {message}");
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        await ProxyAnswers.ErrorAsync(context, status, message);
    }

    private static bool IsStream(HttpRequest request) =>
        request.Headers.Upgrade.Count > 0 || request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase);

    private static string Describe(HttpContext context) =>
        context.Features.Get<IForwarderErrorFeature>()?.Exception?.Message ?? "no detail";
}

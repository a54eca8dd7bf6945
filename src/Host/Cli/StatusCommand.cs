using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Litecast.Host.Http;
using Litecast.Host.Security;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Litecast.Host.Cli;

/// <summary>
/// <c>litecast status</c>: asks a node's admin endpoint for <c>GET /status</c> and prints its databases (name, role,
/// generation, txid, lag, health), with each primary's replicas listed under it and a bar for a resync in flight;
/// with <c>-watch</c>, the same view kept live until Ctrl-C.
/// </summary>
public static class StatusClient
{
    /// <summary>How long to wait for the node's answer.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often <c>-watch</c> asks again.</summary>
    public static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>Runs the command against the real console; returns the exit code.</summary>
    public static int Run(StatusCommand command)
    {
        using var http = Client("status", command.CaPath, command.Token);
        if (http is null) return 1;
        using var stop = CancelOnCtrlC();
        return (command.Watch
            ? WatchAsync(command.Url, Terminal(), http, stop.Token)
            : RunAsync(command.Url, Terminal(), Console.Error, stop.Token, http)).GetAwaiter().GetResult();
    }

    /// <summary>The console; plain and wide when the output is a pipe or a file, where Spectre would otherwise wrap
    /// the table to 80 columns.</summary>
    internal static IAnsiConsole Terminal() => Console.IsOutputRedirected ? PlainConsole(Console.Out) : AnsiConsole.Console;

    /// <summary>The client <c>status</c> and <c>resync</c> use: trusting the CA at <paramref name="caPath"/> (its
    /// certificate file, or the directory <c>cert ca</c> wrote) when given,
    /// sending <paramref name="token"/>; null (the error said) when the CA file cannot be used.</summary>
    internal static HttpClient? Client(string command, string? caPath, string? token)
    {
        try
        {
            return AdminHttpClient.Create(caPath is null ? null : TlsFiles.LoadAuthority(CertificateAuthority.CertificateFile(caPath)), token, RequestTimeout);
        }
        catch (TlsFileException e)
        {
            Console.Error.WriteLine($"litecast {command}: -ca {e.Message}");
            return null;
        }
    }

    /// <summary>Cancelled by the first Ctrl-C (the process then ends normally, with the view's last state on screen).</summary>
    internal static CancellationTokenSource CancelOnCtrlC()
    {
        var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        return stop;
    }

    /// <summary>
    /// Fetches <c>{url}/status</c> and renders it to <paramref name="output"/>; 0 on success, 1 (with a message naming
    /// the URL on <paramref name="error"/>) when the node cannot be reached or answers something unexpected.
    /// </summary>
    public static async Task<int> RunAsync(Uri url, IAnsiConsole output, TextWriter error, CancellationToken cancellation,
        HttpClient? http = null)
    {
        using var ownClient = http is null ? new HttpClient { Timeout = RequestTimeout } : null;
        var (status, problem) = await FetchAsync(http ?? ownClient!, url, cancellation);
        if (status is null)
        {
            await error.WriteLineAsync($"litecast status: {problem}");
            return 1;
        }
        Render(status, output);
        return 0;
    }

    /// <summary><c>-watch</c>: the view, asked again every <see cref="WatchInterval"/> and redrawn in place (printed
    /// again when the output is not a terminal); a node that stops answering is said in the view, not fatal.</summary>
    public static async Task<int> WatchAsync(Uri url, IAnsiConsole output, HttpClient http, CancellationToken cancellation)
    {
        async Task<IRenderable> Next()
        {
            var (status, problem) = await FetchAsync(http, url, cancellation);
            var header = new Markup($"[grey]{DateTime.Now:HH:mm:ss} · {Markup.Escape(url.ToString())} · Ctrl-C stops[/]");
            return status is null ? new Rows(header, new Markup($"[red]{Markup.Escape(problem!)}[/]")) : new Rows(header, View(status));
        }
        try
        {
            if (output.Profile.Capabilities.Interactive)
            {
                await output.Live(await Next()).StartAsync(async context =>
                {
                    while (!cancellation.IsCancellationRequested)
                    {
                        await Task.Delay(WatchInterval, cancellation);
                        context.UpdateTarget(await Next());
                    }
                });
            }
            else
            {
                while (!cancellation.IsCancellationRequested)
                {
                    output.Write(await Next());
                    output.WriteLine();
                    await Task.Delay(WatchInterval * 2, cancellation);
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
        return 0;
    }

    /// <summary><c>{url}/status</c>, or why not (naming the URL).</summary>
    internal static async Task<(StatusResponse? Status, string? Problem)> FetchAsync(HttpClient http, Uri url, CancellationToken cancellation)
    {
        var statusUrl = Under(url, "status");
        try
        {
            using var response = await http.GetAsync(statusUrl, cancellation);
            if (!response.IsSuccessStatusCode)
                return (null, await RefusalAsync(statusUrl, response, cancellation));
            var status = await response.Content.ReadFromJsonAsync(AdminJsonContext.Default.StatusResponse, cancellation);
            return status?.Dbs is null || status.Node is null
                ? (null, $"{statusUrl} did not answer a Litecast status document")
                : (status, null);
        }
        catch (HttpRequestException e)
        {
            // Only when nothing answered: after a refused certificate or a failed handshake, something listens there.
            var hint = e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                ? "\nIs `litecast replicate` running there, and is that its `addr`? Use -url to point elsewhere."
                : "";
            return (null, $"cannot reach {statusUrl}: {AdminHttpClient.Describe(e, statusUrl)}{hint}");
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return (null, $"no answer from {statusUrl} within {RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s");
        }
        catch (JsonException e)
        {
            return (null, $"{statusUrl} did not answer a Litecast status document: {e.Message}");
        }
    }

    /// <summary>
    /// A node's answer other than 2xx, in words naming <paramref name="url"/>: the status, then the <c>error</c> of the
    /// admin endpoint's JSON body, or else the start of the body (a proxy's HTML page, say, or another server's); and for
    /// a missing or wrong token, how to give one.
    /// </summary>
    internal static async Task<string> RefusalAsync(Uri url, HttpResponseMessage response, CancellationToken cancellation)
    {
        string body = await response.Content.ReadAsStringAsync(cancellation);
        string refusal = $"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}: {ErrorOf(body) ?? Trim(body)}";
        return response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? $"{refusal}\nPass the node's auth.token with -token, or set ${CommandLine.TokenEnvironmentVariable}."
            : refusal;
    }

    /// <summary>The <c>error</c> of an admin endpoint's error document; null when <paramref name="body"/> is not one.</summary>
    private static string? ErrorOf(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, AdminJsonContext.Default.ErrorResponse)?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary><paramref name="path"/> under the node's URL, whether or not it ends with a slash.</summary>
    internal static Uri Under(Uri url, string path) =>
        url.AbsolutePath.EndsWith('/') ? new Uri(url, path) : new Uri(new Uri(url.GetLeftPart(UriPartial.Path) + "/"), path);

    /// <summary>Renders <paramref name="status"/> as a table.</summary>
    public static void Render(StatusResponse status, IAnsiConsole output) => output.Write(View(status));

    /// <summary>The node, its databases (with each primary's replicas under it, a bar per resync in flight and the last
    /// scrub's verdict), the SQLite version and the cluster's members.</summary>
    public static IRenderable View(StatusResponse status)
    {
        var node = new Markup($"[bold]node[/] {Markup.Escape(status.Node)}");
        if (status.Dbs.Count == 0)
            return new Rows(node, new Text("no databases configured"));
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "DATABASE", "ROLE", "GENERATION", "TXID", "LAG", "STATE", "HEALTH" })
            table.AddColumn(new TableColumn(column).NoWrap());
        table.Columns[3].RightAligned();
        foreach (var db in status.Dbs)
        {
            table.AddRow(
                Cell(db.Name),
                Cell(db.Role),
                Cell(db.Generation),
                Cell(db.Txid.ToString(CultureInfo.InvariantCulture)),
                Cell(db.Role == "primary" ? "-" : Lag(db.LagMs, db.LagTxids)),
                Cell(db.State ?? "-"),
                db.Healthy ? new Markup("[green]ok[/]") : new Markup($"[red]UNHEALTHY[/] {Markup.Escape(db.Problem ?? "")}"));
            if (db.Resync is { } resync)
                table.AddRow(Cell("  resync"), new Markup(ResyncBar(resync)), Cell(""), Cell(""), Cell(""), Cell(""), Cell(""));
            if (db.LastScrub is { } scrub)
                table.AddRow(Cell("  scrub"), new Markup(scrub.Sound ? "[green]sound[/]" : "[red]DAMAGED[/]"), Cell(""),
                    Cell(scrub.Txid.ToString(CultureInfo.InvariantCulture)), Cell(""), Cell(""),
                    Cell($"{scrub.Pages.ToString(CultureInfo.InvariantCulture)} pages, {Ago(scrub.At)}"));
            foreach (var replica in db.Replicas ?? [])
            {
                ulong? behind = replica.Txid >= db.Txid ? 0 : db.Txid - replica.Txid;
                table.AddRow(
                    Cell($"  └ {replica.Node}"),
                    Cell(replica.Resyncing ? "resyncing" : "replica"),
                    Cell(""),
                    Cell(replica.Txid.ToString(CultureInfo.InvariantCulture)),
                    Cell(Lag(replica.LagMs, behind)),
                    Cell(replica.State ?? ""),
                    Cell($"last seen {Ago(replica.LastSeen)}"));
            }
        }
        var versions = status.Dbs.Select(d => d.SqliteVersion).OfType<string>().Distinct()
            .Select(version => new Text($"primary SQLite version: {version}"));
        var members = status.Members.Select(m => new Markup(
            $"member {Markup.Escape(m.Address)} ({Markup.Escape(m.Roles.Count == 0 ? "replica" : string.Join(", ", m.Roles))}), {Markup.Escape(m.Status)}, "
            + (m.Reachable ? "reachable" : "[red]UNREACHABLE[/]")));
        return new Rows([node, table, .. versions, .. members]);
    }

    /// <summary>A resync's progress as one line: a bar, the share of pages done, MB fetched, rate and time left.</summary>
    internal static string ResyncBar(Litecast.Actors.ResyncProgressView p)
    {
        const int width = 24;
        var share = p.PagesTotal == 0 ? 0 : (double)p.PagesDone / p.PagesTotal;
        var filled = (int)Math.Round(share * width);
        var left = p.SecondsLeft is { } seconds ? $"~{Math.Ceiling(seconds).ToString(CultureInfo.InvariantCulture)}s left" : "time left unknown";
        return $"[blue]{new string('█', filled)}[/][grey]{new string('░', width - filled)}[/] {(share * 100).ToString("0", CultureInfo.InvariantCulture)}% " +
               $"{p.PagesDone}/{p.PagesTotal} pages, {(p.BytesReceived / 1e6).ToString("0.0", CultureInfo.InvariantCulture)} MB fetched, " +
               $"{(p.BytesPerSecond / 1e6).ToString("0.0", CultureInfo.InvariantCulture)} MB/s, {left}";
    }

    /// <summary>An <see cref="IAnsiConsole"/> writing plain text (no colours, no ANSI) to <paramref name="writer"/>.</summary>
    public static IAnsiConsole PlainConsole(TextWriter writer, int width = 200)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = width;
        return console;
    }

    private static Text Cell(string text) => new(text);

    private static string Lag(double? lagMs, ulong? lagTxids)
    {
        string time = lagMs switch
        {
            null => "?",
            < 1000 => $"{lagMs.Value.ToString("0.#", CultureInfo.InvariantCulture)}ms",
            _ => $"{(lagMs.Value / 1000).ToString("0.##", CultureInfo.InvariantCulture)}s",
        };
        return lagTxids is { } n ? $"{time} ({n.ToString(CultureInfo.InvariantCulture)} tx)" : time;
    }

    private static string Ago(DateTimeOffset when)
    {
        var age = DateTimeOffset.UtcNow - when;
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        return age.TotalSeconds < 60
            ? $"{age.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)}s ago"
            : $"{when.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z";
    }

    private static string Trim(string body)
    {
        body = body.Trim();
        return body.Length <= 300 ? body : body[..300] + "…";
    }
}

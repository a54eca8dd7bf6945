using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Security.Cryptography.X509Certificates;
using Litecast.Host.Http;
using Litecast.Host.Security;
using Spectre.Console;

namespace Litecast.Host.Cli;

/// <summary>
/// <c>litecast status</c>: asks a node's admin endpoint for <c>GET /status</c> and prints its databases (name, role,
/// generation, txid, lag, health), with each primary's replicas listed under it.
/// </summary>
public static class StatusClient
{
    /// <summary>How long to wait for the node's answer.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs the command against the real console; returns the exit code.</summary>
    public static int Run(StatusCommand command)
    {
        var console = AnsiConsole.Console;
        X509Certificate2? authority = null;
        if (command.CaPath is { } caPath)
        {
            try
            {
                authority = TlsFiles.LoadAuthority(caPath);
            }
            catch (TlsFileException e)
            {
                Console.Error.WriteLine($"litecast status: -ca {e.Message}");
                return 1;
            }
        }
        using var http = AdminHttpClient.Create(authority, command.Token, RequestTimeout);
        return RunAsync(command.Url, console, Console.Error, CancellationToken.None, http).GetAwaiter().GetResult();
    }

    /// <summary>
    /// Fetches <c>{url}/status</c> and renders it to <paramref name="output"/>; 0 on success, 1 (with a message naming
    /// the URL on <paramref name="error"/>) when the node cannot be reached or answers something unexpected.
    /// </summary>
    public static async Task<int> RunAsync(Uri url, IAnsiConsole output, TextWriter error, CancellationToken cancellation,
        HttpClient? http = null)
    {
        var statusUrl = new Uri(url, "status");
        if (!url.AbsolutePath.EndsWith('/'))
            statusUrl = new Uri(new Uri(url.GetLeftPart(UriPartial.Path) + "/"), "status");
        StatusResponse? status;
        try
        {
            using var ownClient = http is null ? new HttpClient { Timeout = RequestTimeout } : null;
            using var response = await (http ?? ownClient!).GetAsync(statusUrl, cancellation);
            if (!response.IsSuccessStatusCode)
            {
                string body = await response.Content.ReadAsStringAsync(cancellation);
                await error.WriteLineAsync(
                    $"litecast status: {statusUrl} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Trim(body)}");
                return 1;
            }
            status = await response.Content.ReadFromJsonAsync(AdminJsonContext.Default.StatusResponse, cancellation);
        }
        catch (HttpRequestException e)
        {
            await error.WriteLineAsync($"litecast status: cannot reach {statusUrl}: {e.Message}");
            await error.WriteLineAsync("Is `litecast replicate` running there, and is that its `addr`? Use -url to point elsewhere.");
            return 1;
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            await error.WriteLineAsync(
                $"litecast status: no answer from {statusUrl} within {RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s");
            return 1;
        }
        catch (JsonException e)
        {
            await error.WriteLineAsync($"litecast status: {statusUrl} did not answer a Litecast status document: {e.Message}");
            return 1;
        }
        if (status?.Dbs is null || status.Node is null)
        {
            await error.WriteLineAsync($"litecast status: {statusUrl} did not answer a Litecast status document");
            return 1;
        }
        Render(status, output);
        return 0;
    }

    /// <summary>Renders <paramref name="status"/> as a table.</summary>
    public static void Render(StatusResponse status, IAnsiConsole output)
    {
        output.MarkupLine($"[bold]node[/] {Markup.Escape(status.Node)}");
        if (status.Dbs.Count == 0)
        {
            output.WriteLine("no databases configured");
            return;
        }
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in new[] { "DATABASE", "ROLE", "GENERATION", "TXID", "LAG", "HEALTH" })
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
                db.Healthy ? new Markup("[green]ok[/]") : new Markup($"[red]UNHEALTHY[/] {Markup.Escape(db.Problem ?? "")}"));
            foreach (var replica in db.Replicas ?? [])
            {
                ulong? behind = replica.Txid >= db.Txid ? 0 : db.Txid - replica.Txid;
                table.AddRow(
                    Cell($"  └ {replica.Node}"),
                    Cell(replica.Resyncing ? "resyncing" : "replica"),
                    Cell(""),
                    Cell(replica.Txid.ToString(CultureInfo.InvariantCulture)),
                    Cell(Lag(replica.LagMs, behind)),
                    Cell($"last seen {Ago(replica.LastSeen)}"));
            }
        }
        output.Write(table);
        foreach (var version in status.Dbs.Select(d => d.SqliteVersion).OfType<string>().Distinct())
            output.MarkupLine($"primary SQLite version: {Markup.Escape(version)}");
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

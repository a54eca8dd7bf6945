using System.Net;
using System.Text;
using Litecast.Host.Proxy;
using Litecast.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;

namespace Litecast.Host.Demo;

/// <summary>
/// The demo's web application on one node: a guest book in that node's copy of the demo database. It signs (POST
/// /sign, then a redirect back to the page) only on the primary, where it opens the file read-write; everywhere it lists the
/// entries from its own node's file, read-only on replicas, as the guide asks of applications. It knows nothing of
/// replication: the node's proxy sends its writes to the primary and makes the page after a signature wait for it.
/// </summary>
internal sealed class DemoWebApp : IAsyncDisposable
{
    private const string Schema = "CREATE TABLE IF NOT EXISTS guestbook(id INTEGER PRIMARY KEY, name TEXT NOT NULL, message TEXT NOT NULL, signed TEXT NOT NULL)";

    private readonly WebApplication _app;

    private DemoWebApp(WebApplication app) => _app = app;

    /// <summary>The URL the application listens on (loopback, a port the system chose).</summary>
    public Uri Url => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Starts the guest book of node <paramref name="label"/>, whose copy of the database is <paramref name="path"/>.</summary>
    public static async Task<DemoWebApp> StartAsync(string label, string path, bool primary)
    {
        if (primary)
        {
            using var connection = SqliteConnections.OpenOrCreate(path);
            connection.Execute(Schema);
        }
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/", (HttpRequest request) => Results.Content(Page(label, path, request.Cookies[TxidCarrier.CookieName]), "text/html; charset=utf-8"));
        app.MapPost("/sign", async (HttpRequest request) =>
        {
            if (!primary)
                return Results.Text($"{label} is a replica: its copy is read-only (this request should have gone through the proxy)",
                    statusCode: StatusCodes.Status409Conflict);
            var form = await request.ReadFormAsync();
            using var connection = SqliteConnections.OpenExisting(path);
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO guestbook(name, message, signed) VALUES (@name, @message, datetime('now'))";
            insert.Parameters.AddWithValue("@name", Trimmed(form["name"], "anonymous"));
            insert.Parameters.AddWithValue("@message", Trimmed(form["message"], "(no message)"));
            insert.ExecuteNonQuery();
            return Results.Redirect("/", permanent: false, preserveMethod: false);
        });
        await app.StartAsync();
        return new DemoWebApp(app);
    }

    private static string Trimmed(string? text, string empty) =>
        string.IsNullOrWhiteSpace(text) ? empty : text.Trim()[..Math.Min(text.Trim().Length, 200)];

    private static string Page(string label, string path, string? lastWrite)
    {
        var html = new StringBuilder();
        html.Append($"<!doctype html><title>Litecast guest book ({label})</title>")
            .Append("<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}li{margin:.3em 0}small{color:#666}</style>")
            .Append($"<h1>Guest book, served by {label}</h1>")
            .Append("<p><small>Read from this node's own copy of the database. Signing through a replica's proxy goes to the primary; ")
            .Append("the page you come back to waits until this copy has your entry.");
        if (lastWrite is not null) html.Append($" Your last signature is txid {WebUtility.HtmlEncode(lastWrite)}.");
        html.Append("</small></p>")
            .Append("<form method=post action=/sign><input name=name placeholder=name> <input name=message placeholder=message size=30> ")
            .Append("<button>Sign</button></form><ul>");
        try
        {
            using var connection = SqliteConnections.OpenReadOnly(path);
            using var query = connection.CreateCommand();
            query.CommandText = "SELECT name, message, signed FROM guestbook ORDER BY id DESC LIMIT 20";
            using var rows = query.ExecuteReader();
            while (rows.Read())
                html.Append($"<li><b>{WebUtility.HtmlEncode(rows.GetString(0))}</b>: {WebUtility.HtmlEncode(rows.GetString(1))} <small>{rows.GetString(2)} UTC</small></li>");
        }
        catch (SqliteException e)
        {
            // A replica before its first copy has no table (or no file) yet.
            html.Append($"<li><small>no guest book here yet ({WebUtility.HtmlEncode(e.Message)})</small></li>");
        }
        return html.Append("</ul>").ToString();
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Litecast.Actors;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;
using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Spectre.Console;

namespace Litecast.Host.Demo;

/// <summary>
/// <c>litecast demo</c>: a primary and two replicas in this process (three cluster nodes on loopback, configured the
/// way the user's guide configures them), a built-in application writing the primary, and a live view of positions,
/// lag and row counts read from each replica file.
/// </summary>
internal static class DemoRunner
{
    private const string DatabaseName = "demo.db";

    // The live view is the demo's output; the nodes' own log lines are collected and printed at the end.
    private const string QuietAkka = "akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR\nakka.remote.log-remote-lifecycle-events = off";

    public static async Task<int> RunAsync(DemoCommand command)
    {
        var root = Path.GetFullPath(command.Dir);
        var primaryPath = Path.Combine(root, "primary", DatabaseName);
        var replicaPaths = new[] { Path.Combine(root, "replica1", DatabaseName), Path.Combine(root, "replica2", DatabaseName) };
        // A busy -addr (9090 by default) or a -dir that is a file ended the demo with a stack trace (a black-box review).
        try
        {
            ListenCheck.EnsureCanListen("-addr", "-addr", command.Addr.Host, command.Addr.Port);
            if (File.Exists(root)) throw new IOException($"-dir {root} is a file, not a directory");
            foreach (var path in replicaPaths.Append(primaryPath)) Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"litecast: cannot start: {e.Message}");
            return 1;
        }

        using var cancel = new CancellationTokenSource();
        if (command.Duration is { } duration) cancel.CancelAfter(duration);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cancel.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });

        var log = new List<string>();
        void Log(string line) { lock (log) log.Add($"{DateTime.Now:HH:mm:ss} {line}"); }

        using var app = OpenApplication(primaryPath);
        var writer = Task.Run(() => Write(app, cancel.Token));
        await using var web = await DemoProxies.StartAppsAsync([("primary", primaryPath), ("replica1", replicaPaths[0]), ("replica2", replicaPaths[1])]);

        var security = command.Tls ? DemoSecurity.Create(Path.Combine(root, "tls"), ["primary", "replica1", "replica2"]) : null;
        var primaryConfig = web.WithProxy(Config(primaryPath, command.Addr, upstream: null, security, "primary"), 0);
        LitecastNode primary;
        try
        {
            primary = LitecastNode.Start(primaryConfig, Log, QuietAkka);
        }
        catch (IOException e)
        {
            // Another demo runs in this directory: its nodes hold the databases.
            Console.Error.WriteLine($"litecast: cannot start: {e.Message}");
            await cancel.CancelAsync();
            await writer;
            return 1;
        }
        var server = AdminServer.Build(command.Addr, primary, security: ReplicateRunner.Security(primaryConfig));
        await server.StartAsync();
        var primaryUrl = server.BaseUrl;
        Console.WriteLine($"Litecast demo in {root}: primary {primaryPath}, replicas {string.Join(", ", replicaPaths)}");
        var curl = security is null ? $"curl {primaryUrl}status"
            : $"curl --cacert {security.CaPath} -H \"Authorization: Bearer $(cat {security.TokenPath})\" {primaryUrl}status";
        Console.WriteLine($"Dashboard: {primaryUrl} (live view of the cluster in a browser{(security is null ? "" : $"; token in {security.TokenPath}")})");
        Console.WriteLine($"Admin endpoint: {string.Join(", ", server.Urls)} (try: {curl}). Ctrl-C stops.");

        var upstreamUrl = new Uri($"{primaryUrl.Scheme}://127.0.0.1:{primaryUrl.Port}");
        var replicaConfigs = replicaPaths.Select((path, i) => web.WithProxy(
            Config(path, null, new UpstreamConfig { Url = upstreamUrl, Path = primaryPath }, security, $"replica{i + 1}"), i + 1)).ToList();
        var replicas = replicaConfigs.Select(config => LitecastNode.Start(config, Log, QuietAkka)).ToList();
        await web.StartProxiesAsync([(primaryConfig, primary), .. replicaConfigs.Zip(replicas, (c, n) => (c, (ILitecastNode)n))], server.Metrics.Registry, Log);
        Console.WriteLine($"Guest book behind each node's proxy: {web.ProxyUrl(0)} (primary), {web.ProxyUrl(1)} and {web.ProxyUrl(2)} (replicas): sign on a replica, and the page you come back to has your entry.");
        var nodes = new List<(string Label, LitecastNode Node, string Path)> { ("primary", primary, primaryPath) };
        nodes.AddRange(replicas.Select((node, i) => ($"replica{i + 1}", node, replicaPaths[i])));

        try
        {
            await Show(nodes, log, cancel.Token);
        }
        finally
        {
            await writer;
            foreach (var (_, node, _) in nodes.AsEnumerable().Reverse()) await node.DisposeAsync();
            await server.StopAsync();
            await server.DisposeAsync();
        }
        return 0;
    }

    private static LitecastConfig Config(string path, HttpAddress? addr, UpstreamConfig? upstream, DemoSecurity? security, string node) => new()
    {
        Addr = addr,
        Dbs = [new DbConfig { Path = path, Name = DatabaseName, Upstream = upstream }],
        Cluster = new ClusterConfig { Host = "127.0.0.1", Port = 0, PortIsExplicit = true, PublicHost = "127.0.0.1" },
        Tls = security?.Tls[node],
        Auth = security?.Auth,
    };

    /// <summary>The demo's application: it owns the primary database, as a real application would.</summary>
    private static SqliteConnection OpenApplication(string path)
    {
        var connection = SqliteConnections.OpenOrCreate(path);
        connection.Execute("PRAGMA journal_mode = WAL");
        connection.Execute("PRAGMA busy_timeout = 5000");
        connection.Execute("CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL, amount INTEGER NOT NULL, created TEXT NOT NULL)");
        return connection;
    }

    /// <summary>About 20 small transactions a second, and a larger one now and then.</summary>
    private static async Task Write(SqliteConnection app, CancellationToken cancellation)
    {
        string[] items = ["coffee", "tea", "bagel", "muffin", "juice"];
        var n = 0;
        while (!cancellation.IsCancellationRequested)
        {
            n++;
            using (var insert = app.CreateCommand())
            {
                insert.CommandText = n % 100 == 0
                    ? "INSERT INTO orders(item, amount, created) SELECT 'bulk', 1, datetime('now') FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c)"
                    : "INSERT INTO orders(item, amount, created) VALUES (@item, @amount, datetime('now'))";
                insert.Parameters.AddWithValue("@item", items[n % items.Length]);
                insert.Parameters.AddWithValue("@amount", n % 17 + 1);
                insert.ExecuteNonQuery();
            }
            try { await Task.Delay(50, cancellation); }
            catch (OperationCanceledException) { return; }
        }
    }

    private static async Task Show(List<(string Label, LitecastNode Node, string Path)> nodes, List<string> log, CancellationToken cancellation)
    {
        var interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        var table = new Table().AddColumns("node", "role", "generation", "txid", "lag", "rows", "status");
        if (interactive)
        {
            await AnsiConsole.Live(table).StartAsync(async context =>
            {
                while (!cancellation.IsCancellationRequested)
                {
                    table.Rows.Clear();
                    foreach (var row in await Rows(nodes)) table.AddRow(row.Select(Markup.Escape).ToArray());
                    context.Refresh();
                    try { await Task.Delay(500, cancellation); }
                    catch (OperationCanceledException) { }
                }
            });
        }
        else
        {
            while (!cancellation.IsCancellationRequested)
            {
                foreach (var row in await Rows(nodes)) Console.WriteLine(string.Join("  ", row));
                Console.WriteLine();
                try { await Task.Delay(1000, cancellation); }
                catch (OperationCanceledException) { }
            }
        }
        lock (log) foreach (var line in log) Console.WriteLine(line);
    }

    private static async Task<List<string[]>> Rows(List<(string Label, LitecastNode Node, string Path)> nodes)
    {
        var rows = new List<string[]>();
        foreach (var (label, node, path) in nodes)
        {
            var status = await node.StatusAsync(node.Databases[0], CancellationToken.None);
            var lag = status.Role == "primary"
                ? string.Join(" ", status.Replicas.Select(r => r.LagMs is { } ms ? $"{ms:F1}ms" : "-"))
                : status.LagTxids is { } txids ? $"{txids} tx" : "-";
            rows.Add([label, status.Role, $"{status.Generation:x16}", status.Txid.ToString(), lag, CountRows(path), status.Healthy ? "ok" : status.Problem ?? "?"]);
        }
        return rows;
    }

    /// <summary>Row count read through a read-only connection, as an application on that server would read.</summary>
    private static string CountRows(string path)
    {
        if (!File.Exists(path)) return "-";
        try
        {
            using var connection = SqliteConnections.OpenReadOnly(path);
            return connection.Scalar<long>("SELECT count(*) FROM orders").ToString();
        }
        catch (SqliteException e)
        {
            return e.SqliteErrorCode == 1 ? "-" : "error " + e.SqliteErrorCode;
        }
    }
}

using System.Diagnostics;
using System.Net;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// An <see cref="EndToEndCluster"/> whose three nodes each run a proxy in front of their own application
/// (<see cref="ProxyTestApp"/>): node 0 is the primary, nodes 1 and 2 its replicas. <paramref name="extra"/> gives
/// each node's further proxy keys (YAML lines at the section's indentation); <paramref name="secure"/> makes the
/// cluster <see cref="EndToEndCluster"/>'s secure one (mutual TLS, HTTPS admin endpoints, a token on every route).
/// </summary>
public sealed class ProxyCluster : IDisposable
{
    public const string Schema = "db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')";
    private static readonly string[] Names = ["primary", "replica1", "replica2"];

    public readonly EndToEndCluster Cluster;
    public readonly int[] ProxyPorts = [Ports.Free(), Ports.Free(), Ports.Free()];
    private readonly int[] _appPorts = [Ports.Free(), Ports.Free(), Ports.Free()];
    public readonly ProxyTestApp?[] Apps = new ProxyTestApp?[3];

    /// <summary>A client that keeps no cookies (as an API client), and one that does (as a browser).</summary>
    public readonly HttpClient Api = new(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
    public readonly HttpClient Browser = new(new SocketsHttpHandler { CookieContainer = new CookieContainer() }) { Timeout = TimeSpan.FromSeconds(30) };

    public ProxyCluster(Func<int, string>? extra = null, bool secure = false)
    {
        Cluster = new EndToEndCluster(secure);
        for (var node = 0; node < 3; node++)
            File.AppendAllText(Path.Combine(Cluster.Root, Names[node], "litecast.yml"), $"""

                proxy:
                  addr: "127.0.0.1:{ProxyPorts[node]}"
                  target: "localhost:{_appPorts[node]}"
                  db: db
                  passthrough: ["/static/*"]
                {extra?.Invoke(node) ?? ""}
                """);
    }

    public string ProxyUrl(int node) => $"http://127.0.0.1:{ProxyPorts[node]}";

    public string Db(int node) => node == 0 ? Cluster.PrimaryDb : Cluster.ReplicaDb(node - 1);

    /// <summary>Starts the primary and <paramref name="replicas"/> replicas, each node's application, and waits until
    /// every proxy answers and the replicas hold the schema.</summary>
    public async Task StartAsync(int replicas, TimeSpan timeout)
    {
        for (var node = 0; node <= replicas; node++)
            Apps[node] = new ProxyTestApp(Path.Combine(Cluster.Root, Names[node]), _appPorts[node], Db(node), Names[node], writable: node == 0);
        await Cluster.StartAsync(Schema, replicas, timeout);
        for (var node = 0; node <= replicas; node++)
        {
            var process = node == 0 ? Cluster.Primary! : Cluster.Replicas[node - 1]!;
            await Cluster.WaitHealthyAsync($"{ProxyUrl(node)}/static/up", timeout, () => process.Output);
        }
    }

    /// <summary>Inserts <paramref name="text"/> through <paramref name="node"/>'s proxy: the row's id, the answer.</summary>
    public async Task<(long Id, HttpResponseMessage Response)> WriteAsync(HttpClient client, int node, string text)
    {
        var response = await client.PostAsync($"{ProxyUrl(node)}/rows", new StringContent(text));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST through node {node}: {(int)response.StatusCode} {body}\n{Outputs()}");
        return (System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64(), response);
    }

    /// <summary>The value of a response's single header <paramref name="name"/>.</summary>
    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    /// <summary>Every node's output and its application's errors, for a failure message.</summary>
    public string Outputs() => string.Join("\n", Enumerable.Range(0, 3).Select(node =>
        $"--- {Names[node]} ---\n{(node == 0 ? Cluster.Primary : Cluster.Replicas[node - 1])?.Output}\n{Apps[node]?.Errors}"));

    /// <summary>Holds <paramref name="db"/>'s write lock from another process (as a reader that took BEGIN IMMEDIATE):
    /// a replica then cannot apply. Dispose to release it.</summary>
    public static IDisposable HoldWriteLock(string db)
    {
        var release = db + ".release-" + Guid.NewGuid().ToString("N");
        var holder = Process.Start(new ProcessStartInfo("python3")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        holder.StandardInput.Write($"""
            import os, sqlite3, time
            db = sqlite3.connect({System.Text.Json.JsonSerializer.Serialize(db)}, isolation_level=None, timeout=10)
            db.execute('BEGIN IMMEDIATE')
            print('locked', flush=True)
            while not os.path.exists({System.Text.Json.JsonSerializer.Serialize(release)}): time.sleep(0.05)
            db.execute('ROLLBACK')
            """);
        holder.StandardInput.Close();
        Assert.Equal("locked", holder.StandardOutput.ReadLine());
        return new Release(() =>
        {
            File.WriteAllText(release, "");
            holder.WaitForExit();
            holder.Dispose();
        });
    }

    private sealed class Release(Action release) : IDisposable
    {
        public void Dispose() => release();
    }

    public void Dispose()
    {
        foreach (var app in Apps) app?.Dispose();
        Api.Dispose();
        Browser.Dispose();
        Cluster.Dispose();
    }
}

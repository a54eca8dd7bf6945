using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Three <c>litecast replicate</c> processes on loopback — a primary and two replicas configured as the user's guide
/// configures them, plus distinct ports — and an application that writes the primary from another process with
/// Python's own SQLite. Made <paramref name="secure"/>, every node has a certificate from one CA (by <c>litecast
/// cert</c>, or by <paramref name="pki"/>), the admin endpoints serve HTTPS, and every route needs the token, which the
/// nodes read from <c>$LITECAST_TOKEN</c>.
/// </summary>
public sealed class EndToEndCluster : IDisposable
{
    public readonly string Root = Path.Combine(Path.GetTempPath(), "litecast-e2e-" + Guid.NewGuid().ToString("N"));
    public readonly int PrimaryHttpPort = Ports.Free();
    public readonly int PrimaryClusterPort = Ports.Free();
    public readonly int[] ReplicaHttpPorts = [Ports.Free(), Ports.Free()];
    public LitecastProcess? Primary { get; private set; }
    public LitecastProcess?[] Replicas { get; } = new LitecastProcess?[2];

    /// <summary>The certificates of a secure cluster (null otherwise).</summary>
    public readonly TestPki? Pki;

    /// <summary>The admin token of a secure cluster (null otherwise).</summary>
    public readonly string? Token;

    public readonly HttpClient Http;

    public EndToEndCluster(bool secure = false, Func<string, TestPki>? pki = null)
    {
        if (secure)
        {
            var pkiDirectory = Path.Combine(Root, "pki");
            Pki = pki?.Invoke(pkiDirectory) ?? TestPki.FromLitecast(pkiDirectory, "primary", "replica1", "replica2");
            Token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        }
        Http = Pki?.Client(Token) ?? new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        Directory.CreateDirectory(Root);
        foreach (var dir in new[] { "primary", "replica1", "replica2" }) Directory.CreateDirectory(Path.Combine(Root, dir));
        File.WriteAllText(Path.Combine(Root, "primary", "litecast.yml"), $"""
            addr: "127.0.0.1:{PrimaryHttpPort}"
            dbs:
              - path: {PrimaryDb}
            cluster:
              host: 127.0.0.1
              port: {PrimaryClusterPort}
            {Security("primary")}
            """);
        for (var i = 0; i < 2; i++)
            File.WriteAllText(Path.Combine(Root, $"replica{i + 1}", "litecast.yml"), $"""
                addr: "127.0.0.1:{ReplicaHttpPorts[i]}"
                dbs:
                  - path: {ReplicaDb(i)}
                    upstream:
                      url: {Scheme}://$PRIMARY_HOSTNAME:{PrimaryHttpPort}
                      path: {PrimaryDb}
                {Security($"replica{i + 1}")}
                """);
    }

    private string Security(string node) => Pki is null ? "" : Pki.TlsSection(node) + "\nauth:\n  token: ${LITECAST_TOKEN}\n  protect-reads: true\n";

    private string Scheme => Pki is null ? "http" : "https";

    public string PrimaryDb => Path.Combine(Root, "primary", "db");
    public string ReplicaDb(int index) => Path.Combine(Root, $"replica{index + 1}", "db");
    public string PrimaryUrl => $"{Scheme}://127.0.0.1:{PrimaryHttpPort}";
    public string ReplicaUrl(int index) => $"{Scheme}://127.0.0.1:{ReplicaHttpPorts[index]}";

    /// <summary>The environment every node of this cluster runs with.</summary>
    public Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string> { ["PRIMARY_HOSTNAME"] = "127.0.0.1" };
        if (Token is not null) environment["LITECAST_TOKEN"] = Token;
        return environment;
    }

    public void StartPrimary()
    {
        Primary = LitecastProcess.Start(Path.Combine(Root, "primary"), Environment(), "replicate");
    }

    public void StartReplica(int index)
    {
        Replicas[index] = LitecastProcess.Start(Path.Combine(Root, $"replica{index + 1}"), Environment(), "replicate");
    }

    /// <summary>
    /// Creates the application's schema (Python, as <see cref="App"/>), starts the primary and the first
    /// <paramref name="replicas"/> replicas, and waits until they hold it.
    /// </summary>
    public async Task StartAsync(string schema, int replicas, TimeSpan timeout)
    {
        App(schema);
        StartPrimary();
        await WaitHealthyAsync($"{PrimaryUrl}/healthz", timeout, () => Primary!.Output);
        for (var i = 0; i < replicas; i++) StartReplica(i);
        await WaitForReplicasAsync(await SyncAsync(), timeout);
    }

    /// <summary>Runs Python code against the primary as the application: its own SQLite library, its own process.</summary>
    public string App(string code)
    {
        var script = $"""
            import sqlite3, sys
            db = sqlite3.connect({JsonSerializer.Serialize(PrimaryDb)}, isolation_level=None, timeout=10)
            db.execute("PRAGMA busy_timeout = 5000")
            db.execute("PRAGMA journal_mode = WAL")
            {code}
            db.close()
            """;
        return Python(script);
    }

    public static string Python(string script)
    {
        var info = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        process.StandardInput.Write(script);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"python failed ({process.ExitCode}): {error}\n{script}");
        return output.Trim();
    }

    /// <summary>Reads a replica as its application would: read-only, through Python's SQLite.</summary>
    public static string ReadOnlyQuery(string path, string sql) => Python($"""
        import sqlite3
        db = sqlite3.connect("file:" + {JsonSerializer.Serialize(path)} + "?mode=ro", uri=True)
        print(db.execute({JsonSerializer.Serialize(sql)}).fetchone()[0])
        """);

    public async Task<JsonElement> GetJsonAsync(string url)
    {
        var response = await Http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    /// <summary>The primary's bookmark: the txid including every commit made so far.</summary>
    public async Task<long> SyncAsync()
    {
        HttpResponseMessage response;
        try { response = await Http.PostAsync($"{PrimaryUrl}/dbs/db/sync", null); }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new TimeoutException($"sync: {e.Message}\n--- primary output ---\n{Primary?.Output}", e);
        }
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"sync: {(int)response.StatusCode} {body}\n{Primary?.Output}");
        return JsonDocument.Parse(body).RootElement.GetProperty("txid").GetInt64();
    }

    /// <summary>Waits until every started replica reports the bookmark (the read-your-writes path) and, when given,
    /// <paramref name="also"/> holds for it.</summary>
    public async Task WaitForReplicasAsync(long txid, TimeSpan timeout, Func<int, bool>? also = null)
    {
        for (var i = 0; i < Replicas.Length; i++)
        {
            if (Replicas[i] is null) continue;
            var watch = Stopwatch.StartNew();
            while (true)
            {
                HttpResponseMessage? response = null;
                try { response = await Http.GetAsync($"{ReplicaUrl(i)}/dbs/db/wait?txid={txid}&timeout=2s"); }
                catch (HttpRequestException) { }
                if (response?.StatusCode == HttpStatusCode.OK && (also?.Invoke(i) ?? true)) break;
                if (watch.Elapsed > timeout)
                    throw new TimeoutException($"replica {i + 1} did not reach txid {txid}: {(response is null ? "unreachable" : (int)response.StatusCode)}\n" +
                                               $"--- replica output ---\n{Replicas[i]?.Output}\n--- primary output ---\n{Primary?.Output}");
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Polls until the URL answers 200.</summary>
    public async Task WaitHealthyAsync(string url, TimeSpan timeout, Func<string> output)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var response = await Http.GetAsync(url);
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            if (watch.Elapsed > timeout) throw new TimeoutException($"{url} did not become healthy\n{output()}");
            await Task.Delay(200);
        }
    }

    public void Dispose()
    {
        foreach (var process in Replicas.Append(Primary)) process?.Dispose();
        Http.Dispose();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}

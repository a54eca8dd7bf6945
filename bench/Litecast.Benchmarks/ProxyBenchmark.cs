using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Litecast.Storage;
using Litecast.Tests.Shared;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

/// <summary>
/// The proxy's cost (`proxy` mode): a primary and two replicas (real `litecast replicate` processes, each with a
/// proxy), and each node's application in this process (Kestrel, reading its node's file read-only, writing on the
/// primary). Measured one request at a time, after a warm-up: a read served by a replica's application directly and
/// through its proxy (the proxy's own overhead); a write through the primary's proxy and through a replica's (forwarded);
/// and a write through one replica followed by a read of its row through another carrying the txid (read-your-writes),
/// with the proxy's own record of how long those reads waited; last, a write through the primary's proxy with
/// <c>write-ack: 1</c> (the primary restarted with it).
/// </summary>
internal sealed class ProxyBenchmark(bool smoke, int runs, TextWriter output)
{
    private int Requests => smoke ? 50 : 2000;
    private int Warmup => smoke ? 10 : 500;

    public int Run()
    {
        var root = Path.Combine(Path.GetTempPath(), "litecast-proxybench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var rows = new List<(string Name, List<double> P50, List<double> P99)>();
        void Add(string name, List<double> sorted, int run)
        {
            if (rows.FirstOrDefault(r => r.Name == name) is not { Name: not null } row)
                rows.Add(row = (name, [], []));
            row.P50.Add(sorted[sorted.Count / 2]);
            row.P99.Add(sorted[(int)(sorted.Count * 0.99)]);
            output.WriteLine($"run {run + 1}: {name}: p50 {sorted[sorted.Count / 2]:F3} ms, p99 {sorted[(int)(sorted.Count * 0.99)]:F3} ms");
        }
        var waits = new List<double>();
        try
        {
            for (var run = 0; run < runs; run++)
            {
                using var cluster = new BenchCluster(Path.Combine(root, $"run{run}"));
                var proxyPorts = new[] { Ports.Free(), Ports.Free(), Ports.Free() };
                var appPorts = new[] { Ports.Free(), Ports.Free(), Ports.Free() };
                var dbs = new[] { cluster.PrimaryDb, cluster.ReplicaDb(0), cluster.ReplicaDb(1) };
                string[] names = ["primary", "replica1", "replica2"];
                for (var node = 0; node < 3; node++)
                    File.AppendAllText(Path.Combine(cluster.Root, names[node], "litecast.yml"),
                        $"\nproxy:\n  addr: \"127.0.0.1:{proxyPorts[node]}\"\n  target: \"127.0.0.1:{appPorts[node]}\"\n  db: db\n");
                using (var schema = SqliteConnections.OpenOrCreate(cluster.PrimaryDb))
                {
                    schema.Execute("PRAGMA journal_mode = WAL");
                    schema.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
                    schema.Execute("INSERT INTO t(v) VALUES ('first')");
                }
                var apps = Enumerable.Range(0, 3).Select(node => StartApp(appPorts[node], dbs[node], writable: node == 0)).ToList();
                try
                {
                    cluster.StartPrimary();
                    cluster.StartReplica(0);
                    cluster.StartReplica(1);
                    cluster.WaitCaughtUp(TimeSpan.FromSeconds(60));
                    using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
                    string Proxy(int node) => $"http://127.0.0.1:{proxyPorts[node]}";
                    WaitAnswers(http, $"{Proxy(1)}/rows/1");
                    WaitAnswers(http, $"{Proxy(2)}/rows/1");

                    Add("read, replica's application directly", Time(http, () => Get(http, $"http://127.0.0.1:{appPorts[1]}/rows/1")), run);
                    Add("read through the replica's proxy (served locally)", Time(http, () => Get(http, $"{Proxy(1)}/rows/1")), run);
                    Add("write, primary's application directly", Time(http, () => Post(http, $"http://127.0.0.1:{appPorts[0]}/rows")), run);
                    Add("write through the primary's proxy (with /sync)", Time(http, () => Post(http, $"{Proxy(0)}/rows")), run);
                    Add("write through a replica's proxy (forwarded)", Time(http, () => Post(http, $"{Proxy(1)}/rows")), run);

                    // Read-your-writes: only the read is timed; its wait is the proxy's histogram on replica 2.
                    var (countBefore, sumBefore) = WaitMetric(cluster, 1);
                    var readAfterWrite = new List<double>();
                    for (var i = 0; i < Warmup + Requests; i++)
                    {
                        var (id, txid) = Post(http, $"{Proxy(1)}/rows");
                        var read = new HttpRequestMessage(HttpMethod.Get, $"{Proxy(2)}/rows/{id}");
                        read.Headers.Add("Litecast-Txid", txid);
                        var clock = Stopwatch.StartNew();
                        using var answer = http.Send(read);
                        var body = answer.Content.ReadAsStringAsync().Result;
                        if (answer.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"read of row {id} at txid {txid}: {(int)answer.StatusCode} {body}");
                        if (i >= Warmup) readAfterWrite.Add(clock.Elapsed.TotalMilliseconds);
                    }
                    readAfterWrite.Sort();
                    Add("read through another replica's proxy right after the write, with its txid", readAfterWrite, run);
                    var (countAfter, sumAfter) = WaitMetric(cluster, 1);
                    var meanWait = countAfter > countBefore ? (sumAfter - sumBefore) / (countAfter - countBefore) * 1000 : 0;
                    waits.Add(meanWait);
                    output.WriteLine($"run {run + 1}: {countAfter - countBefore} of {Warmup + Requests} reads waited (the others' txid had arrived), mean wait {meanWait:F3} ms");

                    // Write acknowledgement: the primary restarted with write-ack 1 (its proxy section is the file's last).
                    cluster.Primary!.Stop();
                    File.AppendAllText(Path.Combine(cluster.Root, "primary", "litecast.yml"), "  write-ack: 1\n");
                    cluster.StartPrimary();
                    cluster.WaitCaughtUp(TimeSpan.FromSeconds(60));
                    WaitAnswers(http, $"{Proxy(0)}/rows/1");
                    Add("write through the primary's proxy, write-ack: 1 (held until a replica applied it)", Time(http, () => Post(http, $"{Proxy(0)}/rows")), run);
                }
                finally
                {
                    foreach (var app in apps) app.DisposeAsync().AsTask().Wait();
                }
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }

        output.WriteLine();
        output.WriteLine($"Proxy: {Requests} sequential requests per figure after {Warmup} of warm-up, {runs} run(s); median of the runs' percentiles (min-max).");
        output.WriteLine();
        output.WriteLine("| request | p50 ms | p99 ms |");
        output.WriteLine("|---|---|---|");
        foreach (var (name, p50, p99) in rows)
            output.WriteLine($"| {name} | {Stats.Median(p50):F3} ({p50.Min():F3}-{p50.Max():F3}) | {Stats.Median(p99):F3} ({p99.Min():F3}-{p99.Max():F3}) |");
        output.WriteLine($"| mean wait of a read-your-writes read that had to wait (litecast_proxy_wait_seconds) | {Stats.Median(waits):F3} | |");
        return 0;
    }

    private List<double> Time(HttpClient http, Action request)
    {
        var times = new List<double>();
        for (var i = 0; i < Warmup + Requests; i++)
        {
            var clock = Stopwatch.StartNew();
            request();
            if (i >= Warmup) times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times;
    }

    private static void Get(HttpClient http, string url)
    {
        using var response = http.GetAsync(url).Result;
        var body = response.Content.ReadAsStringAsync().Result;
        if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"GET {url}: {(int)response.StatusCode} {body}");
    }

    private static (long Id, string Txid) Post(HttpClient http, string url)
    {
        using var response = http.PostAsync(url, new StringContent("row")).Result;
        var body = response.Content.ReadAsStringAsync().Result;
        if (response.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"POST {url}: {(int)response.StatusCode} {body}");
        var txid = response.Headers.TryGetValues("Litecast-Txid", out var values) ? values.Single() : "";
        return (long.Parse(body, CultureInfo.InvariantCulture), txid);
    }

    private static void WaitAnswers(HttpClient http, string url)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Get(http, url);
                return;
            }
            catch (Exception e) when (e is HttpRequestException or AggregateException or InvalidOperationException && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                Thread.Sleep(200);
            }
        }
    }

    /// <summary>Replica <paramref name="replica"/>'s count and sum of read waits.</summary>
    private static (double Count, double Sum) WaitMetric(BenchCluster cluster, int replica) =>
        (cluster.Metric(cluster.ReplicaUrl(replica), "litecast_proxy_wait_seconds_count"),
         cluster.Metric(cluster.ReplicaUrl(replica), "litecast_proxy_wait_seconds_sum"));

    /// <summary>A node's application: GET /rows/{id} from its file, POST /rows inserts (primary only) and answers the id.</summary>
    private static WebApplication StartApp(int port, string db, bool writable)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.MapGet("/rows/{id:long}", (long id) =>
        {
            using var connection = SqliteConnections.OpenReadOnly(db);
            using var query = connection.CreateCommand();
            query.CommandText = "SELECT v FROM t WHERE id = @id";
            query.Parameters.AddWithValue("@id", id);
            return query.ExecuteScalar() is string v ? Results.Text(v) : Results.NotFound();
        });
        app.MapPost("/rows", async (HttpRequest request) =>
        {
            if (!writable) return Results.Conflict("read-only");
            var text = await new StreamReader(request.Body).ReadToEndAsync();
            using var connection = SqliteConnections.OpenExisting(db);
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO t(v) VALUES (@v) RETURNING id";
            insert.Parameters.AddWithValue("@v", text);
            return Results.Text(((long)insert.ExecuteScalar()!).ToString(CultureInfo.InvariantCulture), statusCode: StatusCodes.Status201Created);
        });
        app.StartAsync().Wait();
        return app;
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 14 with real processes: three nodes, each with its own application (Python, writing its node's database on
/// the primary, reading it read-only on the replicas) behind its node's proxy.
/// </summary>
public sealed class ProxyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task WritesThroughAReplicaLandOnThePrimaryAndAnotherReplicaReadsThem500TimesOutOf500()
    {
        using var proxies = new ProxyCluster();
        await proxies.StartAsync(replicas: 2, Converge);

        // A write through replica 1's proxy is the primary's application's, and its row is in the primary's file.
        var (first, written) = await proxies.WriteAsync(proxies.Api, 1, "through replica1");
        Assert.Equal("primary", ProxyCluster.Header(written, "X-App-Node"));
        Assert.Equal("through replica1", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.PrimaryDb, $"SELECT v FROM t WHERE id = {first}"));
        var txid = ulong.Parse(ProxyCluster.Header(written, "Litecast-Txid"));
        Assert.Contains(written.Headers.GetValues("Set-Cookie"), c => c.StartsWith($"litecast-txid={txid};"));

        // Each write through replica 1, then at once a read of its row through replica 2, carrying the txid in the header
        // (an API client without cookies) or in the cookie (a browser): every read sees its write.
        var servedBy = new Dictionary<string, int>();
        var waits = new List<double>();
        for (var i = 0; i < 500; i++)
        {
            var viaCookie = i % 2 == 1;
            var client = viaCookie ? proxies.Browser : proxies.Api;
            var (id, response) = await proxies.WriteAsync(client, 1, $"row {i}");
            var bookmark = ProxyCluster.Header(response, "Litecast-Txid");
            var read = new HttpRequestMessage(HttpMethod.Get, $"{proxies.ProxyUrl(2)}/rows/{id}");
            if (!viaCookie) read.Headers.Add("Litecast-Txid", bookmark);
            var clock = Stopwatch.StartNew();
            var answer = await client.SendAsync(read);
            waits.Add(clock.Elapsed.TotalMilliseconds);
            var body = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"read {i} ({(viaCookie ? "cookie" : "header")}, txid {bookmark}): {(int)answer.StatusCode} {body}");
            Assert.Equal($"row {i}", JsonDocument.Parse(body).RootElement.GetProperty("v").GetString());
            Assert.True(ulong.Parse(ProxyCluster.Header(answer, "Litecast-Txid")) >= ulong.Parse(bookmark));
            var node = ProxyCluster.Header(answer, "X-App-Node");
            servedBy[node] = servedBy.GetValueOrDefault(node) + 1;
        }
        waits.Sort();
        output.WriteLine($"reads served by: {string.Join(", ", servedBy.Select(kv => $"{kv.Key} {kv.Value}"))}; " +
                         $"read after write p50 {waits[250]:F1} ms, p99 {waits[495]:F1} ms");
        // The replica serves them itself (a read goes to the primary only when its txid takes longer than wait-timeout).
        Assert.True(servedBy.GetValueOrDefault("replica2") >= 490, $"served by {string.Join(", ", servedBy)}");

        // Reads without a txid are served locally at once and stamped with the position; passthrough paths too.
        var plain = await proxies.Api.GetAsync($"{proxies.ProxyUrl(2)}/rows/{first}");
        Assert.Equal("replica2", ProxyCluster.Header(plain, "X-App-Node"));
        Assert.True(ulong.Parse(ProxyCluster.Header(plain, "Litecast-Txid")) > txid);
        Assert.Equal("static from replica1", await proxies.Api.GetStringAsync($"{proxies.ProxyUrl(1)}/static/app.js"));

        // The counters and the addresses.
        var metrics = await proxies.Cluster.Http.GetStringAsync($"{proxies.Cluster.ReplicaUrl(0)}/metrics");
        Assert.Contains("litecast_proxy_requests_total{kind=\"write\",outcome=\"primary\"} 501", metrics);
        var readsOn2 = await proxies.Cluster.Http.GetStringAsync($"{proxies.Cluster.ReplicaUrl(1)}/metrics");
        // Only reads that arrive before their txid wait, so the count is at most the 500 reads that carried one (often
        // far fewer: the replica is usually ahead of the next request), and the series exists even at zero.
        var readWaits = Regex.Match(readsOn2, "^litecast_proxy_wait_seconds_count\\{for=\"read\"\\} (\\d+)$", RegexOptions.Multiline);
        Assert.True(readWaits.Success, "no read wait count in replica 2's /metrics");
        Assert.InRange(int.Parse(readWaits.Groups[1].Value), 0, 500);
        var primaryMetrics = await proxies.Cluster.Http.GetStringAsync($"{proxies.Cluster.PrimaryUrl}/metrics");
        Assert.Contains("litecast_proxy_requests_total{kind=\"write\",outcome=\"local\"} 501", primaryMetrics);
        var status = await proxies.Cluster.GetJsonAsync($"{proxies.Cluster.ReplicaUrl(0)}/status");
        Assert.Equal($"{proxies.ProxyUrl(1)}/", status.GetProperty("proxy").GetString());
        Assert.Equal("501", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.PrimaryDb, "SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task InASecureClusterAReplicasProxyFindsThePrimarysThroughHttpsAndTheToken()
    {
        using var proxies = new ProxyCluster(secure: true);
        await proxies.StartAsync(replicas: 2, Converge);
        var (id, written) = await proxies.WriteAsync(proxies.Api, 1, "secure write");
        Assert.Equal("primary", ProxyCluster.Header(written, "X-App-Node"));
        var read = new HttpRequestMessage(HttpMethod.Get, $"{proxies.ProxyUrl(2)}/rows/{id}");
        read.Headers.Add("Litecast-Txid", ProxyCluster.Header(written, "Litecast-Txid"));
        var answer = await proxies.Api.SendAsync(read);
        Assert.Equal("secure write", JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("v").GetString());
        Assert.Equal("replica2", ProxyCluster.Header(answer, "X-App-Node"));
        Assert.DoesNotContain(proxies.Cluster.Token!, proxies.Outputs());
    }

    [Fact]
    public async Task WebSocketEchoAndServerSentEventsThroughAReplicasProxy()
    {
        using var proxies = new ProxyCluster();
        await proxies.StartAsync(replicas: 1, Converge);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{proxies.ProxyPorts[1]}/ws"), CancellationToken.None);
        foreach (var message in new[] { "hello", "through the proxy", new string('x', 1000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, CancellationToken.None);
            var buffer = new byte[4096];
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
            Assert.True(received.EndOfMessage);
            Assert.Equal($"replica1: {message}", Encoding.UTF8.GetString(buffer, 0, received.Count));
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        // Server-sent events stream through: the first event arrives while the application still holds the second.
        using var events = await proxies.Api.GetAsync($"{proxies.ProxyUrl(1)}/events", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        var clock = Stopwatch.StartNew();
        Assert.Equal("data: replica1 event 0", await reader.ReadLineAsync());
        var first = clock.Elapsed;
        Assert.Equal("", await reader.ReadLineAsync());
        Assert.Equal("data: replica1 event 1", await reader.ReadLineAsync());
        Assert.True(first < TimeSpan.FromMilliseconds(700), $"the first event took {first}: buffered?");
        Assert.True(clock.Elapsed > TimeSpan.FromMilliseconds(800), $"both events within {clock.Elapsed}");
    }

    [Fact]
    public async Task AReplicaHeldBehindBeyondMaxLagSendsReadsToThePrimary()
    {
        using var proxies = new ProxyCluster(node => "  max-lag: 1s\n  wait-timeout: 1s");
        await proxies.StartAsync(replicas: 1, Converge);
        var (before, _) = await proxies.WriteAsync(proxies.Api, 0, "before");
        await proxies.Cluster.WaitForReplicasAsync(await proxies.Cluster.SyncAsync(), Converge);
        var local = await proxies.Api.GetAsync($"{proxies.ProxyUrl(1)}/rows/{before}");
        Assert.Equal("replica1", ProxyCluster.Header(local, "X-App-Node"));

        using (ProxyCluster.HoldWriteLock(proxies.Cluster.ReplicaDb(0)))
        {
            var (held, _) = await proxies.WriteAsync(proxies.Api, 0, "while held");
            // Once the replica's data is older than max-lag, its proxy sends every read to the primary: the row it
            // cannot have yet is read there, and so is the old one.
            var clock = Stopwatch.StartNew();
            HttpResponseMessage answer;
            while (true)
            {
                answer = await proxies.Api.GetAsync($"{proxies.ProxyUrl(1)}/rows/{held}");
                if (ProxyCluster.Header(answer, "X-App-Node") == "primary") break;
                Assert.True(clock.Elapsed < Converge, $"reads stayed on the held replica: {(int)answer.StatusCode}\n{proxies.Outputs()}");
                await Task.Delay(100);
            }
            output.WriteLine($"reads went to the primary {clock.ElapsedMilliseconds} ms after the held write");
            Assert.Equal("while held", JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("v").GetString());
            var old = await proxies.Api.GetAsync($"{proxies.ProxyUrl(1)}/rows/{before}");
            Assert.Equal("primary", ProxyCluster.Header(old, "X-App-Node"));
            Assert.Equal("0", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.ReplicaDb(0), $"SELECT count(*) FROM t WHERE id = {held}"));
            var metrics = await proxies.Cluster.Http.GetStringAsync($"{proxies.Cluster.ReplicaUrl(0)}/metrics");
            Assert.Contains("litecast_proxy_reads_to_primary_total{reason=\"max_lag\"}", metrics);
        }

        // Released, the replica catches up and serves its reads again.
        var back = Stopwatch.StartNew();
        while (ProxyCluster.Header(await proxies.Api.GetAsync($"{proxies.ProxyUrl(1)}/rows/{before}"), "X-App-Node") != "replica1")
        {
            Assert.True(back.Elapsed < Converge, $"reads never came back to the replica\n{proxies.Outputs()}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task WriteAckHoldsTheResponseUntilAReplicaHasTheRow()
    {
        using var proxies = new ProxyCluster(node => "  write-ack: 1\n  wait-timeout: 2s");
        await proxies.StartAsync(replicas: 1, Converge);

        // Every acknowledged write is already in the replica's file when its answer arrives.
        for (var i = 0; i < 50; i++)
        {
            var (id, _) = await proxies.WriteAsync(proxies.Api, i % 2 == 0 ? 0 : 1, $"acked {i}");
            Assert.Equal($"acked {i}", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.ReplicaDb(0), $"SELECT v FROM t WHERE id = {id}"));
        }

        // With the replica unable to apply, the write commits on the primary but its answer is a 504 after wait-timeout.
        using (ProxyCluster.HoldWriteLock(proxies.Cluster.ReplicaDb(0)))
        {
            var clock = Stopwatch.StartNew();
            var response = await proxies.Api.PostAsync($"{proxies.ProxyUrl(0)}/rows", new StringContent("unacknowledged"));
            var elapsed = clock.Elapsed;
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.Contains("the write committed at txid", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
            Assert.InRange(elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(5));
            Assert.NotEmpty(ProxyCluster.Header(response, "Litecast-Txid"));
            Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.PrimaryDb, "SELECT count(*) FROM t WHERE v = 'unacknowledged'"));
            var metrics = await proxies.Cluster.Http.GetStringAsync($"{proxies.Cluster.PrimaryUrl}/metrics");
            Assert.Contains("litecast_proxy_requests_total{kind=\"write\",outcome=\"ack_timeout\"} 1", metrics);
        }
    }

    /// <summary>
    /// A write forwarded by a replica's proxy waits as long as the primary's proxy may hold it (its own wait-timeout,
    /// under write-ack), not the replica's: with a shorter one the replica answered 503 "not retried" with a
    /// Retry-After for a write that had committed (a black-box review), inviting the client to write it twice.
    /// </summary>
    [Fact]
    public async Task AForwardedWriteWaitsForThePrimarysWriteAckEvenWithAShorterWaitTimeoutOnTheReplica()
    {
        using var proxies = new ProxyCluster(node => node == 0 ? "  write-ack: 1\n  wait-timeout: 5s" : "  wait-timeout: 1s");
        await proxies.StartAsync(replicas: 1, Converge);
        using (ProxyCluster.HoldWriteLock(proxies.Cluster.ReplicaDb(0)))
        {
            var clock = Stopwatch.StartNew();
            var response = await proxies.Api.PostAsync($"{proxies.ProxyUrl(1)}/rows", new StringContent("committed, not acknowledged"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"{(int)response.StatusCode} {body}\n{proxies.Outputs()}");
            Assert.Contains("the write committed at txid", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4.9), TimeSpan.FromSeconds(15));
        }
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.PrimaryDb, "SELECT count(*) FROM t WHERE v = 'committed, not acknowledged'"));
    }

    [Fact]
    public async Task PrimaryDownIsA503WithinTheTimeoutAndAnApplicationDownA502()
    {
        using var proxies = new ProxyCluster(node => "  wait-timeout: 2s");
        await proxies.StartAsync(replicas: 2, Converge);
        await proxies.WriteAsync(proxies.Api, 1, "before");

        // A primary that accepts connections but never answers (frozen): a 503 once the primary has been silent for
        // twice wait-timeout and a second (it may hold a write for wait-timeout under write-ack), never a hang.
        proxies.Cluster.Primary!.Signal("STOP");
        var clock = Stopwatch.StartNew();
        var frozen = await proxies.Api.PostAsync($"{proxies.ProxyUrl(1)}/rows", new StringContent("while frozen"));
        var elapsed = clock.Elapsed;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, frozen.StatusCode);
        Assert.Equal("1", ProxyCluster.Header(frozen, "Retry-After"));
        Assert.Contains($"the primary's proxy at {proxies.ProxyUrl(0)}/ did not answer",
            JsonDocument.Parse(await frozen.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        Assert.InRange(elapsed, TimeSpan.FromSeconds(4.5), TimeSpan.FromSeconds(7));

        // A primary that is gone: refused at once.
        proxies.Cluster.Primary!.Kill();
        clock.Restart();
        var response = await proxies.Api.PostAsync($"{proxies.ProxyUrl(1)}/rows", new StringContent("while down"));
        elapsed = clock.Elapsed;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", ProxyCluster.Header(response, "Retry-After"));
        // The failed forward made the proxy forget the primary's address; asking the primary's admin endpoint again fails too.
        Assert.Contains($"the primary's proxy cannot be found through {proxies.Cluster.PrimaryUrl}",
            JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"503 after {elapsed}");
        Assert.Equal("0", EndToEndCluster.ReadOnlyQuery(proxies.Cluster.PrimaryDb, "SELECT count(*) FROM t WHERE v IN ('while down', 'while frozen')"));
        // Reads are still served by the replicas.
        var read = await proxies.Api.GetAsync($"{proxies.ProxyUrl(2)}/rows/1");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);

        proxies.Apps[2]!.Stop();
        var gateway = await proxies.Api.GetAsync($"{proxies.ProxyUrl(2)}/rows/1");
        Assert.Equal(HttpStatusCode.BadGateway, gateway.StatusCode);
        Assert.Contains("the application at http://localhost:", await gateway.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheDemosGuestBookSignedOnAReplicaIsOnThePageOfAnother()
    {
        var dir = Path.Combine(Path.GetTempPath(), "litecast-demo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var demo = LitecastProcess.Start(dir, null, "demo", "-duration", "60s", "-addr", "127.0.0.1:0");
            var clock = Stopwatch.StartNew();
            System.Text.RegularExpressions.Match line;
            while (!(line = System.Text.RegularExpressions.Regex.Match(demo.Output,
                       @"Guest book behind each node's proxy: (\S+) \(primary\), (\S+) and (\S+) \(replicas\)")).Success)
            {
                Assert.True(clock.Elapsed < Converge && !demo.HasExited, demo.Output);
                await Task.Delay(200);
            }
            var (replica1, replica2) = (line.Groups[2].Value, line.Groups[3].Value);
            using var browser = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false });

            // The demo prints its proxies' addresses as soon as the replicas start, before they have joined and copied the
            // database: a read that waits longer than the proxy's wait-timeout (5 s) for a signature is served by the
            // primary instead (its page says "served by primary"), which a loaded machine made happen. As a visitor
            // would, open replica2's page first, until it shows its own copy of the guest book.
            string page;
            while ((page = await browser.GetStringAsync(replica2)).Contains("no guest book here yet"))
            {
                Assert.True(clock.Elapsed < Converge && !demo.HasExited, $"{page}\n{demo.Output}");
                await Task.Delay(200);
            }
            Assert.Contains("served by replica2", page);

            HttpResponseMessage signed;
            while (true)
            {
                signed = await browser.PostAsync($"{replica1}sign", new FormUrlEncodedContent(
                    new Dictionary<string, string> { ["name"] = "ann", ["message"] = "signed on replica1" }));
                if (signed.StatusCode == HttpStatusCode.Redirect) break;
                Assert.True(clock.Elapsed < Converge, $"{(int)signed.StatusCode} {await signed.Content.ReadAsStringAsync()}\n{demo.Output}");
                await Task.Delay(500);
            }
            Assert.StartsWith("litecast-txid=", signed.Headers.GetValues("Set-Cookie").Single());
            page = await browser.GetStringAsync(replica2);
            Assert.Contains("served by replica2", page);
            Assert.Contains("<b>ann</b>: signed on replica1", page);
            Assert.Contains($"Your last signature is txid {ProxyCluster.Header(signed, "Litecast-Txid")}", page);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

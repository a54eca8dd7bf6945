using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 13 with real processes: mutual TLS between nodes (certificates from <c>openssl</c> and from <c>litecast
/// cert</c>), nodes without a certificate from the cluster's CA kept out, and the admin endpoint's HTTPS and token.
/// </summary>
public class SecurityTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);
    private const string Schema = "db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')";

    [Fact]
    public async Task ReplicatesOverMutualTlsWithOpensslCertificates()
    {
        // The primary and replica2 with RSA 2048 keys (PKCS#8), replica1 with an EC P-256 key in openssl's own form.
        using var cluster = new EndToEndCluster(secure: true, pki: dir => TestPki.FromOpenssl(dir, "primary", "replica1", "replica2"));
        await cluster.StartAsync(Schema, replicas: 2, Converge);
        cluster.App("for i in range(100): db.execute('INSERT INTO t(v) VALUES (?)', ('row %d' % i,))");
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        for (var i = 0; i < 2; i++)
            Assert.Equal("100", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(i), "SELECT count(*) FROM t"));

        var node = (await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/cluster")).GetProperty("node").GetString();
        Assert.StartsWith("akka.ssl.tcp://litecast@", node);
        var logs = cluster.Primary!.Output + cluster.Replicas[0]!.Output + cluster.Replicas[1]!.Output;
        Assert.DoesNotContain(cluster.Token!, logs);
        Assert.DoesNotContain("refused the cluster connection", logs);
        // Each new replica's first resync fetched its pages from the primary's admin endpoint, over HTTPS with the token.
        for (var i = 0; i < 2; i++)
        {
            Assert.Matches(@"\([1-9][0-9]* bytes of them fetched from the primary's admin endpoint\)", cluster.Replicas[i]!.Output);
            Assert.DoesNotContain("fetching resync pages from the primary failed", cluster.Replicas[i]!.Output);
        }
    }

    [Fact]
    public async Task NodesWithoutACertificateFromTheClusterCaNeverJoin()
    {
        using var cluster = new EndToEndCluster(secure: true);
        await cluster.StartAsync(Schema, replicas: 1, Converge);
        var pki = cluster.Pki!;
        var seed = $"akka.ssl.tcp://litecast@127.0.0.1:{cluster.PrimaryClusterPort}";

        // A node with no tls at all, and one from another cluster (its certificate and CA are another CA's; a node
        // whose certificate does not chain to its own tls.ca refuses to start). Each would be the primary of its own
        // database, which it opens only once it is a member.
        var strangerPki = TestPki.FromLitecast(Path.Combine(cluster.Root, "stranger-pki"), "stranger");
        var plain = StartIntruder(cluster, "plain", seed.Replace("akka.ssl.tcp", "akka.tcp"), tls: "");
        var stranger = StartIntruder(cluster, "stranger", seed, tls: $"""
            tls:
              cert: {strangerPki.CertPath("stranger")}
              key: {strangerPki.KeyPath("stranger")}
              ca: {strangerPki.CaPath}
            """);

        // An expired certificate from the cluster's own CA never gets as far as a handshake: the node refuses to start.
        pki.IssueExpired("expired");
        var expiredConfig = Path.Combine(cluster.Root, "expired.yml");
        File.WriteAllText(expiredConfig, $"dbs:\n  - path: {Path.Combine(cluster.Root, "expired.db")}\n{pki.TlsSection("expired")}\n");
        var (expiredExit, expiredOutput) = LitecastProcess.Run(cluster.Root, "replicate", "-config", expiredConfig);
        Assert.Equal(1, expiredExit);
        Assert.Contains("tls.cert", expiredOutput);
        Assert.Contains("would be refused by its peers", expiredOutput);

        // Both intruders give up joining (15 s, then a new incarnation tries), and the primary said why it refused the stranger.
        var watch = Stopwatch.StartNew();
        while (!(plain.Output.Contains("could not join the cluster") && stranger.Output.Contains("could not join the cluster")))
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), $"the intruders kept trying\n--- plain ---\n{plain.Output}\n--- stranger ---\n{stranger.Output}");
            await Task.Delay(500);
        }
        output.WriteLine(cluster.Primary!.Output);
        Assert.Contains("TLS: refused the cluster connection", cluster.Primary.Output);
        Assert.Contains("does not chain to the cluster CA", cluster.Primary.Output);
        // Both retried every second for 15 s or more; the log says so once per peer and 30 s.
        Assert.InRange(Count(cluster.Primary.Output, "TLS: refused the cluster connection"), 1, 2);
        Assert.InRange(Count(cluster.Primary.Output, "TLS handshake failed on channel"), 1, 2);
        foreach (var intruder in new[] { plain, stranger })
            Assert.DoesNotContain("joined the cluster", intruder.Output);
        foreach (var name in new[] { "plain", "stranger", "expired" })
            Assert.False(File.Exists(Path.Combine(cluster.Root, name + ".db")), $"{name}'s database file was created");

        // The primary knows only its real replica, which still follows it.
        var replicas = (await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status")).GetProperty("dbs")[0].GetProperty("replicas");
        Assert.Equal(1, replicas.GetArrayLength());
        cluster.App("db.execute(\"INSERT INTO t(v) VALUES ('after the intruders')\")");
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
        plain.Dispose();
        stranger.Dispose();
    }

    private static int Count(string text, string part) => text.Split(part).Length - 1;

    private static LitecastProcess StartIntruder(EndToEndCluster cluster, string name, string seed, string tls)
    {
        var directory = Path.Combine(cluster.Root, name);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "litecast.yml"), $"""
            dbs:
              - path: {Path.Combine(cluster.Root, name + ".db")}
            cluster:
              host: 127.0.0.1
              port: {Ports.Free()}
              seeds: ["{seed}"]
            {tls}
            """);
        return LitecastProcess.Start(directory, null, "replicate");
    }

    [Fact]
    public async Task TheAdminEndpointServesHttpsAndNeedsTheToken()
    {
        using var cluster = new EndToEndCluster(secure: true);
        await cluster.StartAsync(Schema, replicas: 1, Converge);
        var pki = cluster.Pki!;

        // HTTPS with the configured certificate.
        X509Certificate2? served = null;
        using var probe = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) => { served = certificate is null ? null : new X509Certificate2(certificate); return true; },
        });
        using var unauthorized = await probe.GetAsync($"{cluster.PrimaryUrl}/status");
        Assert.Equal(X509Certificate2.CreateFromPem(File.ReadAllText(pki.CertPath("primary"))).Thumbprint, served?.Thumbprint);

        // protect-reads: a GET without the token is refused, as the usual JSON error.
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.True(JsonDocument.Parse(await unauthorized.Content.ReadAsStringAsync()).RootElement.TryGetProperty("error", out _));

        using var noToken = pki.Client(token: null);
        using var wrongToken = pki.Client(token: "wrong");
        var resync = $"{cluster.ReplicaUrl(0)}/dbs/db/resync";
        Assert.Equal(HttpStatusCode.Unauthorized, (await noToken.PostAsync(resync, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await wrongToken.PostAsync(resync, null)).StatusCode);
        var accepted = await cluster.Http.PostAsync(resync, null);
        Assert.True(accepted.IsSuccessStatusCode, $"{(int)accepted.StatusCode} {await accepted.Content.ReadAsStringAsync()}");
        // The resync the token allowed completes: the replica holds the rows again.
        cluster.App("db.execute(\"INSERT INTO t(v) VALUES ('after the resync')\")");
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));

        // litecast status: the token from $LITECAST_TOKEN, the certificate checked against -ca.
        var environment = new Dictionary<string, string> { ["LITECAST_TOKEN"] = cluster.Token! };
        var (statusExit, statusOutput) = LitecastProcess.Run(cluster.Root, environment, "status", "-url", cluster.PrimaryUrl, "-ca", pki.CaPath);
        Assert.True(statusExit == 0, statusOutput);
        Assert.Contains("primary", statusOutput);
        var (refusedExit, refusedOutput) = LitecastProcess.Run(cluster.Root, "status", "-url", cluster.PrimaryUrl, "-ca", pki.CaPath);
        Assert.Equal(1, refusedExit);
        Assert.Contains("401", refusedOutput);

        Assert.DoesNotContain(cluster.Token!, cluster.Primary!.Output + cluster.Replicas[0]!.Output);
    }

    /// <summary>
    /// HEAD over HTTPS, which negotiates HTTP/2, as a load balancer's health check sends it (curl, nghttp2): the JSON
    /// documents and the error answers broke the stream (curl: PROTOCOL_ERROR, exit 92), found by a black-box review;
    /// <c>HEAD /</c> and <c>HEAD /metrics</c> worked.
    /// </summary>
    [Fact]
    public async Task HeadOverHttp2AnswersEveryDocumentAndErrorWithHeadersOnly()
    {
        using var cluster = new EndToEndCluster(secure: true);
        await cluster.StartAsync(Schema, replicas: 0, Converge);
        foreach (var (path, token, status) in new[]
                 {
                     ("/healthz", true, 200), ("/status", true, 200), ("/cluster", true, 200), ("/", true, 200), ("/metrics", true, 200),
                     ("/no-such-page", true, 404), ("/dbs/db/sync", true, 405), ("/status", false, 401),
                 })
        {
            var start = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "-sS", "--http2", "-I", "--cacert", cluster.Pki!.CaPath, "--max-time", "10" })
                start.ArgumentList.Add(argument);
            if (token)
            {
                start.ArgumentList.Add("-H");
                start.ArgumentList.Add($"Authorization: Bearer {cluster.Token}");
            }
            start.ArgumentList.Add(cluster.PrimaryUrl + path);
            using var curl = Process.Start(start)!;
            var headers = await curl.StandardOutput.ReadToEndAsync();
            var error = await curl.StandardError.ReadToEndAsync();
            await curl.WaitForExitAsync();
            Assert.True(curl.ExitCode == 0, $"HEAD {path}: curl exited {curl.ExitCode}: {error}");
            Assert.StartsWith($"HTTP/2 {status}", headers);
        }
    }
}

using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Security;

namespace Litecast.Host.Tests.Http;

/// <summary>The admin endpoint behind <c>tls</c> and <c>auth</c>: HTTPS with the node's certificate, 401 without the
/// token, 403 with a wrong one, reads open unless <c>protect-reads</c>.</summary>
public sealed class AdminSecurityTests : IDisposable
{
    private const string Token = "the-right-token";
    private readonly string _dir = Directory.CreateTempSubdirectory("litecast-admin-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(AdminServer Server, HttpClient Http)> StartAsync(bool protectReads, bool https)
    {
        X509Certificate2? certificate = null;
        if (https)
        {
            CertificateAuthority.CreateCa(_dir);
            CertificateAuthority.CreateNode(_dir, "node", [IPAddress.Loopback], [], _dir);
            certificate = TlsFiles.Load(Path.Combine(_dir, "node.pem"), Path.Combine(_dir, "node-key.pem"), Path.Combine(_dir, "ca.pem")).Certificate;
        }
        var server = AdminServer.Build(new HttpAddress("127.0.0.1", 0), new FakeNode(), security: new AdminSecurity(certificate, Token, protectReads));
        await server.StartAsync();
        var authority = https ? TlsFiles.LoadAuthority(Path.Combine(_dir, "ca.pem")) : null;
        return (server, AdminHttpClient.Create(authority, token: null, TimeSpan.FromSeconds(30)));
    }

    private static async Task<(HttpStatusCode Status, string Body)> Send(HttpClient http, HttpMethod method, Uri url, string? authorization)
    {
        var request = new HttpRequestMessage(method, url);
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PostsNeedTheTokenAndReadsDoNotByDefault()
    {
        var (server, http) = await StartAsync(protectReads: false, https: false);
        await using var _ = server;
        using var __ = http;
        var resync = new Uri(server.BaseUrl, "dbs/replica.db/resync");

        var (missing, missingBody) = await Send(http, HttpMethod.Post, resync, null);
        Assert.Equal(HttpStatusCode.Unauthorized, missing);
        Assert.Contains("needs the admin token", JsonDocument.Parse(missingBody).RootElement.GetProperty("error").GetString());

        var (wrong, wrongBody) = await Send(http, HttpMethod.Post, resync, "Bearer not-the-token");
        Assert.Equal(HttpStatusCode.Forbidden, wrong);
        Assert.DoesNotContain(Token, wrongBody);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, HttpMethod.Post, resync, "Basic dXNlcjpwYXNz")).Status);
        Assert.NotEqual(HttpStatusCode.Unauthorized, (await Send(http, HttpMethod.Post, resync, $"Bearer {Token}")).Status);
        Assert.NotEqual(HttpStatusCode.Forbidden, (await Send(http, HttpMethod.Post, resync, $"bearer {Token}")).Status);

        var (status, body) = await Send(http, HttpMethod.Get, new Uri(server.BaseUrl, "status"), null);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain(Token, body);
    }

    [Fact]
    public async Task ProtectReadsGuardsGetsOverHttpsWithTheNodesCertificate()
    {
        var (server, http) = await StartAsync(protectReads: true, https: true);
        await using var _ = server;
        using var __ = http;
        Assert.Equal("https", server.BaseUrl.Scheme);
        var status = new Uri($"https://127.0.0.1:{server.BaseUrl.Port}/status");

        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(http, HttpMethod.Get, status, null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(http, HttpMethod.Get, status, "Bearer nope")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(http, HttpMethod.Get, status, $"Bearer {Token}")).Status);

        // A client trusting only another CA refuses the server.
        var other = Path.Combine(_dir, "other");
        CertificateAuthority.CreateCa(other, "Other CA");
        using var stranger = AdminHttpClient.Create(TlsFiles.LoadAuthority(Path.Combine(other, "ca.pem")), Token, TimeSpan.FromSeconds(30));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => stranger.GetAsync(status));
        // In words: .NET's own message only says "see inner exception".
        var described = AdminHttpClient.Describe(refused, status);
        Assert.Contains(refused.InnerException!.Message, described);
        Assert.EndsWith("(the node's certificate is not trusted here: give the cluster's CA with -ca, or tls.ca in the config)", described);
    }

    private static async Task<string> StatusErrorAsync(HttpClient http, Uri url)
    {
        var error = new StringWriter();
        Assert.Equal(1, await StatusClient.RunAsync(url, StatusClient.PlainConsole(new StringWriter()), error, CancellationToken.None, http));
        return error.ToString();
    }

    /// <summary>The certificate names 127.0.0.1 only: asked for localhost, the client says so rather than blaming the
    /// CA, which is the right one; without the CA, both.</summary>
    [Fact]
    public async Task ACertificateForAnotherHostSaysSoRatherThanBlamingTheCa()
    {
        var (server, http) = await StartAsync(protectReads: false, https: true);
        await using var _ = server;
        using var __ = http;
        var localhost = new Uri($"https://localhost:{server.BaseUrl.Port}");

        var error = await StatusErrorAsync(http, localhost);
        Assert.Contains("its certificate names 127.0.0.1, not localhost (use a host name or IP address the certificate names, or make it for localhost)", error);
        Assert.DoesNotContain("-ca", error);

        using var system = AdminHttpClient.Create(null, null, TimeSpan.FromSeconds(30));
        var both = await StatusErrorAsync(system, localhost);
        Assert.Contains("does not chain to a CA this system trusts", both);
        Assert.Contains("its certificate names 127.0.0.1, not localhost", both);
        Assert.Contains("give the cluster's CA with -ca", both);
        // The node answered: not the hint for a node that is not running.
        Assert.DoesNotContain("running there", error);
        Assert.DoesNotContain("running there", both);
    }

    [Fact]
    public async Task HttpsToAPlainHttpNodeSuggestsHttp()
    {
        var (server, http) = await StartAsync(protectReads: false, https: false);
        await using var _ = server;
        using var __ = http;

        var error = await StatusErrorAsync(http, new Uri($"https://127.0.0.1:{server.BaseUrl.Port}"));
        Assert.Contains("(the node may serve plain http: try http://)", error);
        Assert.DoesNotContain("-ca", error);
        Assert.DoesNotContain("running there", error);
    }

    [Fact]
    public async Task HttpToAnHttpsNodeSuggestsHttps()
    {
        var (server, http) = await StartAsync(protectReads: false, https: true);
        await using var _ = server;
        using var __ = http;

        var error = await StatusErrorAsync(http, new Uri($"http://127.0.0.1:{server.BaseUrl.Port}"));
        Assert.Contains("The response ended prematurely", error);
        Assert.Contains("(the node may serve https: try https://)", error);
    }
}

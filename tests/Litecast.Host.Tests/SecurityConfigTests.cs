using System.Net;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;
using Litecast.Host.Security;

namespace Litecast.Host.Tests;

/// <summary>The <c>tls</c> and <c>auth</c> keys, the certificate files they name, and <c>litecast cert</c>'s parsing.</summary>
public sealed class SecurityConfigTests : IDisposable
{
    private readonly TempConfig _t = new();

    public void Dispose() => _t.Dispose();

    private string Pki()
    {
        var dir = Path.Combine(_t.Dir, "pki");
        CertificateAuthority.CreateCa(dir);
        CertificateAuthority.CreateNode(dir, "node1", [IPAddress.Loopback], ["localhost"], dir);
        return dir;
    }

    private static string Tls(string dir, string node = "node1", string ca = "ca.pem") => $"""
        tls:
          cert: {Path.Combine(dir, node + ".pem")}
          key: {Path.Combine(dir, node + "-key.pem")}
          ca: {Path.Combine(dir, ca)}
        """;

    [Fact]
    public void TlsAndAuthLoadTheFilesAndTheToken()
    {
        var dir = Pki();
        _t.Env["LITECAST_TOKEN"] = "s3cret-token";
        var config = _t.Load($"dbs: [{{path: /d}}]\n{Tls(dir)}\nauth:\n  token: ${{LITECAST_TOKEN}}\n  protect-reads: true\n");
        Assert.NotNull(config.Tls);
        Assert.Equal("CN=node1", config.Tls.Material.Certificate.Subject);
        Assert.True(config.Tls.Material.Certificate.HasPrivateKey);
        Assert.StartsWith("CN=Litecast CA ", config.Tls.Material.Authority.Subject);
        Assert.Equal(new AuthConfig("s3cret-token", true), config.Auth);
        Assert.DoesNotContain("s3cret-token", config.Auth!.ToString());
    }

    [Fact]
    public void WithoutTlsAndAuthNothingChanges()
    {
        var config = _t.Load("dbs: [{path: /d}]\n");
        Assert.Null(config.Tls);
        Assert.Null(config.Auth);
    }

    [Theory]
    [InlineData("tls:\n", "tls", "tls: is empty; set cert:, key: and ca:, or remove 'tls:' to run without TLS")]
    [InlineData("auth:\n", "auth", "auth: is empty; set token:, or remove 'auth:' to run without a token")]
    public void AnEmptySecuritySectionIsAnErrorNotPlainHttp(string section, string key, string message)
    {
        var e = _t.Fail($"dbs: [{{path: /d}}]\n{section}");
        Assert.Equal(key, e.Key);
        Assert.Equal(2, e.Line);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void AMissingTlsKeyIsNamed()
    {
        var dir = Pki();
        var e = _t.Fail($"dbs: [{{path: /d}}]\ntls:\n  cert: {dir}/node1.pem\n  key: {dir}/node1-key.pem\n");
        Assert.Equal("tls.ca", e.Key);
        Assert.Contains("missing required key 'ca'", e.Message);
    }

    [Fact]
    public void AMissingFileIsNamedWithItsKeyAndLine()
    {
        var dir = Pki();
        var e = _t.Fail($"dbs: [{{path: /d}}]\n{Tls(dir, ca: "nope.pem")}\n");
        Assert.Equal("tls.ca", e.Key);
        Assert.Equal(5, e.Line);
        Assert.Contains($"{Path.Combine(dir, "nope.pem")}: no such file", e.Message);
    }

    [Fact]
    public void AKeyOfAnotherCertificateIsRefused()
    {
        var dir = Pki();
        CertificateAuthority.CreateNode(dir, "node2", [IPAddress.Loopback], [], dir);
        var e = _t.Fail($"dbs: [{{path: /d}}]\ntls:\n  cert: {dir}/node1.pem\n  key: {dir}/node2-key.pem\n  ca: {dir}/ca.pem\n");
        Assert.Equal("tls.key", e.Key);
        Assert.Contains("not a private key for the certificate", e.Message);
    }

    [Fact]
    public void ACertificateFromAnotherCaIsRefusedAtLoad()
    {
        var dir = Pki();
        var other = Path.Combine(_t.Dir, "other");
        CertificateAuthority.CreateCa(other, "Other CA");
        var e = _t.Fail($"dbs: [{{path: /d}}]\ntls:\n  cert: {dir}/node1.pem\n  key: {dir}/node1-key.pem\n  ca: {other}/ca.pem\n");
        Assert.Equal("tls.cert", e.Key);
        Assert.Contains("does not chain to the cluster CA 'CN=Other CA'", e.Message);
    }

    [Fact]
    public void ANodeCertificateIsNotACa()
    {
        var dir = Pki();
        var e = _t.Fail($"dbs: [{{path: /d}}]\n{Tls(dir, ca: "node1.pem")}\n");
        Assert.Equal("tls.ca", e.Key);
        Assert.Contains("is not a CA certificate", e.Message);
    }

    [Fact]
    public void AnEmptyTokenNamesTheVariableProblemWithoutEchoingAnything()
    {
        var e = _t.Fail("dbs: [{path: /d}]\nauth:\n  token: ${LITECAST_TOKEN}\n");
        Assert.Equal("auth.token", e.Key);
        Assert.Contains("is an environment variable unset?", e.Message);
    }

    [Fact]
    public void ATokenIsNeverEchoedInAnError()
    {
        var e = _t.Fail("dbs: [{path: /d}]\nauth:\n  token: 'has a space'\n");
        Assert.Contains("may not contain spaces", e.Message);
        Assert.DoesNotContain("has a space", e.Message);
    }

    [Fact]
    public void ProtectReadsMustBeABoolean()
    {
        var e = _t.Fail("dbs: [{path: /d}]\nauth:\n  token: abc\n  protect-reads: maybe\n");
        Assert.Equal("auth.protect-reads", e.Key);
        Assert.Equal(4, e.Line);
    }

    [Fact]
    public void SeedsMayUseTheTlsScheme()
    {
        var config = _t.Load("dbs: [{path: /d}]\ncluster:\n  seeds: [\"akka.ssl.tcp://litecast@10.0.0.1:4053\"]\n");
        Assert.Equal("akka.ssl.tcp://litecast@10.0.0.1:4053", config.Cluster.Seeds[0]);
        Assert.Equal("akka.ssl.tcp://litecast@10.0.0.1:4053", ClusterConfig.SeedForTransport("akka.tcp://litecast@10.0.0.1:4053", tls: true));
        Assert.Equal("akka.tcp://litecast@10.0.0.1:4053", ClusterConfig.SeedForTransport("akka.ssl.tcp://litecast@10.0.0.1:4053", tls: false));
    }

    [Fact]
    public void CertCommandsParse()
    {
        Assert.Equal(new CertCaCommand("/tmp/ca"), CommandLine.Parse(["cert", "ca", "-out", "/tmp/ca"]));
        var node = Assert.IsType<CertNodeCommand>(CommandLine.Parse(
            ["cert", "node", "-ca", "/tmp/ca", "-name", "n1", "-ip", "10.0.0.1,10.0.0.2", "-ip", "::1", "-dns", "n1.local", "-out", "/tmp/n1"]));
        Assert.Equal(["10.0.0.1", "10.0.0.2", "::1"], node.Ips.Select(ip => ip.ToString()));
        Assert.Equal(["n1.local"], node.DnsNames);
        Assert.Contains("cert node needs -name", Assert.IsType<CliUsageError>(CommandLine.Parse(["cert", "node", "-ca", "x", "-out", "y"])).Message);
        Assert.Contains("cert needs a kind", Assert.IsType<CliUsageError>(CommandLine.Parse(["cert"])).Message);
        Assert.Contains("-ip: 'nope' is not an IP address", Assert.IsType<CliUsageError>(CommandLine.Parse(["cert", "node", "-ca", "x", "-name", "n", "-ip", "nope", "-out", "y"])).Message);
        Assert.Contains("cert ca takes only -out", Assert.IsType<CliUsageError>(CommandLine.Parse(["cert", "ca", "-out", "x", "-name", "n"])).Message);
        Assert.Contains("unknown cert kind 'server'", Assert.IsType<CliUsageError>(CommandLine.Parse(["cert", "server", "-out", "x"])).Message);
    }

    /// <summary>Without -ip and -dns the name is the certificate's DNS name (cert's usage says so), so it must be one,
    /// as a -dns name must; with either, it is only the subject and the file names.</summary>
    [Fact]
    public void CertNodeRefusesANameThatCannotBeTheCertificatesDnsName()
    {
        var dir = Path.Combine(_t.Dir, "pki");
        CertificateAuthority.CreateCa(dir);
        var e = Assert.IsType<CliUsageError>(CommandLine.Parse(["cert", "node", "-ca", dir, "-name", "foo bar", "-out", dir]));
        Assert.Equal("cert node: -name 'foo bar' is not a DNS name, so it cannot be the certificate's: give -ip or -dns", e.Message);
        Assert.Equal(2, Program.Main(["cert", "node", "-ca", dir, "-name", "foo bar", "-out", dir]));
        Assert.False(File.Exists(Path.Combine(dir, "foo bar.pem")));

        Assert.Equal(0, Program.Main(["cert", "node", "-ca", dir, "-name", "foo bar", "-ip", "10.0.0.1", "-out", dir]));
        Assert.True(File.Exists(Path.Combine(dir, "foo bar.pem")));
        Assert.IsType<CertNodeCommand>(CommandLine.Parse(["cert", "node", "-ca", dir, "-name", "node-1", "-out", dir]));
    }

    /// <summary><c>-ca</c> takes the CA's certificate file (what <c>tls.ca</c> names) or the directory <c>cert ca</c>
    /// wrote, in <c>cert node</c>, <c>status</c> and <c>resync</c> alike; the certificate <c>cert node</c> makes chains
    /// to that CA, and the tls section it prints names the copy of ca.pem in -out.</summary>
    [Fact]
    public void CertNodeTakesTheCasCertificateFileOrItsDirectory()
    {
        var pki = Path.Combine(_t.Dir, "pki");
        CertificateAuthority.CreateCa(pki);
        var caFile = Path.Combine(pki, CertificateAuthority.CaCertificateFile);
        var outDir = Path.Combine(_t.Dir, "node-a");
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, CertCommand.Run(new CertNodeCommand(caFile, "a", [IPAddress.Loopback], [], outDir), output, error));
        Assert.Equal("", error.ToString());
        Assert.Contains($"  ca: {Path.Combine(outDir, "ca.pem")}", output.ToString());
        var a = TlsFiles.Load(Path.Combine(outDir, "a.pem"), Path.Combine(outDir, "a-key.pem"), Path.Combine(outDir, "ca.pem"));
        Assert.Null(a.Refusal(a.Certificate));
        Assert.Equal(File.ReadAllText(caFile), File.ReadAllText(Path.Combine(outDir, "ca.pem")));

        // Written into the CA's own directory: no copy, and the tls section names the CA's file itself.
        output = new StringWriter();
        Assert.Equal(0, CertCommand.Run(new CertNodeCommand(pki, "b", [IPAddress.Loopback], [], pki), output, error));
        Assert.Contains($"  ca: {caFile}", output.ToString());
        Assert.Null(a.Refusal(TlsFiles.Load(Path.Combine(pki, "b.pem"), Path.Combine(pki, "b-key.pem"), caFile).Certificate));

        // status and resync take either too.
        using (var byFile = StatusClient.Client("status", caFile, null)) Assert.NotNull(byFile);
        using (var byDirectory = StatusClient.Client("status", pki, null)) Assert.NotNull(byDirectory);
        Assert.Null(StatusClient.Client("status", Path.Combine(_t.Dir, "nowhere"), null));

        // A certificate file with no ca-key.pem beside it: the error names the key it looked for, and nothing is written.
        var lone = Path.Combine(_t.Dir, "lone");
        Directory.CreateDirectory(lone);
        File.Copy(caFile, Path.Combine(lone, "ca.pem"));
        Assert.Equal(1, CertCommand.Run(new CertNodeCommand(Path.Combine(lone, "ca.pem"), "c", [IPAddress.Loopback], [], lone), output, error));
        Assert.Contains(Path.Combine(lone, "ca-key.pem"), error.ToString());
        Assert.False(File.Exists(Path.Combine(lone, "c.pem")));
    }

    [Fact]
    public void TheHandshakeCheckRefusesAnExpiredPeerAndOneOfAnotherCa()
    {
        var dir = Pki();
        var tls = TlsFiles.Load(Path.Combine(dir, "node1.pem"), Path.Combine(dir, "node1-key.pem"), Path.Combine(dir, "ca.pem"));
        Assert.Null(tls.Refusal(tls.Certificate));

        using var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
            Path.Combine(dir, "ca.pem"), Path.Combine(dir, "ca-key.pem"));
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=late", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var expired = request.Create(ca, ca.NotBefore, DateTimeOffset.UtcNow.AddMinutes(-1), [7]);
        // It chains to the CA: the refusal says it expired, not that it does not chain (a black-box review).
        Assert.Equal($"its certificate 'CN=late' expired on {expired.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC", tls.Refusal(expired));

        var other = Path.Combine(_t.Dir, "other");
        CertificateAuthority.CreateCa(other);
        CertificateAuthority.CreateNode(other, "stranger", [IPAddress.Loopback], [], other);
        var stranger = TlsFiles.Load(Path.Combine(other, "stranger.pem"), Path.Combine(other, "stranger-key.pem"), Path.Combine(other, "ca.pem"));
        Assert.Contains("CN=stranger", tls.Refusal(stranger.Certificate));
        Assert.Equal("it presented no certificate", tls.Refusal(null));
    }

    [Fact]
    public void CertRefusesToOverwriteACa()
    {
        var dir = Pki();
        var e = Assert.Throws<IOException>(() => CertificateAuthority.CreateCa(dir));
        Assert.Contains("already exists", e.Message);
        var mode = File.GetUnixFileMode(Path.Combine(dir, "ca-key.pem"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
    }
}

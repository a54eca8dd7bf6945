using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Certificates for the security tests, made the ways users make them: with <c>litecast cert</c> (the CLI, as a
/// process), or with <c>openssl</c> (RSA 2048 and EC P-256 keys, SANs for IPs and names, openssl's own key formats).
/// </summary>
public sealed class TestPki(string directory)
{
    public string Directory { get; } = directory;
    public string CaPath => Path.Combine(Directory, "ca.pem");
    public string CertPath(string node) => Path.Combine(Directory, node + ".pem");
    public string KeyPath(string node) => Path.Combine(Directory, node + "-key.pem");

    /// <summary>A CA and a certificate per node for 127.0.0.1 and localhost, by <c>litecast cert</c>.</summary>
    public static TestPki FromLitecast(string directory, params string[] nodes)
    {
        Run(directory, "cert", "ca", "-out", directory);
        foreach (var node in nodes) Run(directory, "cert", "node", "-ca", directory, "-name", node, "-ip", "127.0.0.1", "-dns", "localhost", "-out", directory);
        return new TestPki(directory);
    }

    /// <summary>
    /// A CA and node certificates by <c>openssl</c>: an RSA 2048 CA, even-numbered nodes with RSA 2048 keys (PKCS#8),
    /// odd-numbered ones with EC P-256 keys in openssl's "EC PRIVATE KEY" form.
    /// </summary>
    public static TestPki FromOpenssl(string directory, params string[] nodes)
    {
        System.IO.Directory.CreateDirectory(directory);
        var pki = new TestPki(directory);
        Openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=openssl test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        for (var i = 0; i < nodes.Length; i++)
        {
            var node = nodes[i];
            if (i % 2 == 0) Openssl(directory, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", $"{node}-key.pem");
            else Openssl(directory, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", $"{node}-key.pem");
            Openssl(directory, "req", "-new", "-key", $"{node}-key.pem", "-out", $"{node}.csr", "-subj", $"/CN={node}");
            File.WriteAllText(Path.Combine(directory, $"{node}.ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
            Openssl(directory, "x509", "-req", "-in", $"{node}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-out", $"{node}.pem", "-days", "30", "-extfile", $"{node}.ext");
        }
        return pki;
    }

    /// <summary>A certificate signed by this CA whose validity ended a minute ago (made in code: neither tool makes one;
    /// it starts when the CA does, which cannot sign for a time before its own).</summary>
    public void IssueExpired(string node)
    {
        using var ca = X509Certificate2.CreateFromPemFile(CaPath, Path.Combine(Directory, "ca-key.pem"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={node}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.Create(ca, ca.NotBefore, now.AddMinutes(-1), [1, 2, 3, 4]);
        File.WriteAllText(CertPath(node), certificate.ExportCertificatePem());
        File.WriteAllText(KeyPath(node), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>The YAML <c>tls:</c> section for <paramref name="node"/>.</summary>
    public string TlsSection(string node) => $"""
        tls:
          cert: {CertPath(node)}
          key: {KeyPath(node)}
          ca: {CaPath}
        """;

    /// <summary>An HTTP client that trusts this CA only, and sends <paramref name="token"/> if given.</summary>
    public HttpClient Client(string? token)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(CaPath));
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate);
            },
        };
        var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static void Run(string directory, params string[] args)
    {
        System.IO.Directory.CreateDirectory(directory);
        var (code, output) = LitecastProcess.Run(directory, args);
        if (code != 0) throw new InvalidOperationException($"litecast {string.Join(' ', args)} exited {code}: {output}");
    }

    private static void Openssl(string directory, params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"openssl {string.Join(' ', args)} exited {process.ExitCode}: {error.Result}");
    }
}

using System.Net;
using System.Security.Cryptography;
using Litecast.Host.Configuration;
using Litecast.Host.Security;

namespace Litecast.Host.Demo;

/// <summary>
/// <c>demo -tls</c>: a CA, a certificate per node and an admin token under the demo directory, made on the first run
/// and reused after, as <c>litecast cert</c> would make them for a real cluster.
/// </summary>
/// <param name="Tls">Each node's <c>tls</c> section, by node name.</param>
/// <param name="Auth">The <c>auth</c> section every node shares (reads protected too, to show it).</param>
/// <param name="CaPath">The CA certificate, for <c>curl --cacert</c>.</param>
/// <param name="TokenPath">The file holding the token.</param>
internal sealed record DemoSecurity(IReadOnlyDictionary<string, TlsConfig> Tls, AuthConfig Auth, string CaPath, string TokenPath)
{
    public static DemoSecurity Create(string directory, IReadOnlyList<string> nodes)
    {
        var caPath = Path.Combine(directory, CertificateAuthority.CaCertificateFile);
        if (!File.Exists(caPath)) CertificateAuthority.CreateCa(directory, "Litecast demo CA");
        var tls = new Dictionary<string, TlsConfig>();
        foreach (var node in nodes)
        {
            var cert = Path.Combine(directory, node + ".pem");
            var key = Path.Combine(directory, node + "-key.pem");
            if (!File.Exists(cert)) CertificateAuthority.CreateNode(directory, node, [IPAddress.Loopback], ["localhost"], directory);
            tls[node] = new TlsConfig(cert, key, caPath, TlsFiles.Load(cert, key, caPath));
        }
        var tokenPath = Path.Combine(directory, "token");
        if (!File.Exists(tokenPath))
            CertificateAuthority.WritePrivate(tokenPath, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)));
        return new DemoSecurity(tls, new AuthConfig(File.ReadAllText(tokenPath).Trim(), ProtectReads: true), caPath, tokenPath);
    }
}

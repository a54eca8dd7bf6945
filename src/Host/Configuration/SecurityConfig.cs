using Litecast.Actors;

namespace Litecast.Host.Configuration;

/// <summary>The <c>tls</c> section: the node's certificate, its key and the cluster CA, already loaded and checked.</summary>
/// <param name="CertPath"><c>tls.cert</c>: PEM, the node's certificate first (a chain may follow).</param>
/// <param name="KeyPath"><c>tls.key</c>: PEM private key (PKCS#8, or openssl's RSA/EC forms).</param>
/// <param name="CaPath"><c>tls.ca</c>: PEM, the one CA peers' certificates must chain to.</param>
/// <param name="Material">The loaded certificate, key and CA.</param>
public sealed record TlsConfig(string CertPath, string KeyPath, string CaPath, ClusterTls Material);

/// <summary>The <c>auth</c> section.</summary>
/// <param name="Token"><c>auth.token</c>: the bearer token the admin endpoint requires (never logged or shown).</param>
/// <param name="ProtectReads"><c>auth.protect-reads</c>: true makes <c>GET</c> routes need the token too.</param>
public sealed record AuthConfig(string Token, bool ProtectReads)
{
    /// <summary>Kept out of logs and exceptions: a record's generated ToString would print the token.</summary>
    public override string ToString() => $"AuthConfig {{ Token = (hidden), ProtectReads = {ProtectReads} }}";
}

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Litecast.Actors;

namespace Litecast.Host.Security;

/// <summary>A certificate, key or CA file that cannot be used; the message names the file and what is wrong.</summary>
public sealed class TlsFileException(string path, string message) : Exception(message)
{
    /// <summary>The file at fault.</summary>
    public string Path { get; } = path;
}

/// <summary>
/// Reads the PEM files of <c>tls:</c> (<c>cert</c>, <c>key</c>, <c>ca</c>) into a <see cref="ClusterTls"/>, checking
/// everything that would otherwise fail later in a handshake: the key belongs to the certificate, the certificate chains
/// to the CA and is valid now, the CA is a CA.
/// </summary>
public static class TlsFiles
{
    /// <summary>Loads and checks the three files; throws <see cref="TlsFileException"/> naming the file at fault.</summary>
    public static ClusterTls Load(string certPath, string keyPath, string caPath)
    {
        var authority = LoadAuthority(caPath);
        var certificate = LoadCertificateWithKey(certPath, keyPath);
        var intermediates = ReadCertificates(certPath).Skip(1).ToList();
        var tls = new ClusterTls(certificate, authority, intermediates);
        if (tls.Refusal(certificate) is { } refusal)
            throw new TlsFileException(certPath, $"{certPath}: this node's certificate would be refused by its peers: {refusal.Replace("its certificate", "the certificate")}");
        return tls;
    }

    /// <summary>The certificate in <paramref name="certPath"/> (the first one, if it holds a chain) with the private key
    /// in <paramref name="keyPath"/> (PKCS#8, or the RSA/EC forms openssl writes).</summary>
    public static X509Certificate2 LoadCertificateWithKey(string certPath, string keyPath)
    {
        var first = ReadCertificates(certPath)[0];
        Require(keyPath);
        try
        {
            using var withEphemeralKey = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            // Ephemeral keys cannot be used by SslStream's server side on every platform; a PKCS#12 round trip keeps
            // the key with the certificate the way TLS wants it.
            return X509CertificateLoader.LoadPkcs12(withEphemeralKey.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // .NET says which in its message: no PEM key in the file, or a key that does not match the certificate.
            throw new TlsFileException(keyPath, $"{keyPath}: not a private key for the certificate in {certPath} ('{first.Subject}'): {e.Message}");
        }
    }

    /// <summary>The CA certificate in <paramref name="caPath"/>: exactly one, a CA, valid now.</summary>
    public static X509Certificate2 LoadAuthority(string caPath)
    {
        var certificates = ReadCertificates(caPath);
        if (certificates.Count > 1)
            throw new TlsFileException(caPath, $"{caPath}: holds {certificates.Count} certificates; tls.ca must be the one CA every node's certificate chains to");
        var ca = certificates[0];
        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        // A v1 self-signed certificate (no extensions, as old openssl recipes make) is accepted as a root.
        if (constraints is { CertificateAuthority: false })
            throw new TlsFileException(caPath, $"{caPath}: '{ca.Subject}' is not a CA certificate (basic constraints say CA:FALSE)");
        var now = DateTime.Now;
        if (now < ca.NotBefore || now > ca.NotAfter)
            throw new TlsFileException(caPath, $"{caPath}: the CA certificate '{ca.Subject}' is valid from {ca.NotBefore:u} to {ca.NotAfter:u}, not now");
        return ca;
    }

    private static List<X509Certificate2> ReadCertificates(string path)
    {
        Require(path);
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPemFile(path);
        }
        catch (CryptographicException e)
        {
            throw new TlsFileException(path, $"{path}: not a PEM certificate file: {e.Message}");
        }
        if (collection.Count == 0)
            throw new TlsFileException(path, $"{path}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return collection.ToList();
    }

    private static void Require(string path)
    {
        if (!File.Exists(path)) throw new TlsFileException(path, $"{path}: no such file");
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Litecast.Host.Security;

/// <summary>
/// <c>litecast cert</c>: a private CA and node certificates signed by it, for trying TLS on one machine or a small
/// cluster without <c>openssl</c>. EC P-256 keys, PEM files (PKCS#8 keys, readable by the owner only), the same shapes
/// <c>openssl</c> makes, so that a user's own PKI can replace them file by file.
/// </summary>
public static class CertificateAuthority
{
    /// <summary>The CA's certificate file in its directory (what <c>tls.ca</c> names).</summary>
    public const string CaCertificateFile = "ca.pem";

    /// <summary>The CA's private key file in its directory; needed only to sign node certificates.</summary>
    public const string CaKeyFile = "ca-key.pem";

    /// <summary>How long a CA made here is valid.</summary>
    public static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);

    /// <summary>How long a node certificate made here is valid (rotate before: README, Security).</summary>
    public static readonly TimeSpan NodeValidity = TimeSpan.FromDays(825);

    /// <summary>Makes a CA in <paramref name="directory"/> (<see cref="CaCertificateFile"/>, <see cref="CaKeyFile"/>);
    /// returns the files written. Refuses to overwrite an existing CA. Without a <paramref name="name"/>, the CA is
    /// named "Litecast CA" and a random suffix, so that a refusal naming two CAs tells them apart.</summary>
    public static IReadOnlyList<string> CreateCa(string directory, string? name = null)
    {
        name ??= $"Litecast CA {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var certPath = Path.Combine(directory, CaCertificateFile);
        var keyPath = Path.Combine(directory, CaKeyFile);
        RefuseToOverwrite(certPath, keyPath);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.Add(CaValidity));
        Directory.CreateDirectory(directory);
        WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, ca.ExportCertificatePem() + "\n");
        return [certPath, keyPath];
    }

    /// <summary>The CA certificate a <c>-ca</c> flag names: the file itself, or <c>ca.pem</c> in a directory
    /// <see cref="CreateCa"/> wrote.</summary>
    public static string CertificateFile(string ca) => Directory.Exists(ca) ? Path.Combine(ca, CaCertificateFile) : ca;

    /// <summary>
    /// Makes a certificate for node <paramref name="name"/>, signed by the CA at <paramref name="ca"/>, valid
    /// for <paramref name="ips"/> and <paramref name="dnsNames"/> (both as server and as client: nodes dial each
    /// other). Writes <c>NAME.pem</c>, <c>NAME-key.pem</c> and, when <paramref name="outDirectory"/> is not the CA's,
    /// a copy of <c>ca.pem</c>; returns the files written.
    /// </summary>
    /// <param name="ca">The CA's directory as <see cref="CreateCa"/> made it, or its certificate file (the one
    /// <c>status -ca</c> and <c>tls.ca</c> take), with <c>ca-key.pem</c> beside it.</param>
    public static IReadOnlyList<string> CreateNode(string ca, string name, IReadOnlyList<IPAddress> ips,
        IReadOnlyList<string> dnsNames, string outDirectory, TimeSpan? validity = null)
    {
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.StartsWith('.'))
            throw new ArgumentException($"-name '{name}' cannot be a file name");
        var caCertPath = CertificateFile(ca);
        var caKeyPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(caCertPath))!, CaKeyFile);
        using var authority = TlsFiles.LoadCertificateWithKey(caCertPath, caKeyPath);
        var certPath = Path.Combine(outDirectory, name + ".pem");
        var keyPath = Path.Combine(outDirectory, name + "-key.pem");
        var caCopy = Path.Combine(outDirectory, CaCertificateFile);
        var copyCa = Path.GetFullPath(caCopy) != Path.GetFullPath(caCertPath);
        RefuseToOverwrite(certPath, keyPath);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var ip in ips) names.AddIpAddress(ip);
        foreach (var dns in dnsNames) names.AddDnsName(dns);
        if (ips.Count + dnsNames.Count == 0) names.AddDnsName(name);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "serverAuth"), new Oid("1.3.6.1.5.5.7.3.2", "clientAuth")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now.Add(validity ?? NodeValidity);
        if (notAfter > authority.NotAfter) notAfter = authority.NotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var node = request.Create(authority, now.AddMinutes(-5), notAfter, serial);

        Directory.CreateDirectory(outDirectory);
        WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, node.ExportCertificatePem() + "\n");
        if (!copyCa) return [certPath, keyPath];
        File.Copy(caCertPath, caCopy, overwrite: true);
        return [certPath, keyPath, caCopy];
    }

    private static void RefuseToOverwrite(params string[] paths)
    {
        foreach (var path in paths)
            if (File.Exists(path))
                throw new IOException($"{path} already exists; not overwriting it (remove it first, or choose another -out)");
    }

    /// <summary>Writes a secret (a key, a token) readable by its owner only, created that way rather than narrowed after.</summary>
    internal static void WritePrivate(string path, string pem)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(pem + "\n");
    }
}

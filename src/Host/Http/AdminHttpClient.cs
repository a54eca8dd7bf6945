using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Litecast.Actors;

namespace Litecast.Host.Http;

/// <summary>
/// An HTTP client for another node's admin endpoint (a replica discovering its primary, <c>litecast status</c>): over
/// HTTPS it accepts only a server certificate that chains to the cluster CA (when one is given) and names the host the
/// URL names; with a token it sends <c>Authorization: Bearer</c>.
/// </summary>
public static class AdminHttpClient
{
    /// <summary>A client trusting <paramref name="authority"/> alone (the system's store when null), sending
    /// <paramref name="token"/> if any.</summary>
    public static HttpClient Create(X509Certificate2? authority, string? token, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                    Admits(((SslStream)sender).TargetHostName, authority, certificate as X509Certificate2, chain, errors),
            },
        };
        var client = new HttpClient(handler) { Timeout = timeout };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>
    /// A failed request to <paramref name="url"/> in words: its message and its causes' (.NET says "see inner
    /// exception" for a failed TLS handshake), and a hint for the usual mistakes: a certificate not trusted here, a
    /// certificate for another host, https:// to a plain-HTTP node and http:// to an HTTPS one.
    /// </summary>
    public static string Describe(Exception e, Uri url)
    {
        var messages = new List<string>();
        for (Exception? cause = e; cause is not null; cause = cause.InnerException)
            if (!messages.Any(m => m.Contains(cause.Message, StringComparison.Ordinal))) messages.Add(cause.Message);
        var text = string.Join(": ", messages);
        if (e.GetBaseException() is ServerCertificateException refused)
        {
            if (refused.Untrusted)
                text += " (the node's certificate is not trusted here: give the cluster's CA with -ca, or tls.ca in the config)";
            if (refused.Misnamed)
                text += $" (use a host name or IP address the certificate names, or make it for {url.Host})";
        }
        // A failed handshake with no certificate refused and no TLS error behind it: what answered does not speak TLS.
        else if (url.Scheme == Uri.UriSchemeHttps && e.GetBaseException() is AuthenticationException)
            text += " (the node may serve plain http: try http://)";
        // An HTTPS node drops a request that is not TLS without a word.
        else if (url.Scheme == Uri.UriSchemeHttp && e is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded })
            text += " (the node may serve https: try https://)";
        return text;
    }

    /// <summary>
    /// True when <paramref name="server"/> chains to <paramref name="authority"/> (to the system's store when null) and
    /// names <paramref name="host"/>; otherwise throws a <see cref="ServerCertificateException"/> saying which check
    /// failed, where returning false would leave .NET's "rejected by the provided RemoteCertificateValidationCallback".
    /// </summary>
    private static bool Admits(string host, X509Certificate2? authority, X509Certificate2? server, X509Chain? chain, SslPolicyErrors errors)
    {
        // The system's chain errors mean nothing with a CA of our own: the chain is built again against it alone.
        var untrusted = authority is not null
            ? ClusterTls.Refusal(server, authority, chain?.ChainElements.Select(e => e.Certificate).Skip(1) ?? [])
            : (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == 0 ? null : SystemRefusal(server, chain);
        var misnamed = server is not null && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0;
        if (untrusted is null && !misnamed) return true;
        var reasons = new List<string>();
        if (untrusted is not null) reasons.Add(untrusted);
        if (misnamed) reasons.Add($"its certificate names {Names(server!)}, not {host}");
        throw new ServerCertificateException($"refused the node: {string.Join("; ", reasons)}", untrusted is not null, misnamed);
    }

    private static string SystemRefusal(X509Certificate2? server, X509Chain? chain)
    {
        if (server is null) return "it presented no certificate";
        var reasons = (chain?.ChainStatus ?? []).Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
        return $"its certificate '{server.Subject}' (issuer '{server.Issuer}') does not chain to a CA this system trusts: {string.Join("; ", reasons)}";
    }

    /// <summary>The host names and IP addresses <paramref name="certificate"/> is for (its subject alternative names).</summary>
    private static string Names(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions.FirstOrDefault(e => e.Oid?.Value == "2.5.29.17");
        if (extension is null) return "no host";
        var names = new X509SubjectAlternativeNameExtension(extension.RawData);
        var all = names.EnumerateDnsNames().Concat(names.EnumerateIPAddresses().Select(ip => ip.ToString())).ToList();
        return all.Count == 0 ? "no host" : string.Join(", ", all);
    }
}

/// <summary>The admin client refused a node's certificate, and why.</summary>
/// <param name="message">The refusal in words.</param>
/// <param name="untrusted">The certificate does not chain to the CA trusted here.</param>
/// <param name="misnamed">The certificate does not name the host the URL names.</param>
public sealed class ServerCertificateException(string message, bool untrusted, bool misnamed) : AuthenticationException(message)
{
    /// <summary>The certificate does not chain to the CA trusted here.</summary>
    public bool Untrusted { get; } = untrusted;

    /// <summary>The certificate does not name the host the URL names.</summary>
    public bool Misnamed { get; } = misnamed;
}

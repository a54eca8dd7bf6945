using System.Net.Http.Headers;
using System.Net.Security;
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
        var handler = new SocketsHttpHandler();
        if (authority is not null)
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    ClusterTls.AdmitsServer(authority, certificate as X509Certificate2, chain, errors),
            };
        var client = new HttpClient(handler) { Timeout = timeout };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>
    /// A failed request in words: its message and its causes' (.NET says "see inner exception" for a failed TLS
    /// handshake), and for a certificate that is not trusted, how to trust it.
    /// </summary>
    public static string Describe(Exception e)
    {
        var messages = new List<string>();
        for (Exception? cause = e; cause is not null; cause = cause.InnerException)
            if (!messages.Any(m => m.Contains(cause.Message, StringComparison.Ordinal))) messages.Add(cause.Message);
        var text = string.Join(": ", messages);
        if (e.GetBaseException() is System.Security.Authentication.AuthenticationException)
            text += " (the node's certificate is not trusted here: give the cluster's CA with -ca, or tls.ca in the config)";
        return text;
    }
}

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Litecast.Host.Http;

/// <summary>
/// How the admin endpoint is protected (config <c>tls</c> and <c>auth</c>): HTTPS with the node's certificate, and a
/// bearer token for changes (every route but <c>GET</c>/<c>HEAD</c>) or, with <paramref name="ProtectReads"/>, for
/// every route.
/// </summary>
/// <param name="Certificate">Serve HTTPS with this certificate (and its key); null serves plain HTTP.</param>
/// <param name="Token">The bearer token; null lets every request through.</param>
/// <param name="ProtectReads">True: reads need the token too.</param>
public sealed record AdminSecurity(X509Certificate2? Certificate, string? Token, bool ProtectReads)
{
    /// <summary>No HTTPS, no token: the admin endpoint as it is without <c>tls</c> and <c>auth</c>.</summary>
    public static readonly AdminSecurity None = new(null, null, false);

    /// <summary>Does a request with <paramref name="method"/> for <paramref name="path"/> need the token? The dashboard's
    /// page itself never does: it holds no data (that comes from <c>/events</c>, which obeys the token), and a browser
    /// cannot send a bearer token when it opens a page. A resync's snapshot (<c>/resync/</c>) always does: it is the
    /// whole database.</summary>
    public bool Guards(string method, string path)
    {
        var read = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        return Token is not null && (!read || path.StartsWith("/resync/", StringComparison.Ordinal) || ProtectReads && path != "/");
    }

    /// <summary>
    /// Does <paramref name="authorization"/> (the header's value) carry the token? Compared in constant time: both
    /// sides are hashed first, so neither the token's length nor its first wrong byte shows in the time taken.
    /// </summary>
    public bool Admits(string authorization)
    {
        if (Token is null) return true;
        var given = BearerToken(authorization) ?? "";
        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(Token)));
    }

    /// <summary>The token of an <c>Authorization: Bearer TOKEN</c> header; null when the header has none.</summary>
    public static string? BearerToken(string authorization)
    {
        const string scheme = "Bearer ";
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = authorization[scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}

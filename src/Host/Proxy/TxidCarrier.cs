using System.Globalization;

namespace Litecast.Host.Proxy;

/// <summary>
/// How a txid travels between the proxy and its clients: the cookie <c>litecast-txid</c> for browsers and the header
/// <c>Litecast-Txid</c> for API clients that keep no cookies. A request's header wins over its cookie (it is what the
/// client chose to send for this request).
/// </summary>
public static class TxidCarrier
{
    /// <summary>The cookie a write's response sets and a later read sends back.</summary>
    public const string CookieName = "litecast-txid";

    /// <summary>The header every response carries, and a read may carry.</summary>
    public const string HeaderName = "Litecast-Txid";

    /// <summary>The txid <paramref name="request"/> asks to read at: true with null when it carries none; false with a
    /// message when its header is not a txid. A cookie that is not a txid reads as none: the proxy never set it
    /// (another application's cookie of the same name, a hand edit), and a browser cannot be asked to mend it, so
    /// refusing it would refuse the browser's every read until its next write.</summary>
    public static bool TryRead(HttpRequest request, out ulong? txid, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        txid = null;
        error = null;
        string? header = request.Headers[HeaderName];
        if (string.IsNullOrWhiteSpace(header))
        {
            if (Parse(request.Cookies[CookieName]) is { } fromCookie) txid = fromCookie;
            return true;
        }
        if (Parse(header) is not { } value)
        {
            error = $"invalid header {HeaderName} '{header}': expected a txid (a non-negative integer)";
            return false;
        }
        txid = value;
        return true;
    }

    private static ulong? Parse(string? text) =>
        ulong.TryParse(text?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>Stamps <paramref name="response"/> with the position it was served at.</summary>
    public static void Stamp(HttpResponse response, ulong txid) =>
        response.Headers[HeaderName] = txid.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stamps a write's response and sets the cookie that makes the client's next reads wait for it.</summary>
    public static void StampWrite(HttpResponse response, ulong txid)
    {
        Stamp(response, txid);
        response.Cookies.Append(CookieName, txid.ToString(CultureInfo.InvariantCulture),
            new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Lax });
    }
}

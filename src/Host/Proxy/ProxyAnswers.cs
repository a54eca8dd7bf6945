using Litecast.Host.Http;

namespace Litecast.Host.Proxy;

/// <summary>The proxy's own answers: the admin endpoint's JSON error document, <c>{"error": "..."}</c>.</summary>
public static class ProxyAnswers
{
    /// <summary>Writes <paramref name="status"/> with <paramref name="message"/>; a 503 says when to retry.</summary>
    public static Task ErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "1";
        return context.Response.WriteAsJsonAsync(new ErrorResponse(message), AdminJsonContext.Default.ErrorResponse);
    }
}

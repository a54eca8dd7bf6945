namespace Litecast.Host.Http;

/// <summary><c>GET /</c>: the dashboard, one static page embedded in the binary (no build step, no third-party
/// script); its data comes from <c>GET /events</c>.</summary>
public static class Dashboard
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("Litecast.dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded in litecast");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>The page's HTML.</summary>
    public static string Html => Page.Value;
}

using System.Text.RegularExpressions;

namespace Litecast.Host.Proxy;

/// <summary>
/// <c>proxy.passthrough</c>: path patterns where <c>*</c> matches any run of characters (slashes included), so
/// <c>/static/*</c> covers the whole tree and <c>*.css</c> every stylesheet. Matched against the request's path only.
/// </summary>
public sealed class PassthroughPatterns
{
    private readonly Regex? _any;

    /// <summary>Compiles <paramref name="patterns"/> into one anchored expression (none: nothing matches).</summary>
    public PassthroughPatterns(IEnumerable<string> patterns)
    {
        var alternatives = patterns.Select(p => string.Join(".*", p.Split('*').Select(Regex.Escape))).ToList();
        if (alternatives.Count > 0)
            _any = new Regex($"^(?:{string.Join('|', alternatives)})$", RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    /// <summary>True when <paramref name="path"/> is served locally without waiting.</summary>
    public bool Matches(string path) => _any?.IsMatch(path) ?? false;
}

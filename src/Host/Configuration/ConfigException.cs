namespace Litecast.Host.Configuration;

/// <summary>
/// A configuration error. The message always starts with the file and, when known, the line and column
/// (<c>litecast.yml:7:5: unknown key 'upstrem' in dbs[0] (expected one of: ...)</c>), so it can be printed as is.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>Creates an error located at <paramref name="line"/>:<paramref name="column"/> of <paramref name="file"/>.</summary>
    public ConfigException(string file, int? line, int? column, string? key, string detail, Exception? inner = null)
        : base(Format(file, line, column, detail), inner)
    {
        File = file;
        Line = line;
        Column = column;
        Key = key;
        Detail = detail;
    }

    /// <summary>The configuration file, as it was named (or searched for).</summary>
    public string File { get; }

    /// <summary>1-based line of the offending node, or null when the error concerns the whole file.</summary>
    public int? Line { get; }

    /// <summary>1-based column of the offending node, or null when the error concerns the whole file.</summary>
    public int? Column { get; }

    /// <summary>Dotted path of the offending key, e.g. <c>dbs[0].upstream.url</c>; null when no key is involved.</summary>
    public string? Key { get; }

    /// <summary>The message without the <c>file:line:col: </c> prefix.</summary>
    public string Detail { get; }

    private static string Format(string file, int? line, int? column, string detail) =>
        line is null ? $"{file}: {detail}"
        : column is null ? $"{file}:{line}: {detail}"
        : $"{file}:{line}:{column}: {detail}";
}

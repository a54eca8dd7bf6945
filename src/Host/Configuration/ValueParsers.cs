using System.Globalization;
using System.Text;

namespace Litecast.Host.Configuration;

/// <summary>Parsers for the scalar value kinds the configuration uses: ports, sizes, Go-style durations.</summary>
public static class ValueParsers
{
    /// <summary>Parses a TCP port 0..65535 (0 lets the OS pick).</summary>
    public static bool TryParsePort(string text, out int port, out string? error)
    {
        error = null;
        port = 0;
        if (!long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
        {
            error = $"port '{text}' is not a number";
            return false;
        }
        if (value is < 0 or > 65535)
        {
            error = $"port {value} is out of range (0..65535)";
            return false;
        }
        port = (int)value;
        return true;
    }

    private static readonly Dictionary<string, decimal> SizeUnits = new(StringComparer.OrdinalIgnoreCase)
    {
        [""] = 1, ["b"] = 1,
        ["k"] = 1e3m, ["kb"] = 1e3m, ["ki"] = 1024m, ["kib"] = 1024m,
        ["m"] = 1e6m, ["mb"] = 1e6m, ["mi"] = 1024m * 1024, ["mib"] = 1024m * 1024,
        ["g"] = 1e9m, ["gb"] = 1e9m, ["gi"] = 1024m * 1024 * 1024, ["gib"] = 1024m * 1024 * 1024,
        ["t"] = 1e12m, ["tb"] = 1e12m, ["ti"] = 1024m * 1024 * 1024 * 1024, ["tib"] = 1024m * 1024 * 1024 * 1024,
    };

    /// <summary>
    /// Parses a byte size: a plain integer (bytes) or a number with a unit, as go-humanize does: <c>KB/MB/GB/TB</c>
    /// (and <c>K/M/G/T</c>) are powers of 1000, <c>KiB/MiB/GiB/TiB</c> powers of 1024; case-insensitive; fractions
    /// allowed (<c>1.5GiB</c>), rounded down to whole bytes. The result must be at least 1 byte.
    /// </summary>
    public static bool TryParseSize(string text, out long bytes, out string? error)
    {
        bytes = 0;
        error = null;
        var s = text.Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        string number = s[..i];
        string unit = s[i..].Trim();
        if (number.Length == 0 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            error = $"invalid size '{text}' (expected bytes or a size like 64MB, 64MiB, 1GiB)";
            return false;
        }
        if (!SizeUnits.TryGetValue(unit, out decimal multiplier))
        {
            error = $"invalid size '{text}': unknown unit '{unit}' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)";
            return false;
        }
        decimal total;
        try { total = decimal.Floor(value * multiplier); }
        catch (OverflowException) { total = decimal.MaxValue; }
        if (total > long.MaxValue)
        {
            error = $"size '{text}' is too large";
            return false;
        }
        if (total < 1)
        {
            error = $"size '{text}' must be at least 1 byte";
            return false;
        }
        bytes = (long)total;
        return true;
    }

    private static readonly (string Unit, long Ticks)[] DurationUnits =
    [
        // Longest first so "ms" is not read as "m".
        ("ns", 0), ("us", 10), ("µs", 10), ("μs", 10), ("ms", TimeSpan.TicksPerMillisecond),
        ("s", TimeSpan.TicksPerSecond), ("m", TimeSpan.TicksPerMinute), ("h", TimeSpan.TicksPerHour),
    ];

    /// <summary>
    /// Parses a Go duration (<c>time.ParseDuration</c>): one or more number+unit pairs, units ns, us (µs), ms, s, m, h,
    /// e.g. <c>500ms</c>, <c>5s</c>, <c>1m30s</c>, <c>1.5h</c>. A bare number is an error except <c>0</c>; negative
    /// durations are errors. Precision is TimeSpan's (100 ns).
    /// </summary>
    public static bool TryParseDuration(string text, out TimeSpan duration, out string? error)
    {
        duration = TimeSpan.Zero;
        error = null;
        string s = text.Trim();
        const string Hint = "expected e.g. 500ms, 5s, 1m30s";
        if (s == "0")
            return true;
        if (s.Length == 0)
        {
            error = $"invalid duration '' ({Hint})";
            return false;
        }
        if (s[0] == '-')
        {
            error = $"duration '{text}' must not be negative";
            return false;
        }
        if (s[0] == '+')
            s = s[1..];
        decimal ticks = 0;
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || !decimal.TryParse(s[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
            {
                error = $"invalid duration '{text}' ({Hint})";
                return false;
            }
            string? unit = null;
            long perUnit = 0;
            foreach (var (u, t) in DurationUnits)
            {
                if (string.CompareOrdinal(s, i, u, 0, u.Length) == 0)
                {
                    unit = u;
                    perUnit = t;
                    break;
                }
            }
            if (unit is null)
            {
                error = i == s.Length
                    ? $"invalid duration '{text}': missing unit ({Hint})"
                    : $"invalid duration '{text}': unknown unit at '{s[i..]}' ({Hint})";
                return false;
            }
            i += unit.Length;
            ticks += unit == "ns" ? value / 100 : value * perUnit;
            if (ticks > TimeSpan.MaxValue.Ticks)
            {
                error = $"duration '{text}' is too large";
                return false;
            }
        }
        duration = TimeSpan.FromTicks((long)decimal.Floor(ticks));
        return true;
    }

    /// <summary>Formats a duration the way Go prints it, for messages: <c>10s</c>, <c>500ms</c>, <c>1m30s</c>.</summary>
    public static string FormatDuration(TimeSpan d)
    {
        if (d == TimeSpan.Zero) return "0s";
        if (d < TimeSpan.FromSeconds(1)) return $"{d.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";
        var sb = new StringBuilder();
        if (d.Hours + d.Days * 24 > 0) sb.Append(d.Hours + d.Days * 24).Append('h');
        if (d.Minutes > 0) sb.Append(d.Minutes).Append('m');
        double seconds = d.Seconds + d.Milliseconds / 1000.0;
        if (seconds > 0) sb.Append(seconds.ToString(CultureInfo.InvariantCulture)).Append('s');
        return sb.ToString();
    }
}

/// <summary>
/// Environment expansion with exactly the rules of Go's <c>os.ExpandEnv</c>, which Litestream applies to the whole
/// config text before parsing: <c>$VAR</c> and <c>${VAR}</c> are replaced, unset variables become empty strings,
/// <c>$</c> not followed by a name stays as is.
/// </summary>
public static class EnvExpander
{
    /// <summary>Expands <paramref name="text"/> using <paramref name="lookup"/> (null result = unset = empty).</summary>
    public static string Expand(string text, Func<string, string?> lookup)
    {
        if (!text.Contains('$')) return text;
        var sb = new StringBuilder(text.Length);
        int i = 0;
        for (int j = 0; j < text.Length; j++)
        {
            if (text[j] != '$' || j + 1 >= text.Length) continue;
            sb.Append(text, i, j - i);
            var (name, width) = ShellName(text.AsSpan(j + 1));
            if (name.Length == 0 && width > 0)
            {
                // Invalid syntax ("${}", an unterminated "${"): Go eats the characters.
            }
            else if (name.Length == 0)
            {
                sb.Append('$'); // "$" not followed by a name stays.
            }
            else
            {
                sb.Append(lookup(name) ?? "");
            }
            j += width;
            i = j + 1;
        }
        sb.Append(text, i, text.Length - i);
        return sb.ToString();
    }

    private static (string Name, int Width) ShellName(ReadOnlySpan<char> s)
    {
        if (s[0] == '{')
        {
            if (s.Length > 2 && IsSpecial(s[1]) && s[2] == '}')
                return (s[1..2].ToString(), 3);
            for (int i = 1; i < s.Length; i++)
            {
                if (s[i] == '}')
                    return i == 1 ? ("", 2) : (s[1..i].ToString(), i + 1);
            }
            return ("", 1);
        }
        if (IsSpecial(s[0]))
            return (s[..1].ToString(), 1);
        int n = 0;
        while (n < s.Length && (s[n] == '_' || char.IsAsciiLetterOrDigit(s[n]))) n++;
        return (s[..n].ToString(), n);
    }

    private static bool IsSpecial(char c) => c is '*' or '#' or '$' or '@' or '!' or '?' or '-' || char.IsAsciiDigit(c);
}

using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

public sealed class ValueParserTests
{
    [Theory]
    [InlineData("1", 1L)]
    [InlineData("67108864", 67108864L)]
    [InlineData("64MB", 64_000_000L)]
    [InlineData("64mb", 64_000_000L)]
    [InlineData("64 MiB", 64L << 20)]
    [InlineData("64M", 64_000_000L)]
    [InlineData("1GiB", 1L << 30)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("2KB", 2000L)]
    [InlineData("2KiB", 2048L)]
    [InlineData("10B", 10L)]
    [InlineData("1TiB", 1L << 40)]
    public void Sizes(string text, long expected)
    {
        Assert.True(ValueParsers.TryParseSize(text, out long bytes, out string? error), error);
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MB")]
    [InlineData("0")]
    [InlineData("0.5")]
    [InlineData("-1")]
    [InlineData("1.2.3MB")]
    [InlineData("12 parsecs")]
    [InlineData("9999999999EB")]
    public void BadSizes(string text)
    {
        Assert.False(ValueParsers.TryParseSize(text, out _, out string? error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("5s", 5_000L)]
    [InlineData("500ms", 500L)]
    [InlineData("1m30s", 90_000L)]
    [InlineData("1h", 3_600_000L)]
    [InlineData("1.5h", 5_400_000L)]
    [InlineData("2h45m", 9_900_000L)]
    [InlineData("250000us", 250L)]
    [InlineData("250000µs", 250L)]
    [InlineData("1000000ns", 1L)]
    [InlineData(".5s", 500L)]
    [InlineData("+3s", 3_000L)]
    public void Durations(string text, long expectedMs)
    {
        Assert.True(ValueParsers.TryParseDuration(text, out var d, out string? error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), d);
    }

    [Theory]
    [InlineData("", "invalid duration")]
    [InlineData("5", "missing unit")]
    [InlineData("s", "invalid duration")]
    [InlineData("5x", "unknown unit")]
    [InlineData("5s3", "missing unit")]
    [InlineData("-5s", "negative")]
    [InlineData("1d", "unknown unit")]
    [InlineData("99999999999999h", "too large")]
    public void BadDurations(string text, string expected)
    {
        Assert.False(ValueParsers.TryParseDuration(text, out _, out string? error));
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("65535", 65535)]
    [InlineData(" 4053 ", 4053)]
    public void Ports(string text, int expected)
    {
        Assert.True(ValueParsers.TryParsePort(text, out int port, out _));
        Assert.Equal(expected, port);
    }

    [Theory]
    [InlineData("65536")]
    [InlineData("-1")]
    [InlineData("80a")]
    [InlineData("")]
    public void BadPorts(string text) => Assert.False(ValueParsers.TryParsePort(text, out _, out _));

    [Theory]
    [InlineData("10s", 10_000L)]
    [InlineData("500ms", 500L)]
    [InlineData("1m30s", 90_000L)]
    [InlineData("1h0m0.5s", 3_600_500L)]
    public void FormatDurationRoundTrips(string expected, long ms)
    {
        string text = ValueParsers.FormatDuration(TimeSpan.FromMilliseconds(ms));
        Assert.True(ValueParsers.TryParseDuration(text, out var d, out _));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), d);
        if (!expected.Contains("0m"))
            Assert.Equal(expected, text);
    }
}

/// <summary>Go's os.ExpandEnv semantics, case by case.</summary>
public sealed class EnvExpanderTests
{
    private static readonly Dictionary<string, string> Env = new()
    {
        ["HOME"] = "/home/u",
        ["A_B1"] = "x",
        ["1"] = "one",
        ["EMPTY"] = "",
    };

    private static string Expand(string s) => EnvExpander.Expand(s, n => Env.TryGetValue(n, out var v) ? v : null);

    [Theory]
    [InlineData("$HOME/db", "/home/u/db")]
    [InlineData("${HOME}/db", "/home/u/db")]
    [InlineData("${HOME}db", "/home/udb")]
    [InlineData("$HOMEdb", "")]
    [InlineData("$A_B1-", "x-")]
    [InlineData("$UNSET!", "!")]
    [InlineData("${UNSET}", "")]
    [InlineData("a$EMPTY.b", "a.b")]
    [InlineData("cost: $", "cost: $")]
    [InlineData("a $ b", "a $ b")]
    [InlineData("$$", "")]
    [InlineData("$1x", "onex")]
    [InlineData("${1}", "one")]
    [InlineData("${}x", "x")]
    [InlineData("${HOME", "HOME")]
    [InlineData("${A B}", "")]
    [InlineData("no dollars", "no dollars")]
    [InlineData("$/x", "$/x")]
    public void MatchesGo(string input, string expected) => Assert.Equal(expected, Expand(input));
}

using System.Globalization;
using System.Text.RegularExpressions;

namespace Litecast.Chaos;

/// <summary>The command line: <c>[--seed N] [--duration 60s] [--faults kill,pause,...] [--bound 30s] [--rate 300]
/// [--soak] [--report docs/reliability.md]</c>.</summary>
internal sealed record Options
{
    public int Seed { get; init; }
    public bool SeedGiven { get; init; }
    /// <summary>How long faults are injected for (startup and the final check come on top).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);
    public IReadOnlyList<FaultKind> Faults { get; init; } = Nemesis.ParseKinds("all");
    public string FaultsText { get; init; } = "all";
    /// <summary>How long every replica may take to converge after a fault is healed.</summary>
    public TimeSpan Bound { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>The application's commits per second.</summary>
    public int Rate { get; init; } = 300;
    public bool Soak { get; init; }
    /// <summary><c>--plan N</c>: print the first N faults the seed draws and exit (to choose or explain a seed).</summary>
    public int Plan { get; init; }
    public string? Report { get; init; }

    public const string Usage = """
        usage: dotnet run -c Release --project tests/Litecast.Chaos -- [options]
          --seed N          replay a run (default: random; the seed is printed first)
          --duration 60s    how long to inject faults (s, m, h)
          --faults LIST     comma-separated kinds: all (default), kill, kill-replica, pause, cut, reset, delay,
                            resync, truncate, restart, vacuum, checkpoint (= truncate,restart),
                            replace-primary, delete-replica, disk-full (needs root: a tmpfs per replica)
          --bound 30s       how long replicas may take to converge after each fault
          --rate 300        the application's commits per second
          --plan N          print the first N faults this seed draws, and exit
          --soak            a long run; writes the summary as markdown to --report
          --report PATH     where --soak writes its report (default docs/reliability.md)
        """;

    public static Options Parse(string[] args)
    {
        var options = new Options { Seed = Random.Shared.Next(1, int.MaxValue) };
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            options = args[i] switch
            {
                "--seed" => options with { Seed = int.Parse(Value(), CultureInfo.InvariantCulture), SeedGiven = true },
                "--duration" => options with { Duration = ParseDuration(Value()) },
                "--faults" => WithFaults(options, Value()),
                "--bound" => options with { Bound = ParseDuration(Value()) },
                "--rate" => options with { Rate = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--soak" => options with { Soak = true },
                "--plan" => options with { Plan = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--report" => options with { Report = Value() },
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        if (options.Faults.Count == 0) throw new ArgumentException("--faults names no fault kind");
        if (options.Soak && options.Report is null) options = options with { Report = "docs/reliability.md" };
        return options;
    }

    private static Options WithFaults(Options options, string text) => options with { Faults = Nemesis.ParseKinds(text), FaultsText = text };

    /// <summary>"90s", "2m", "1h30m", "500ms", or plain seconds.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain)) return TimeSpan.FromSeconds(plain);
        var parts = Regex.Matches(text, @"(\d+(?:\.\d+)?)(ms|s|m|h)");
        if (parts.Count == 0 || string.Concat(parts.Select(p => p.Value)) != text) throw new ArgumentException($"'{text}' is not a duration (e.g. 90s, 2m, 1h)");
        var total = TimeSpan.Zero;
        foreach (Match part in parts)
        {
            var value = double.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            total += part.Groups[2].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                _ => TimeSpan.FromHours(value),
            };
        }
        return total;
    }
}

using System.Globalization;
using System.Text;

namespace Litecast.Chaos;

/// <summary>What a run did and found: printed at the end, and written as markdown by <c>--soak</c>.</summary>
internal sealed class Summary(Options options)
{
    public readonly Dictionary<FaultKind, int> Injected = new();
    public readonly Dictionary<FaultKind, int> Survived = new();
    /// <summary>Faults drawn but not injected because the harness cannot (disk-full without root).</summary>
    public readonly Dictionary<FaultKind, int> Unavailable = new();
    public string? DiskFullUnavailable;
    public readonly List<string> Log = new();
    public TimeSpan Longest;
    public string LongestAfter = "";
    public long ConvergenceChecks;
    public long ReaderChecks;
    public long Commits;
    public string WriterErrors = "";
    public string ReaderErrors = "";
    public string? Failure;
    public bool Interrupted;
    public TimeSpan Elapsed;

    public bool Passed => Failure is null && !Interrupted;

    public void Converged(Fault fault, TimeSpan took)
    {
        ConvergenceChecks++;
        Survived[fault.Kind] = Survived.GetValueOrDefault(fault.Kind) + 1;
        if (took > Longest)
        {
            Longest = took;
            LongestAfter = $"#{fault.Number} {fault}";
        }
    }

    private static string S(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public string Text()
    {
        var text = new StringBuilder();
        text.AppendLine($"seed {options.Seed}, faults {options.FaultsText}, {S(options.Duration)} of faults, convergence bound {S(options.Bound)}, run took {S(Elapsed)}");
        text.AppendLine($"result: {(Passed ? "PASSED" : Interrupted ? "INTERRUPTED" : "FAILED")}");
        if (Failure is not null) text.AppendLine($"failure: {Failure.Split('\n')[0]}");
        text.AppendLine($"faults injected {Injected.Values.Sum()}, survived {Survived.Values.Sum()}");
        foreach (var kind in Enum.GetValues<FaultKind>().Where(Injected.ContainsKey))
            text.AppendLine($"  {Nemesis.Name(kind),-15} injected {Injected[kind],4}, survived {Survived.GetValueOrDefault(kind),4}");
        foreach (var (kind, count) in Unavailable)
            text.AppendLine($"  {Nemesis.Name(kind),-15} UNAVAILABLE, drawn {count}x and not injected: {DiskFullUnavailable}");
        if (DiskFullUnavailable is not null && !Unavailable.ContainsKey(FaultKind.DiskFull))
            text.AppendLine($"  disk-full       UNAVAILABLE (never drawn): {DiskFullUnavailable}");
        text.AppendLine($"longest convergence {S(Longest)} (after {(LongestAfter.Length > 0 ? LongestAfter : "-")})");
        text.AppendLine($"invariant checks: {ReaderChecks} reads on the replicas, {ConvergenceChecks} convergence checks");
        text.AppendLine($"application commits {Commits}; failed transactions {(WriterErrors.Length > 0 ? WriterErrors : "none")}");
        text.AppendLine($"replica read errors (retried): {(ReaderErrors.Length > 0 ? ReaderErrors : "none")}");
        return text.ToString();
    }

    public string Markdown()
    {
        var md = new StringBuilder();
        md.AppendLine("# Reliability: chaos soak");
        md.AppendLine();
        md.AppendLine($"Written by `dotnet run -c Release --project tests/Litecast.Chaos -- --soak --seed {options.Seed} --duration {options.Duration.TotalSeconds:0}s --faults {options.FaultsText}`");
        md.AppendLine($"on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC: a primary and two replicas (real `litecast replicate` processes on loopback, each behind a");
        md.AppendLine($"TCP relay), an application committing bank transfers at {options.Rate} commits/s, read-only readers on both replicas.");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| result | **{(Passed ? "passed" : Interrupted ? "interrupted" : "failed")}** |");
        md.AppendLine($"| seed | {options.Seed} |");
        md.AppendLine($"| fault kinds enabled | {string.Join(", ", options.Faults.Select(Nemesis.Name))} |");
        var left = Enum.GetValues<FaultKind>().Where(k => k != FaultKind.KillReplica && !options.Faults.Contains(k)).Select(Nemesis.Name).ToList();
        if (left.Count > 0) md.AppendLine($"| fault kinds **not** enabled | {string.Join(", ", left)} |");
        if (DiskFullUnavailable is not null) md.AppendLine($"| fault kinds **unavailable** (not injected) | disk-full: {DiskFullUnavailable.Replace("|", "\\|")} |");
        md.AppendLine($"| duration of faults / whole run | {S(options.Duration)} / {S(Elapsed)} |");
        md.AppendLine($"| faults injected / survived | {Injected.Values.Sum()} / {Survived.Values.Sum()} |");
        md.AppendLine($"| convergence bound | {S(options.Bound)} after each fault is healed |");
        md.AppendLine($"| longest convergence | {S(Longest)} (after {(LongestAfter.Length > 0 ? LongestAfter.Replace("|", "\\|") : "-")}) |");
        md.AppendLine($"| invariant checks | {ReaderChecks} reads on replicas (total unchanged, newest ledger entry = version, version never back, file never malformed), {ConvergenceChecks} convergence checks |");
        md.AppendLine($"| application commits | {Commits} |");
        md.AppendLine($"| failed application transactions | {(WriterErrors.Length > 0 ? WriterErrors : "none")} |");
        md.AppendLine($"| replica read errors (retried) | {(ReaderErrors.Length > 0 ? ReaderErrors : "none")} |");
        if (Failure is not null) md.AppendLine($"| failure | {Failure.Split('\n')[0].Replace("|", "\\|")} |");
        md.AppendLine();
        md.AppendLine("| fault kind | injected | survived |");
        md.AppendLine("|---|---:|---:|");
        foreach (var kind in Enum.GetValues<FaultKind>().Where(Injected.ContainsKey))
            md.AppendLine($"| {Nemesis.Name(kind)} | {Injected[kind]} | {Survived.GetValueOrDefault(kind)} |");
        foreach (var (kind, count) in Unavailable)
            md.AppendLine($"| {Nemesis.Name(kind)} | unavailable: drawn {count}, not injected | - |");
        md.AppendLine();
        md.AppendLine("<details><summary>Fault log</summary>");
        md.AppendLine();
        md.AppendLine("```");
        foreach (var line in Log) md.AppendLine(line);
        md.AppendLine("```");
        md.AppendLine();
        md.AppendLine("</details>");
        return md.ToString();
    }
}

using System.Runtime.InteropServices;
using Litecast.Chaos;

// The seeded, process-level chaos harness (issue 10). Exit code: 0 when every invariant held and every replica
// converged, 1 on a failure (the message names the seed and the fault), 2 on bad usage, 130 when interrupted.
Options options;
try
{
    options = Options.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Options.Usage);
    return 2;
}

// The seed first, so that any run, even one killed halfway, can be replayed.
Console.WriteLine($"seed {options.Seed}{(options.SeedGiven ? "" : " (random)")}");

if (options.Plan > 0)
{
    // The same draws as a run makes (quiet time, then the fault), without starting anything.
    var nemesis = new Nemesis(null!, null!, new Random(options.Seed), options.Faults);
    for (var i = 0; i < options.Plan; i++)
    {
        var quiet = nemesis.NextQuiet();
        Console.WriteLine($"after {quiet.TotalSeconds:0.0} s quiet: #{i + 1} {nemesis.Next()}");
    }
    return 0;
}

using var cancel = new CancellationTokenSource();
// Ctrl-C and SIGTERM cancel the run; its finally blocks then kill every process and close every relay.
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; cancel.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cancel.Cancel(); });

var summary = await new ChaosRun(options).RunAsync(cancel.Token);
Console.WriteLine();
Console.Write(summary.Text());
if (options.Soak && options.Report is not null)
{
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.Report))!);
    File.WriteAllText(options.Report, summary.Markdown());
    Console.WriteLine($"report written to {options.Report}");
}
return summary.Passed ? 0 : summary.Interrupted ? 130 : 1;

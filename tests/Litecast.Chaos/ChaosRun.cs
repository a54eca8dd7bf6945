using System.Globalization;
using System.Net;

namespace Litecast.Chaos;

/// <summary>
/// One run: start the cluster, the application and the readers; inject faults one at a time, checking after each
/// that every replica converges and no reader saw a broken invariant; at the end compare every replica with the
/// primary. Everything started is stopped on the way out, on failure and on Ctrl-C too.
/// </summary>
internal sealed class ChaosRun(Options options)
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(90);
    private readonly Summary _summary = new(options);

    public async Task<Summary> RunAsync(CancellationToken cancellation)
    {
        using var cluster = new ChaosCluster(diskFull: options.Faults.Contains(FaultKind.DiskFull));
        BankWriter? writer = null;
        var readers = new List<InvariantReader>();
        Fault? current = null;
        try
        {
            Print($"cluster in {cluster.Root}; relays: " +
                  string.Join(", ", cluster.All.Select(n => $"{n.Name} :{n.Relay!.ListenPort}->:{n.ClusterPort}")));
            if (options.Faults.Contains(FaultKind.DiskFull))
            {
                _summary.DiskFullUnavailable = cluster.DiskFullUnavailable;
                Print(cluster.DiskFullAvailable
                    ? $"replicas' directories are {DiskFull.Size} tmpfs mounts (disk-full fault)"
                    : $"disk-full UNAVAILABLE, it will not be injected: {cluster.DiskFullUnavailable}");
            }
            BankWriter.CreateDatabase(cluster.Primary.Db);
            cluster.Start(cluster.Primary);
            await WaitForHttpAsync(cluster, cluster.Primary, cancellation);
            foreach (var replica in cluster.Replicas) cluster.Start(replica);
            writer = new BankWriter(cluster.Primary.Db, options.Seed, options.Rate);
            readers.AddRange(cluster.Replicas.Select(r => new InvariantReader(r.Name, r.Db)));
            var startup = await Convergence.WaitAsync(cluster, StartupBound, cancellation);
            Print($"replicas in sync after startup ({startup.TotalSeconds:0.0} s); injecting faults for {options.Duration.TotalSeconds:0} s");

            var nemesis = new Nemesis(cluster, writer, new Random(options.Seed), options.Faults);
            var faultsEnd = Clock.Elapsed + options.Duration;
            while (Clock.Elapsed < faultsEnd)
            {
                await Task.Delay(nemesis.NextQuiet(), cancellation);
                current = nemesis.Next();
                if (current.Kind == FaultKind.DiskFull && !cluster.DiskFullAvailable)
                {
                    // Drawn all the same, so that a seed draws the same faults with or without root.
                    _summary.Unavailable[current.Kind] = _summary.Unavailable.GetValueOrDefault(current.Kind) + 1;
                    Print($"#{current.Number} {current}: NOT INJECTED, disk-full is unavailable");
                    current = null;
                    continue;
                }
                _summary.Injected[current.Kind] = _summary.Injected.GetValueOrDefault(current.Kind) + 1;
                Print($"#{current.Number} {current}");
                var note = await nemesis.InjectAsync(current, cancellation);
                CheckProcesses(cluster, writer, readers);
                var took = await Convergence.WaitAsync(cluster, options.Bound, cancellation);
                CheckProcesses(cluster, writer, readers);
                _summary.Converged(current, took);
                Print($"#{current.Number} {note}; converged {took.TotalSeconds:0.0} s after healing " +
                      $"(commits {writer.Commits}, reads checked {readers.Sum(r => r.Checks)})");
                current = null;
            }

            Print("faults over: stopping the application, then comparing every replica with the primary");
            writer.Stop();
            var final = await Convergence.WaitAsync(cluster, options.Bound, cancellation);
            _summary.ConvergenceChecks++;
            CheckProcesses(cluster, writer: null, readers);
            var problems = FinalCheck.Compare(cluster);
            if (problems.Count > 0) throw new ChaosFailure("replicas differ from the primary at the end:\n" + string.Join('\n', problems));
            Print($"final: converged in {final.TotalSeconds:0.0} s; both replicas identical to the primary page for page, by sqldiff, integrity_check ok");
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            _summary.Interrupted = true;
            Print("interrupted: cleaning up");
        }
        catch (ChaosFailure e)
        {
            _summary.Failure = e.Message;
            cluster.Keep = true;
            ReportFailure(e.Message, current, cluster, writer, readers);
        }
        finally
        {
            if (writer is not null)
            {
                _summary.Commits = writer.Commits;
                _summary.WriterErrors = Describe(writer.Errors);
            }
            _summary.ReaderChecks = readers.Sum(r => r.Checks);
            _summary.ReaderErrors = string.Join("; ", readers.Where(r => r.Errors.Count > 0).Select(r => $"{r.Replica}: {Describe(r.Errors)}"));
            _summary.Elapsed = Clock.Elapsed;
            Print("relays: " + cluster.RelayStats());
            foreach (var reader in readers) reader.Dispose();
            writer?.Dispose();
        }
        return _summary;
    }

    /// <summary>A broken invariant, or a process that died without the nemesis killing it, fails the run.</summary>
    private static void CheckProcesses(ChaosCluster cluster, BankWriter? writer, List<InvariantReader> readers)
    {
        var violations = readers.SelectMany(r => r.Violations).ToList();
        if (violations.Count > 0) throw new ChaosFailure("a reader saw a broken invariant:\n" + string.Join('\n', violations.Take(20)));
        if (writer is { HasExited: true }) throw new ChaosFailure("the application's writer exited");
        foreach (var reader in readers.Where(r => r.HasExited)) throw new ChaosFailure($"the reader on {reader.Replica} exited");
        foreach (var node in cluster.All.Where(n => n.Process is { HasExited: true }))
            throw new ChaosFailure($"{node.Name}'s litecast exited on its own");
    }

    private void ReportFailure(string message, Fault? fault, ChaosCluster cluster, BankWriter? writer, List<InvariantReader> readers)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine($"FAILURE at {Clock.Now} (seed {options.Seed}, faults {options.FaultsText}): {message}");
        text.AppendLine(fault is null ? "no fault in progress (startup or final check)" : $"during or after fault #{fault.Number}: {fault}");
        text.AppendLine("faults so far:");
        foreach (var line in _summary.Log.Where(l => l.Contains(" #", StringComparison.Ordinal))) text.AppendLine("  " + line);
        text.AppendLine($"replay: dotnet run -c Release --project tests/Litecast.Chaos -- --seed {options.Seed} --duration {options.Duration.TotalSeconds:0}s --faults {options.FaultsText}");
        text.Append(cluster.Tails(60));
        if (writer is not null) text.AppendLine("--- writer, last 20 lines ---").AppendLine(writer.Tail(20));
        foreach (var reader in readers) text.AppendLine($"--- reader on {reader.Replica}, last 10 lines ---").AppendLine(reader.Tail(10));
        Console.Error.WriteLine(text);
    }

    private static string Describe(IReadOnlyDictionary<string, int> errors) =>
        string.Join(", ", errors.OrderByDescending(e => e.Value).Select(e => $"{e.Value}x '{e.Key}'"));

    private void Print(string line)
    {
        var stamped = $"[{Clock.Now}] {line}";
        _summary.Log.Add(stamped);
        Console.WriteLine(stamped);
    }

    private static async Task WaitForHttpAsync(ChaosCluster cluster, ChaosCluster.Node node, CancellationToken cancellation)
    {
        var deadline = Clock.Elapsed + StartupBound;
        while (true)
        {
            try
            {
                using var response = await cluster.Http.GetAsync($"{node.Url}/status", cancellation);
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested) { }
            if (node.Process is { HasExited: true }) throw new ChaosFailure($"{node.Name}'s litecast exited at startup");
            if (Clock.Elapsed > deadline)
                throw new ChaosFailure($"{node.Name} did not answer /status within {StartupBound.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
            await Task.Delay(200, cancellation);
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

/// <summary>A target a figure is held to: what is compared (e.g. "ratio 0.72 vs no Litecast", "max over runs 44.9 ms"),
/// the target, whether it is met, and whether it is one of the performance issue's targets (those are also listed in
/// the report's summary).</summary>
internal sealed record Target(string Measured, string Goal, bool Met, bool Issue = false)
{
    public string Verdict => Met ? "met" : "NOT met";
    public override string ToString() => $"{Measured} ({Goal}) — {Verdict}";
}

/// <summary>One reported figure: a value per run, summarised as median, min and max.</summary>
internal sealed record Figure(string Section, string Name, string Unit, double[] Values, string Note = "", Target? Target = null)
{
    /// <summary>The table's last column: the target's verdict, then the note.</summary>
    public string Remark => Target is null ? Note : Note.Length > 0 ? $"{Target}; {Note}" : Target.ToString();

    public double Median => Stats.Median(Values);
    public double Min => Values.Length == 0 ? double.NaN : Values.Min();
    public double Max => Values.Length == 0 ? double.NaN : Values.Max();
}

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var s = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}

/// <summary>
/// The replication benchmark: real `litecast replicate` processes on loopback (a primary and two replicas, then one),
/// an application process writing the primary with plain SQLite, and a reader in the application's process polling
/// the replica files (commit and visibility on one clock).
/// </summary>
internal sealed partial class ReplicationBenchmark(bool smoke, int runs, TextWriter output)
{
    public readonly List<Figure> Figures = new();
    public readonly List<string> Failures = new();
    public readonly List<string> Notes = new();
    private readonly string _root = Path.Combine(Path.GetTempPath(), "litecast-repbench-" + Guid.NewGuid().ToString("N"));

    private double WriteSeconds => smoke ? 0.5 : 4;
    private double MaxSeconds => smoke ? 0.5 : 3;
    private double WarmupSeconds => smoke ? 0.5 : 30;
    private double BigMb => smoke ? 2 : 100;
    private double ResyncMb => smoke ? 4 : 1126;

    /// <summary>Every section (<c>replication</c>, <c>all</c>), or one alone: <c>tls</c> (8), <c>fanout</c> (9) or
    /// <c>app</c> (10-12, on a fresh warmed-up cluster of two replicas).</summary>
    public void Run(string mode)
    {
        Directory.CreateDirectory(_root);
        try
        {
            switch (mode)
            {
                case "tls":
                    TlsOnAndOff();
                    break;
                case "fanout":
                    IdleAndFanOut();
                    break;
                case "app":
                    ApplicationSections();
                    break;
                default:
                    var withoutLitecast = WithoutLitecast();
                    IdleAndFanOut();
                    WithLitecast(withoutLitecast);
                    TlsOnAndOff();
                    Resync();
                    break;
            }
        }
        finally
        {
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }
    }

    private void Log(string text) => output.WriteLine($"[{Node.Clock.Elapsed.TotalSeconds,7:F1}s] {text}");

    private void Add(string section, string name, string unit, IEnumerable<double> values, string note = "") =>
        Add(new Figure(section, name, unit, values.ToArray(), note));

    private void Add(string section, string name, string unit, IEnumerable<double> values, Target target, string note = "") =>
        Add(new Figure(section, name, unit, values.ToArray(), note, target));

    private void Add(Figure figure)
    {
        Figures.Add(figure);
        Log($"{figure.Section} {figure.Name}: median {figure.Median:G4} {figure.Unit} (min {figure.Min:G4}, max {figure.Max:G4}) {figure.Remark}");
    }

    /// <summary>Runs a workload child process (`dotnet Litecast.Benchmarks.dll workload MODE ...`).</summary>
    private static Dictionary<string, double> Child(string mode, params string[] args) => Finish(StartChild(mode, args), $"workload {mode}");

    /// <summary>Waits for a child process and parses the JSON object of numbers it printed last.</summary>
    private static Dictionary<string, double> Finish(Process process, string what)
    {
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"{what} failed ({process.ExitCode}): {stderr.Result}\n{stdout}");
            return JsonSerializer.Deserialize<Dictionary<string, double>>(stdout.Trim().Split('\n')[^1], Workload.Json)!;
        }
    }

    /// <summary>A workload child process; with <c>cpus</c>, started under `taskset -c CPUS` (all its threads there).</summary>
    private static Process StartChild(string mode, string[] args, string? cpus = null) =>
        Start(["dotnet", Path.Combine(AppContext.BaseDirectory, "Litecast.Benchmarks.dll"), "workload", mode, .. args], cpus);

    private static Process Start(IReadOnlyList<string> command, string? cpus = null)
    {
        IReadOnlyList<string> line = cpus is null ? command : ["taskset", "-c", cpus, .. command];
        var info = new ProcessStartInfo(line[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in line.Skip(1)) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    /// <summary>The slowest replica's value of a per-replica workload figure (`r{i}KEY`).</summary>
    private static double Slowest(Dictionary<string, double> result, int replicas, string key) =>
        Enumerable.Range(0, replicas).Max(i => result[$"r{i}{key}"]);

    /// <summary>A fresh cluster: a primary with an empty table and <c>replicas</c> replicas, caught up.</summary>
    private BenchCluster StartCluster(string name, int replicas)
    {
        var cluster = new BenchCluster(Path.Combine(_root, name), replicas: replicas);
        try
        {
            Child("init", "--db", cluster.PrimaryDb);
            cluster.StartPrimary();
            for (var i = 0; i < replicas; i++) cluster.StartReplica(i);
            Log($"litecast: a primary and {replicas} replicas starting");
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(90 + 15 * replicas));
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Warm-up, not measured: a node's first minute under load is spent compiling its hot paths (the JIT's
    /// tiers), which a long-running sidecar pays once.</summary>
    private void WarmUp(BenchCluster cluster, int replicas, double rate)
    {
        Log($"warm-up: {WarmupSeconds:G} s at {rate:G} tx/s, not measured");
        Child("write", ["--db", cluster.PrimaryDb, "--rate", F(rate), "--seconds", F(WarmupSeconds), "--timeout", "60", .. Replicas(cluster, replicas)]);
    }

    private static string F(double v) => v.ToString(CultureInfo.InvariantCulture);

    private static string[] Replicas(BenchCluster c, int count) =>
        Enumerable.Range(0, count).SelectMany(i => new[] { "--replica", c.ReplicaDb(i) }).ToArray();

    private void CheckReplicated(string what, Dictionary<string, double> result, int replicas)
    {
        for (var r = 0; r < replicas; r++)
            if (result.GetValueOrDefault($"r{r}Missing") > 0)
                Failures.Add($"{what}: {result[$"r{r}Missing"]} of the committed rows never became visible on replica {r + 1}");
    }

    /// <param name="Db">The application-alone database (no Litecast), for later baselines.</param>
    private sealed record Baseline(string Db, double MaxRate, Dictionary<int, (double P50, double P99)> Latency);

    /// <summary>The application alone: its max single-row commit rate and paced latency; and the backup-API baseline.</summary>
    private Baseline WithoutLitecast()
    {
        var dir = Path.Combine(_root, "alone");
        Directory.CreateDirectory(dir);
        var db = Path.Combine(dir, "db");
        Child("init", "--db", db);
        Log("application alone (no Litecast): max commit rate, paced commit latency");
        var maxRates = new List<double>();
        for (var run = 0; run < runs; run++) maxRates.Add(Child("write", "--db", db, "--rate", "0", "--seconds", F(MaxSeconds))["rate"]);
        Add("2/3", "application max commit rate, no Litecast (synchronous=NORMAL)", "tx/s", maxRates);
        var latency = new Dictionary<int, (double, double)>();
        foreach (var rate in new[] { 1000, 5000 })
        {
            var results = Enumerable.Range(0, runs).Select(_ => Child("write", "--db", db, "--rate", F(rate), "--seconds", F(WriteSeconds))).ToList();
            Add("3", $"commit latency p50 at {rate} tx/s, no Litecast", "us", results.Select(r => r["latP50Us"]));
            Add("3", $"commit latency p99 at {rate} tx/s, no Litecast", "us", results.Select(r => r["latP99Us"]));
            latency[rate] = (Stats.Median(results.Select(r => r["latP50Us"])), Stats.Median(results.Select(r => r["latP99Us"])));
        }

        // Baseline 7: SQLite's online backup API copying the database every second into a file readers poll.
        var dest = Path.Combine(dir, "backup.db");
        Child("backup", "--db", db, "--dest", dest, "--once");
        var stale = new List<Dictionary<string, double>>();
        var cpu = new List<double>();
        var rss = new List<double>();
        var seconds = smoke ? 1.5 : 5;
        for (var run = 0; run < runs; run++)
        {
            using var backup = StartChild("backup", ["--db", db, "--dest", dest, "--interval-ms", "1000", "--seconds", "3600"]);
            Thread.Sleep(300);
            var before = ProcStat.Sample(backup.Id);
            var result = Child("write", "--db", db, "--rate", "1000", "--seconds", F(seconds), "--replica", dest, "--timeout", "10");
            var after = ProcStat.Sample(backup.Id);
            backup.Kill();
            backup.WaitForExit();
            CheckReplicated("backup baseline", result, 1);
            stale.Add(result);
            cpu.Add((after.CpuSeconds - before.CpuSeconds) / (result["committed"] / 1000));
            rss.Add(after.RssMb);
        }
        Add("7", "backup API every 1 s: staleness p50 at 1000 tx/s", "ms", stale.Select(r => r["r0LagP50Ms"]));
        Add("7", "backup API every 1 s: staleness p99 at 1000 tx/s", "ms", stale.Select(r => r["r0LagP99Ms"]));
        Add("7", "backup API every 1 s: staleness max at 1000 tx/s", "ms", stale.Select(r => r["r0LagMaxMs"]));
        Add("7", "backup API process: CPU per 1000 tx", "CPU s", cpu);
        Add("7", "backup API process: resident memory", "MB", rss);
        return new Baseline(db, Stats.Median(maxRates), latency);
    }

    private void WithLitecast(Baseline alone)
    {
        using var cluster = StartCluster("live", 2);
        Thread.Sleep(smoke ? 500 : 3000);
        var nodes = new[] { ("primary", cluster.Primary!), ("replica 1", cluster.Replicas[0]!), ("replica 2", cluster.Replicas[1]!) };
        foreach (var (name, node) in nodes)
        {
            var rss = node.Sample().RssMb;
            Add("6", $"idle resident memory, {name}", "MB", [rss], Bound([rss], "MB", "target < 200 MB, one sample", v => v < 200));
        }

        WarmUp(cluster, 2, 1000);

        // 1 + 3 + 6: lag at fixed rates with two replicas; writer latency with Litecast; CPU per 1000 tx.
        foreach (var rate in new[] { 100, 1000, 5000 })
        {
            var results = new List<Dictionary<string, double>>();
            var cost = nodes.Select(_ => new List<double>()).ToArray();
            var rss = nodes.Select(_ => new List<double>()).ToArray();
            for (var run = 0; run < runs; run++)
            {
                var before = nodes.Select(n => n.Item2.Sample()).ToArray();
                var result = Child("write", ["--db", cluster.PrimaryDb, "--rate", F(rate), "--seconds", F(WriteSeconds), .. Replicas(cluster, 2)]);
                var after = nodes.Select(n => n.Item2.Sample()).ToArray();
                CheckReplicated($"{rate} tx/s", result, 2);
                results.Add(result);
                for (var i = 0; i < nodes.Length; i++)
                {
                    cost[i].Add((after[i].CpuSeconds - before[i].CpuSeconds) / (result["committed"] / 1000));
                    rss[i].Add(after[i].RssMb);
                }
            }
            // Lag over both replicas: each run's percentile is the worse replica's.
            var p50 = results.Select(r => Math.Max(r["r0LagP50Ms"], r["r1LagP50Ms"])).ToArray();
            var p99 = results.Select(r => Math.Max(r["r0LagP99Ms"], r["r1LagP99Ms"])).ToArray();
            if (rate == 1000)
            {
                Add("1", $"lag p50 at {rate} tx/s (2 replicas)", "ms", p50, Bound(p50, "ms", "target < 1 ms", v => v < 1));
                Add("1", $"lag p99 at {rate} tx/s (2 replicas)", "ms", p99, Bound(p99, "ms", "target ≤ 10 ms in every run", v => v <= 10, issue: true, everyRun: true));
            }
            else
            {
                Add("1", $"lag p50 at {rate} tx/s (2 replicas)", "ms", p50);
                Add("1", $"lag p99 at {rate} tx/s (2 replicas)", "ms", p99);
            }
            Add("1", $"lag max at {rate} tx/s (2 replicas)", "ms", results.Select(r => Math.Max(r["r0LagMaxMs"], r["r1LagMaxMs"])));
            Add("1", $"achieved write rate (target {rate} tx/s)", "tx/s", results.Select(r => r["rate"]));
            if (rate is 1000 or 5000) AddCommitLatency(rate, results, "Litecast + 2 replicas", alone, issueP99: rate == 1000);
            if (rate == 1000)
                for (var i = 0; i < nodes.Length; i++)
                {
                    Add("6", $"CPU per 1000 replicated tx at 1000 tx/s, {nodes[i].Item1}", "CPU s", cost[i],
                        Bound(cost[i], "CPU s", "target ≤ 0.10 CPU s", v => v <= 0.10, issue: true));
                    if (i == 0)
                        Add("6", $"resident memory after 1000 tx/s, {nodes[i].Item1}", "MB", rss[i], Bound(rss[i], "MB", "target ≤ 200 MB", v => v <= 200, issue: true));
                    else Add("6", $"resident memory after 1000 tx/s, {nodes[i].Item1}", "MB", rss[i]);
                }
        }

        // 3 again, with the README's tip for a busy primary: the application turns its autocheckpoint off and leaves
        // checkpointing to Litecast (whose PASSIVE checkpoints bound the WAL), so its commits stop paying for fsyncs.
        foreach (var rate in new[] { 1000, 5000 })
        {
            var results = new List<Dictionary<string, double>>();
            for (var run = 0; run < runs; run++)
            {
                var result = Child("write", ["--db", cluster.PrimaryDb, "--rate", F(rate), "--seconds", F(WriteSeconds), .. AutocheckpointOff, .. Replicas(cluster, 2)]);
                CheckReplicated($"{rate} tx/s, autocheckpoint off", result, 2);
                results.Add(result);
            }
            AddCommitLatency(rate, results, "Litecast + 2 replicas, application's autocheckpoint off (README tip)", alone);
        }

        // 10-12: a Python application's marker, the lag Litecast reports, the application pinned to its own core.
        MarkerApp(cluster);
        ReportedLag(cluster);
        PinnedMaxRate(cluster, alone.Db);

        // 2 + 3: the application as fast as it can, two replicas (with SQLite's default autocheckpoint, then with it
        // off), then one.
        MaxRate(cluster, 2, alone.MaxRate, autocheckpointOff: false);
        MaxRate(cluster, 2, alone.MaxRate, autocheckpointOff: true);

        // 4: one big transaction.
        var big = new List<Dictionary<string, double>>();
        for (var run = 0; run < runs; run++)
        {
            var result = Child("big", ["--db", cluster.PrimaryDb, "--mb", F(BigMb), "--raw", Path.Combine(_root, "raw.bin"), .. Replicas(cluster, 2)]);
            CheckReplicated("big transaction", result, 2);
            big.Add(result);
        }
        var bigRate = big.Select(r => Math.Min(r["r0MBps"], r["r1MBps"])).ToArray();
        Add("4", $"big transaction ({BigMb:G} MB) commit -> visible on both replicas", "MB/s", bigRate,
            Ratio(Stats.Median(bigRate), Stats.Median(big.Select(r => r["rawMBps"])), "vs raw write+fsync", "target ≥ 0.5", v => v >= 0.5, issue: true));
        Add("4", $"raw sequential write+fsync of the same bytes", "MB/s", big.Select(r => r["rawMBps"]));
        Add("4", $"application's own commit of the big transaction", "s", big.Select(r => r["commitSeconds"]));

        cluster.StopReplica(1);
        cluster.WaitCaughtUp(TimeSpan.FromSeconds(60));
        MaxRate(cluster, 1, alone.MaxRate, autocheckpointOff: false);
    }

    private static readonly string[] AutocheckpointOff = ["--autocheckpoint", "0"];

    /// <summary>
    /// 8: what mutual TLS, HTTPS and the token cost. The same measurements on a plain cluster and a TLS one, each
    /// fresh and warmed up the same way, one after the other in this run: lag at 1000 tx/s and keep-up with the
    /// application unthrottled, two replicas.
    /// </summary>
    private void TlsOnAndOff()
    {
        var lag = new Dictionary<bool, (double[] P50, double[] P99)>();
        var keepUp = new Dictionary<bool, double[]>();
        foreach (var tls in new[] { false, true })
        {
            using var cluster = new BenchCluster(Path.Combine(_root, tls ? "tls-on" : "tls-off"), tls);
            try
            {
                Measure(cluster, tls);
            }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException($"{e.Message}\n{cluster.Outputs}", e);
            }
        }
        void Measure(BenchCluster cluster, bool tls)
        {
            var setup = tls ? "TLS on" : "TLS off";
            Child("init", "--db", cluster.PrimaryDb);
            cluster.StartPrimary();
            cluster.StartReplica(0);
            cluster.StartReplica(1);
            Log($"{setup}: a primary and two replicas starting");
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(90));
            Child("write", ["--db", cluster.PrimaryDb, "--rate", "1000", "--seconds", F(WarmupSeconds / 3), "--timeout", "60", .. Replicas(cluster, 2)]);
            var paced = Enumerable.Range(0, runs)
                .Select(_ => Child("write", ["--db", cluster.PrimaryDb, "--rate", "1000", "--seconds", F(WriteSeconds), .. Replicas(cluster, 2)]))
                .ToList();
            foreach (var result in paced) CheckReplicated($"1000 tx/s, {setup}", result, 2);
            lag[tls] = (paced.Select(r => Math.Max(r["r0LagP50Ms"], r["r1LagP50Ms"])).ToArray(),
                paced.Select(r => Math.Max(r["r0LagP99Ms"], r["r1LagP99Ms"])).ToArray());
            var unthrottled = Enumerable.Range(0, runs)
                .Select(_ => Child("write", ["--db", cluster.PrimaryDb, "--rate", "0", "--seconds", F(MaxSeconds), "--timeout", "60", .. Replicas(cluster, 2)]))
                .ToList();
            foreach (var result in unthrottled) CheckReplicated($"max rate, {setup}", result, 2);
            keepUp[tls] = unthrottled.Select(r => Math.Min(r["r0ReplicatedRate"], r["r1ReplicatedRate"])).ToArray();
        }
        foreach (var tls in new[] { false, true })
        {
            var setup = tls ? "TLS on (mutual TLS, HTTPS, token)" : "TLS off";
            string Against(double[] on, double[] off) => tls ? RatioText(Stats.Median(on), Stats.Median(off), "vs TLS off") : "baseline";
            Add("8", $"lag p50 at 1000 tx/s (2 replicas), {setup}", "ms", lag[tls].P50, Against(lag[true].P50, lag[false].P50));
            Add("8", $"lag p99 at 1000 tx/s (2 replicas), {setup}", "ms", lag[tls].P99, Against(lag[true].P99, lag[false].P99));
            Add("8", $"replicated rate, application unthrottled (2 replicas), {setup}", "tx/s", keepUp[tls], Against(keepUp[true], keepUp[false]));
        }
    }

    /// <summary>Commit latency p50 and p99 against the application alone (target 1.10); with <c>issueP99</c>, the p99 is
    /// the performance issue's row (SQLite's default autocheckpoint at 1,000 tx/s), whose target is 1.5.</summary>
    private void AddCommitLatency(int rate, List<Dictionary<string, double>> results, string setup, Baseline alone, bool issueP99 = false)
    {
        Add("3", $"commit latency p50 at {rate} tx/s, {setup}", "us", results.Select(r => r["latP50Us"]),
            Ratio(Stats.Median(results.Select(r => r["latP50Us"])), alone.Latency[rate].P50, "vs no Litecast", "overhead target < 1.10", v => v < 1.10));
        var p99 = Stats.Median(results.Select(r => r["latP99Us"]));
        Add("3", $"commit latency p99 at {rate} tx/s, {setup}", "us", results.Select(r => r["latP99Us"]), issueP99
            ? Ratio(p99, alone.Latency[rate].P99, "vs no Litecast", "overhead target ≤ 1.5", v => v <= 1.5, issue: true)
            : Ratio(p99, alone.Latency[rate].P99, "vs no Litecast", "overhead target < 1.10", v => v < 1.10));
    }

    private void MaxRate(BenchCluster cluster, int replicas, double aloneRate, bool autocheckpointOff)
    {
        var setup = $"{replicas} replica(s){(autocheckpointOff ? ", application's autocheckpoint off" : "")}";
        var results = new List<Dictionary<string, double>>();
        for (var run = 0; run < runs; run++)
        {
            var result = Child("write", ["--db", cluster.PrimaryDb, "--rate", "0", "--seconds", F(MaxSeconds), "--timeout", "60",
                .. autocheckpointOff ? AutocheckpointOff : [], .. Replicas(cluster, replicas)]);
            CheckReplicated($"max rate, {setup}", result, replicas);
            results.Add(result);
        }
        var replicated = results.Select(r => Enumerable.Range(0, replicas).Min(i => r[$"r{i}ReplicatedRate"])).ToArray();
        Add("2", $"replicated rate, application unthrottled, {setup}", "tx/s", replicated,
            Ratio(Stats.Median(replicated), aloneRate, "vs application alone", "target >= 1.0", v => v >= 1.0));
        var appRate = results.Select(r => r["rate"]).ToArray();
        Add("2/3", $"application max commit rate with Litecast + {setup}", "tx/s", appRate,
            Ratio(Stats.Median(appRate), aloneRate, "vs no Litecast", "overhead target >= 0.90", v => v >= 0.9));
        Add("2", $"lag p50 in the first / last quarter of the unthrottled run, {setup}", "ms",
            results.Select(r => Enumerable.Range(0, replicas).Max(i => r[$"r{i}LagLastQuarterP50Ms"])),
            $"last quarter shown; first quarter median {Stats.Median(results.Select(r => Enumerable.Range(0, replicas).Max(i => r[$"r{i}LagFirstQuarterP50Ms"]))):G3} ms (growing lag = not keeping up)");
        Add("1", $"lag p99 at the application's max rate, {setup}", "ms",
            results.Select(r => Enumerable.Range(0, replicas).Max(i => r[$"r{i}LagP99Ms"])));
    }

    /// <summary>One paced write (rate 0: unthrottled; or with --big MB one big transaction) against a fresh primary and
    /// 1-2 replicas, after an optional warm-up write; prints the workload's figures and each node's CPU seconds per
    /// 1,000 transactions. For profiling one case without the whole run.</summary>
    public static int Probe(Args a, TextWriter output)
    {
        if (a.Has("resync-mb")) return ProbeResync(a, output);
        var root = Path.Combine(Path.GetTempPath(), "litecast-probe-" + Guid.NewGuid().ToString("N"));
        var replicas = a.Int("replicas", 2);
        try
        {
            using var cluster = new BenchCluster(root);
            Child("init", "--db", cluster.PrimaryDb);
            cluster.StartPrimary();
            for (var i = 0; i < replicas; i++) cluster.StartReplica(i);
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(90));
            var warmup = a.Double("warmup", 0);
            if (warmup > 0) Child("write", ["--db", cluster.PrimaryDb, "--rate", F(a.Double("rate")), "--seconds", F(warmup), "--timeout", "60", .. Replicas(cluster, replicas)]);
            Thread.Sleep(2000);
            var nodes = new[] { cluster.Primary! }.Concat(cluster.Replicas.Take(replicas).Select(r => r!)).ToArray();
            var before = nodes.Select(n => n.Sample()).ToArray();
            var result = a.Has("big")
                ? Child("big", ["--db", cluster.PrimaryDb, "--mb", F(a.Double("big")), "--raw", Path.Combine(root, "raw.bin"), .. Replicas(cluster, replicas)])
                : Child("write", ["--db", cluster.PrimaryDb, "--rate", F(a.Double("rate")), "--seconds", F(a.Double("seconds", 4)),
                    "--timeout", "60", .. a.Has("autocheckpoint") ? ["--autocheckpoint", F(a.Int("autocheckpoint", 1000))] : Array.Empty<string>(), .. Replicas(cluster, replicas)]);
            var after = nodes.Select(n => n.Sample()).ToArray();
            foreach (var (key, value) in result.OrderBy(r => r.Key)) output.WriteLine($"{key,-28} {value,12:G5}");
            for (var i = 0; i < nodes.Length; i++)
                output.WriteLine($"{(i == 0 ? "primary" : $"replica {i}"),-10} CPU s per 1000 tx {(after[i].CpuSeconds - before[i].CpuSeconds) / (result.GetValueOrDefault("committed", 1000) / 1000):F3}, RSS {after[i].RssMb:F0} MB");
            return 0;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Full resyncs of a fresh replica from a primary of --resync-mb MiB (--runs N, default 3), against cp + sync of the
    /// same file, back to back: the resync half of section 5 alone, for profiling. --db-cache FILE keeps the filled
    /// primary between probes (filled once, then copied); --delta adds section 5's delta resyncs after 1% changed.
    /// </summary>
    private static int ProbeResync(Args a, TextWriter output)
    {
        var root = Path.Combine(Path.GetTempPath(), "litecast-probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var cluster = new BenchCluster(root);
            var cache = a.All("db-cache").LastOrDefault();
            if (cache is not null && File.Exists(cache)) File.Copy(cache, cluster.PrimaryDb);
            else
            {
                Child("fill", "--db", cluster.PrimaryDb, "--mb", F(a.Double("resync-mb")));
                if (cache is not null) File.Copy(cluster.PrimaryDb, cache);
            }
            var copy = Path.Combine(root, "copy.db");
            cluster.StartPrimary();
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(120));
            var full = new List<double>();
            var cp = new List<double>();
            for (var run = 0; run < a.Int("runs", 3); run++)
            {
                var clock = Stopwatch.StartNew();
                Shell("cp", cluster.PrimaryDb, copy);
                Shell("sync", copy);
                cp.Add(clock.Elapsed.TotalSeconds);
                File.Delete(copy);
                full.Add(ResyncOnStart(cluster, TimeSpan.FromSeconds(120)));
                output.WriteLine($"run {run + 1}: resync {full[^1]:F2} s, cp+sync {cp[^1]:F2} s");
                if (a.Has("logs")) output.WriteLine($"--- replica, run {run + 1} ---\n{cluster.Replicas[0]!.Output}");
                cluster.StopReplica(0);
                cluster.DeleteReplica(0, stateOnly: false);
            }
            output.WriteLine($"full resync median {Stats.Median(full):F2} s, cp+sync median {Stats.Median(cp):F2} s, ratio {Stats.Median(full) / Stats.Median(cp):F2}");
            if (a.Has("delta"))
            {
                // Section 5's delta case: the replica's state forgotten while ~1% of the primary's pages change.
                cluster.StartReplica(0);
                cluster.WaitCaughtUp(TimeSpan.FromSeconds(600));
                var delta = new List<double>();
                for (var run = 0; run < a.Int("runs", 3); run++)
                {
                    ForgetStateAndTouch(cluster);
                    delta.Add(ResyncOnStart(cluster, TimeSpan.FromSeconds(300)));
                    output.WriteLine($"delta run {run + 1}: {delta[^1]:F2} s");
                }
                output.WriteLine($"delta resync median {Stats.Median(delta):F2} s");
            }
            if (a.Has("logs")) output.WriteLine(cluster.Outputs);
            return 0;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private void Resync()
    {
        using var cluster = new BenchCluster(Path.Combine(_root, "resync"));
        Log($"resync: filling a {ResyncMb:G} MiB primary");
        var pages = Child("fill", "--db", cluster.PrimaryDb, "--mb", F(ResyncMb))["pages"];
        var cp = new List<double>();
        var copy = Path.Combine(_root, "copy.db");
        for (var run = 0; run < runs; run++)
        {
            var clock = Stopwatch.StartNew();
            Shell("cp", cluster.PrimaryDb, copy);
            Shell("sync", copy);
            cp.Add(clock.Elapsed.TotalSeconds);
            File.Delete(copy);
        }
        cluster.StartPrimary();
        cluster.WaitCaughtUp(TimeSpan.FromSeconds(120)); // no replica yet: waits for the primary's /sync
        var full = new List<double>();
        var fullBytes = new List<double>();
        var startToCaughtUp = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            if (run > 0)
            {
                cluster.StopReplica(0);
                cluster.DeleteReplica(0, stateOnly: false);
            }
            var bytesBefore = cluster.Metric(cluster.PrimaryUrl, "litecast_resync_bytes_total");
            full.Add(ResyncOnStart(cluster, TimeSpan.FromSeconds(120)));
            startToCaughtUp.Add(Node.Clock.Elapsed.TotalSeconds - cluster.Replicas[0]!.StartedAt);
            fullBytes.Add(cluster.Metric(cluster.PrimaryUrl, "litecast_resync_bytes_total") - bytesBefore);
        }
        var size = pages * Workload.PageSize / (1024.0 * 1024 * 1024);
        Add("5", $"full resync of a {size:F2} GiB replica from empty (log: resyncing -> complete)", "s", full,
            Ratio(Stats.Median(full), Stats.Median(cp), "vs cp+sync", "target ≤ 2", v => v <= 2, issue: true));
        Add("5", "  same, from replica process start to caught up (incl. startup and cluster join)", "s", startToCaughtUp);
        Add("5", $"cp + sync of the same {size:F2} GiB file", "s", cp);
        Add("5", "bytes sent by the primary for a full resync", "MB", fullBytes.Select(b => b / 1e6));

        var delta = new List<double>();
        var deltaBytes = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            ForgetStateAndTouch(cluster);
            var bytesBefore = cluster.Metric(cluster.PrimaryUrl, "litecast_resync_bytes_total");
            delta.Add(ResyncOnStart(cluster, TimeSpan.FromSeconds(300)));
            deltaBytes.Add(cluster.Metric(cluster.PrimaryUrl, "litecast_resync_bytes_total") - bytesBefore);
        }
        Add("5", "delta resync after 1% of rows (~1% of pages) changed", "s", delta);
        Add("5", "bytes sent by the primary for the delta resync", "MB", deltaBytes.Select(b => b / 1e6),
            Ratio(Stats.Median(deltaBytes), Stats.Median(fullBytes), "vs full resync bytes", "target < 0.05", v => v < 0.05));
        CommitLatencyDuringSnapshots(cluster);
    }

    /// <summary>Starts replica 0, which resyncs (its database or its saved position is gone), and waits until it has
    /// caught up: the seconds from its log line "resyncing from the primary" to "resync complete", on the benchmark's
    /// clock.</summary>
    private static double ResyncOnStart(BenchCluster cluster, TimeSpan untilStarted)
    {
        cluster.StartReplica(0);
        var node = cluster.Replicas[0]!;
        var started = node.WaitForLine("resyncing from the primary", 0, untilStarted);
        var done = node.WaitForLine("resync complete", started, TimeSpan.FromSeconds(600));
        cluster.WaitCaughtUp(TimeSpan.FromSeconds(60));
        return done - started;
    }

    /// <summary>The delta case: replica 0 stopped and its saved position forgotten while every 100th row (~1% of the
    /// pages) changes on the primary, so its next start resyncs by comparing page hashes.</summary>
    private static void ForgetStateAndTouch(BenchCluster cluster)
    {
        cluster.StopReplica(0);
        cluster.DeleteReplica(0, stateOnly: true);
        Child("touch", "--db", cluster.PrimaryDb);
    }

    /// <summary>
    /// 3: the application's commit latency while the primary takes resync snapshots back to back (a replica asked to
    /// resync again and again; each resync pins a snapshot and copies the whole database), against the same cluster
    /// with none, in the same run. A snapshot takes no lock the application's writer needs (issue 10), so the two
    /// should match up to the cost of the copy's reads on a shared machine.
    /// </summary>
    private void CommitLatencyDuringSnapshots(BenchCluster cluster)
    {
        cluster.WaitCaughtUp(TimeSpan.FromSeconds(120));
        var quiet = new List<Dictionary<string, double>>();
        var snapshotting = new List<Dictionary<string, double>>();
        var snapshots = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            quiet.Add(Child("write", "--db", cluster.PrimaryDb, "--rate", "1000", "--seconds", F(WriteSeconds)));
            var resyncsBefore = cluster.Metric(cluster.PrimaryUrl, "litecast_resyncs_total");
            using var stop = new CancellationTokenSource();
            var asking = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    // A new request once the previous resync is over: one snapshot after the other, never idle long.
                    await cluster.Http.PostAsync($"{cluster.ReplicaUrl(0)}/dbs/db/resync", null);
                    await Task.Delay(100);
                }
            });
            snapshotting.Add(Child("write", "--db", cluster.PrimaryDb, "--rate", "1000", "--seconds", F(WriteSeconds)));
            stop.Cancel();
            asking.GetAwaiter().GetResult();
            snapshots.Add(cluster.Metric(cluster.PrimaryUrl, "litecast_resyncs_total") - resyncsBefore);
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(300));
        }
        foreach (var (percentile, key) in new[] { ("p50", "latP50Us"), ("p99", "latP99Us") })
        {
            var baseline = Stats.Median(quiet.Select(r => r[key]));
            Add("3", $"commit latency {percentile} at 1000 tx/s, no resync running (same cluster)", "us", quiet.Select(r => r[key]));
            Add("3", $"commit latency {percentile} at 1000 tx/s, resync snapshots taken back to back", "us", snapshotting.Select(r => r[key]),
                Ratio(Stats.Median(snapshotting.Select(r => r[key])), baseline, "vs no resync", "target < 1.5", v => v < 1.5));
        }
        Add("3", "resync snapshots served while the application wrote", "count", snapshots);
    }

    private static void Shell(string file, params string[] args)
    {
        using var process = Process.Start(file, args);
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} failed ({process.ExitCode})");
    }

    /// <summary>A target on the runs' median, or with <c>everyRun</c> on their max (every run must meet it).</summary>
    private static Target Bound(IEnumerable<double> values, string unit, string goal, Func<double, bool> met, bool issue = false, bool everyRun = false)
    {
        var value = everyRun ? values.DefaultIfEmpty(double.NaN).Max() : Stats.Median(values);
        return new Target($"{(everyRun ? "max over runs" : "median")} {Report.N(value)} {unit}", goal, met(value), issue);
    }

    /// <summary>A target on the ratio of a figure's median to its baseline's.</summary>
    private static Target Ratio(double value, double baseline, string against, string goal, Func<double, bool> met, bool issue = false) =>
        new(RatioText(value, baseline, against), goal, met(value / baseline), issue);

    private static string RatioText(double value, double baseline, string against) => $"ratio {value / baseline:F2} {against}";
}

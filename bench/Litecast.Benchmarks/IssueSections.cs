using System.Diagnostics;
using System.Text.Json;

/// <summary>
/// Sections 9-12 of the replication benchmark: an idle cluster's CPU and fan-out to six replicas (9), a plain Python
/// application's marker lag (10), the application's max commit rate with Litecast on another core (11), and the lag
/// Litecast itself reports against the lag measured on one clock (12).
/// </summary>
internal sealed partial class ReplicationBenchmark
{
    private int FanOutReplicas => smoke ? 3 : 6;
    private const int FanOutRate = 100;
    private double FanOutSeconds => smoke ? 1 : 10;
    private double IdleSettleSeconds => smoke ? 1 : 30;
    private double IdleSeconds => smoke ? 3 : 20;
    private double MarkerSeconds => smoke ? 1.5 : 10;

    /// <summary>9: a fresh primary with six replicas (three in smoke mode): the slowest replica's lag under paced writes
    /// (after the warm-up), then each node's CPU once nothing has been written for a while: a sidecar is idle for
    /// long stretches after it has worked, not only in its first seconds (when it is still compiling).</summary>
    private void IdleAndFanOut()
    {
        var count = FanOutReplicas;
        using var cluster = StartCluster("fanout", count);
        var setup = $"primary + {count} replicas{(smoke ? " (smoke: 3, not 6)" : "")}";
        var nodes = new[] { cluster.Primary! }.Concat(cluster.Replicas.Select(r => r!)).ToArray();

        WarmUp(cluster, count, FanOutRate);
        var results = Enumerable.Range(0, runs)
            .Select(_ => Child("write", ["--db", cluster.PrimaryDb, "--rate", F(FanOutRate), "--seconds", F(FanOutSeconds), "--timeout", "60", .. Replicas(cluster, count)]))
            .ToList();
        foreach (var result in results) CheckReplicated($"fan-out to {count} replicas", result, count);
        var p99 = results.Select(r => Slowest(r, count, "LagP99Ms")).ToArray();
        Add("9", $"fan-out lag p50 at {FanOutRate} tx/s, slowest of {count} replicas", "ms", results.Select(r => Slowest(r, count, "LagP50Ms")));
        Add("9", $"fan-out lag p99 at {FanOutRate} tx/s, slowest of {count} replicas", "ms", p99,
            Bound(p99, "ms", "target ≤ 20 ms", v => v <= 20, issue: true));
        Add("9", $"fan-out lag max at {FanOutRate} tx/s, slowest of {count} replicas", "ms", results.Select(r => Slowest(r, count, "LagMaxMs")));

        Log($"idle: no writes for {IdleSettleSeconds:G} s, then {runs} window(s) of {IdleSeconds:G} s");
        Thread.Sleep(TimeSpan.FromSeconds(IdleSettleSeconds));
        var primary = new List<double>();
        var busiest = new List<double>();
        var median = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            var before = nodes.Select(n => n.Sample().CpuSeconds).ToArray();
            var clock = Stopwatch.StartNew();
            Thread.Sleep(TimeSpan.FromSeconds(IdleSeconds));
            var cores = nodes.Select((n, i) => (n.Sample().CpuSeconds - before[i]) / clock.Elapsed.TotalSeconds).ToArray();
            primary.Add(cores[0]);
            busiest.Add(cores.Skip(1).Max());
            median.Add(Stats.Median(cores.Skip(1)));
        }
        Add("9", $"idle CPU, no writes, {setup}: primary", "cores", primary,
            Bound(primary, "cores", "target ≤ 0.005 cores", v => v <= 0.005, issue: true));
        Add("9", $"idle CPU, no writes, {setup}: busiest replica", "cores", busiest,
            Bound(busiest, "cores", "target ≤ 0.005 cores, each replica", v => v <= 0.005, issue: true));
        Add("9", $"idle CPU, no writes, {setup}: median replica", "cores", median);
    }

    /// <summary>Sections 10-12 alone, on a fresh cluster of two replicas warmed up as in the full run, with a fresh
    /// application-alone database for 11's baseline.</summary>
    private void ApplicationSections()
    {
        var alone = Path.Combine(_root, "alone", "db");
        Directory.CreateDirectory(Path.GetDirectoryName(alone)!);
        Child("init", "--db", alone);
        using var cluster = StartCluster("live", 2);
        WarmUp(cluster, 2, 1000);
        MarkerApp(cluster);
        ReportedLag(cluster);
        PinnedMaxRate(cluster, alone);
    }

    /// <summary>10: a plain Python application (marker.py: the stdlib's sqlite3, default settings) commits a marker
    /// row every 5 ms and polls both replica files on the same monotonic clock.</summary>
    private void MarkerApp(BenchCluster cluster)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "marker.py");
        var results = new List<Dictionary<string, double>>();
        for (var run = 0; run < runs; run++)
        {
            var result = Finish(Start(["python3", script, "--db", cluster.PrimaryDb, "--seconds", F(MarkerSeconds), "--interval-ms", "5",
                .. Replicas(cluster, 2)]), "marker.py");
            CheckReplicated("Python marker app", result, 2);
            results.Add(result);
        }
        const string setup = "a marker every 5 ms from a Python app (slower of 2 replicas, polled)";
        var p99 = results.Select(r => Slowest(r, 2, "LagP99Ms")).ToArray();
        Add("10", $"lag p50, {setup}", "ms", results.Select(r => Slowest(r, 2, "LagP50Ms")));
        Add("10", $"lag p99, {setup}", "ms", p99, Bound(p99, "ms", "target ≤ 10 ms", v => v <= 10, issue: true));
        Add("10", $"lag max, {setup}", "ms", results.Select(r => Slowest(r, 2, "LagMaxMs")));
        Add("10", "markers committed per second by the Python app", "tx/s", results.Select(r => r["rate"]));
    }

    /// <summary>11: the application's max commit rate (default autocheckpoint) alone on one core (the first this process
    /// may use: core 0 on a plain machine), then on that core with every thread of Litecast's three nodes moved to the
    /// next; alternated run by run.</summary>
    private void PinnedMaxRate(BenchCluster cluster, string aloneDb)
    {
        int[] cpus = [];
        if (OperatingSystem.IsLinux())
        {
            using var self = Process.GetCurrentProcess();
            var affinity = (long)self.ProcessorAffinity;
            cpus = Enumerable.Range(0, 64).Where(i => ((affinity >> i) & 1) != 0).ToArray();
        }
        if (cpus.Length < 2)
        {
            Log("11 skipped: it needs two cores");
            return;
        }
        var (appCore, litecastCore, all) = (F(cpus[0]), F(cpus[1]), string.Join(',', cpus));
        var nodes = new[] { cluster.Primary! }.Concat(cluster.Replicas.Select(r => r!)).ToArray();
        var alone = new List<double>();
        var withLitecast = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            alone.Add(Finish(StartChild("write", ["--db", aloneDb, "--rate", "0", "--seconds", F(MaxSeconds)], appCore), "pinned writer")["rate"]);
            foreach (var node in nodes) node.PinTo(litecastCore);
            try
            {
                withLitecast.Add(Finish(StartChild("write", ["--db", cluster.PrimaryDb, "--rate", "0", "--seconds", F(MaxSeconds)], appCore), "pinned writer")["rate"]);
            }
            finally
            {
                foreach (var node in nodes) node.PinTo(all);
            }
            cluster.WaitCaughtUp(TimeSpan.FromSeconds(120));
        }
        Add("11", $"application max commit rate alone, pinned to one core (taskset -c {appCore})", "tx/s", alone);
        Add("11", $"application max commit rate on that core, Litecast + 2 replicas on another (taskset -a -p -c {litecastCore})", "tx/s", withLitecast,
            Ratio(Stats.Median(withLitecast), Stats.Median(alone), "vs the application alone on its core", "target ≥ 0.9", v => v >= 0.9, issue: true));
    }

    /// <summary>12: the lag the primary reports (/metrics' litecast_lag_seconds, the largest of its replicas; /status'
    /// replicas[].lagMs) sampled every 50 ms while the application writes, against the visibility lag the benchmark
    /// measures on one clock (p50, slower replica).</summary>
    private void ReportedLag(BenchCluster cluster)
    {
        foreach (var (rate, seconds) in new[] { (20, smoke ? 2 : 10), (1000, smoke ? 1 : 5) })
        {
            var measured = new List<double>();
            var byMetrics = new List<double>();
            var byStatus = new List<double>();
            var samples = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                using var stop = new CancellationTokenSource();
                var sampling = Task.Run(() => SampleReportedLag(cluster, stop.Token));
                var result = Child("write", ["--db", cluster.PrimaryDb, "--rate", F(rate), "--seconds", F(seconds), .. Replicas(cluster, 2)]);
                stop.Cancel();
                var (metrics, status) = sampling.GetAwaiter().GetResult();
                CheckReplicated($"reported lag at {rate} tx/s", result, 2);
                measured.Add(Slowest(result, 2, "LagP50Ms"));
                byMetrics.Add(Stats.Median(metrics));
                byStatus.Add(Stats.Median(status));
                samples.Add(metrics.Count);
            }
            var real = Stats.Median(measured);
            Add("12", $"measured visibility lag p50 at {rate} tx/s (slower of 2 replicas)", "ms", measured);
            Add("12", $"lag the primary's /metrics reports at {rate} tx/s (litecast_lag_seconds; median of samples)", "ms", byMetrics,
                Within(Stats.Median(byMetrics), real), $"{Stats.Median(samples):F0} samples a run while the primary's txid advanced");
            Add("12", $"lag the primary's /status reports at {rate} tx/s (replicas[].lagMs, slower replica; median of samples)", "ms", byStatus,
                Within(Stats.Median(byStatus), real));
        }

        static Target Within(double reported, double real) =>
            new($"{Report.N(reported - real)} ms off the measured {Report.N(real)} ms", "target within 1 ms", Math.Abs(reported - real) <= 1, Issue: true);
    }

    /// <summary>Every 50 ms until cancelled: the primary's /status and /metrics, kept only while its txid advances
    /// (the application is writing). Returns the lag in ms that /metrics reports (litecast_lag_seconds, the largest of
    /// the replicas), and the largest replicas[].lagMs in /status.</summary>
    private static async Task<(List<double> Metrics, List<double> Status)> SampleReportedLag(BenchCluster cluster, CancellationToken cancel)
    {
        var metrics = new List<double>();
        var status = new List<double>();
        long? lastTxid = null;
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(50, cancel);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            using var document = JsonDocument.Parse(await cluster.Http.GetStringAsync(cluster.PrimaryUrl + "/status", CancellationToken.None));
            var db = document.RootElement.GetProperty("dbs")[0];
            var txid = db.GetProperty("txid").GetInt64();
            // The primary's series (role="primary"); should it get one per replica, the largest, like /status below.
            var lagMetric = cluster.MetricSamples(cluster.PrimaryUrl, "litecast_lag_seconds")
                .Where(m => m.Labels.Contains("role=\"primary\"", StringComparison.Ordinal)).Select(m => m.Value * 1000).DefaultIfEmpty(double.NaN).Max();
            var advanced = lastTxid is { } last && txid > last;
            lastTxid = txid;
            if (!advanced) continue;
            if (!double.IsNaN(lagMetric)) metrics.Add(lagMetric);
            var lags = db.GetProperty("replicas").EnumerateArray()
                .Select(r => r.GetProperty("lagMs")).Where(l => l.ValueKind == JsonValueKind.Number).Select(l => l.GetDouble()).ToList();
            if (lags.Count > 0) status.Add(lags.Max());
        }
        return (metrics, status);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Litecast.Tests.Shared;

/// <summary>A real `litecast replicate` process (node/litecast.dll: the Host as published, ahead-of-time compiled, into
/// this benchmark's output at build), its output lines stamped with the benchmark's clock.</summary>
internal sealed class Node : IDisposable
{
    public static readonly Stopwatch Clock = Stopwatch.StartNew();
    private readonly Process _process;
    private readonly List<(double At, string Line)> _lines = new();

    public Node(string directory, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "node", "litecast.dll"));
        foreach (var arg in new[] { "replicate", "-config", Path.Combine(directory, "litecast.yml") }) info.ArgumentList.Add(arg);
        if (environment is not null) foreach (var (key, value) in environment) info.Environment[key] = value;
        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        StartedAt = Clock.Elapsed.TotalSeconds;
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public double StartedAt { get; }
    public int Pid => _process.Id;

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add((Clock.Elapsed.TotalSeconds, line));
    }

    public string Output
    {
        get { lock (_lines) return string.Join('\n', _lines.Select(l => l.Line)); }
    }

    /// <summary>The benchmark-clock time of the first output line after `after` containing `text`.</summary>
    public double WaitForLine(string text, double after, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            lock (_lines)
                foreach (var (at, line) in _lines)
                    if (at >= after && line.Contains(text, StringComparison.Ordinal)) return at;
            if (_process.HasExited) throw new InvalidOperationException($"litecast exited ({_process.ExitCode}) waiting for '{text}':\n{Output}");
            if (clock.Elapsed > timeout) throw new TimeoutException($"no '{text}' from litecast within {timeout}:\n{Output}");
            Thread.Sleep(20);
        }
    }

    /// <summary>CPU seconds (utime+stime) and resident memory (VmRSS, VmHWM in MB) from /proc.</summary>
    public (double CpuSeconds, double RssMb, double PeakRssMb) Sample() => ProcStat.Sample(Pid);

    /// <summary>Restricts every thread of the process (and the threads it starts later) to the given CPUs
    /// (`taskset -a -p -c CPUS PID`).</summary>
    public void PinTo(string cpus) => ProcStat.Pin(Pid, cpus);

    /// <summary>SIGTERM (a graceful cluster leave, so a restarted node rejoins quickly), SIGKILL after 10 s.</summary>
    public void Stop()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            _process.WaitForExit(10_000);
        }
        Dispose();
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit();
        _process.Dispose();
    }
}

internal static class ProcStat
{
    /// <summary>`taskset -a -p -c CPUS PID`: every thread of the process, and those it starts later, on those CPUs.</summary>
    public static void Pin(int pid, string cpus)
    {
        var info = new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpus, pid.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true };
        using var taskset = Process.Start(info)!;
        taskset.StandardOutput.ReadToEnd();
        taskset.WaitForExit();
        if (taskset.ExitCode != 0) throw new InvalidOperationException($"taskset -a -p -c {cpus} {pid} failed ({taskset.ExitCode})");
    }

    public static (double CpuSeconds, double RssMb, double PeakRssMb) Sample(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        double rss = 0, hwm = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line) / 1024.0;
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line) / 1024.0;
        }
        return (ticks / 100.0, rss, hwm); // CLK_TCK is 100 on Linux
        static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}

/// <summary>A primary and some replicas (two unless told) on loopback, configured as the user's guide configures them (plus distinct
/// ports), databases under one directory. With <c>tls</c>, as the README's Security section configures them: mutual TLS
/// between the nodes, HTTPS, and a token every admin route needs.</summary>
internal sealed class BenchCluster : IDisposable
{
    public readonly string Root;
    public readonly HttpClient Http;
    private readonly string? _token;
    private readonly string _scheme;
    private readonly int _primaryHttp = Ports.Free();
    private readonly int _primaryCluster = Ports.Free();
    private readonly int[] _replicaHttp;
    public Node? Primary;
    public readonly Node?[] Replicas;

    public BenchCluster(string root, bool tls = false, int replicas = 2)
    {
        Root = root;
        _replicaHttp = Enumerable.Range(0, replicas).Select(_ => Ports.Free()).ToArray();
        Replicas = new Node?[replicas];
        var nodes = new[] { "primary" }.Concat(Enumerable.Range(1, replicas).Select(i => $"replica{i}")).ToArray();
        foreach (var dir in nodes) Directory.CreateDirectory(Path.Combine(Root, dir));
        var security = nodes.ToDictionary(n => n, _ => "");
        _scheme = tls ? "https" : "http";
        if (tls)
        {
            var pki = Path.Combine(Root, "pki");
            Litecast.Host.Security.CertificateAuthority.CreateCa(pki);
            foreach (var node in security.Keys.ToList())
            {
                Litecast.Host.Security.CertificateAuthority.CreateNode(pki, node, [IPAddress.Loopback], [], pki);
                security[node] = $"tls:\n  cert: {pki}/{node}.pem\n  key: {pki}/{node}-key.pem\n  ca: {pki}/ca.pem\n"
                    + "auth:\n  token: ${LITECAST_TOKEN}\n  protect-reads: true\n";
            }
            _token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            var ca = Litecast.Host.Security.TlsFiles.LoadAuthority(Path.Combine(pki, "ca.pem"));
            Http = Litecast.Host.Http.AdminHttpClient.Create(ca, _token, TimeSpan.FromSeconds(60));
        }
        else Http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        File.WriteAllText(Path.Combine(Root, "primary", "litecast.yml"), $"""
            addr: "127.0.0.1:{_primaryHttp}"
            dbs:
              - path: {PrimaryDb}
            cluster:
              host: 127.0.0.1
              port: {_primaryCluster}
            {security["primary"]}
            """);
        for (var i = 0; i < replicas; i++)
            File.WriteAllText(Path.Combine(Root, $"replica{i + 1}", "litecast.yml"), $"""
                addr: "127.0.0.1:{_replicaHttp[i]}"
                dbs:
                  - path: {ReplicaDb(i)}
                    upstream:
                      url: {_scheme}://$PRIMARY_HOSTNAME:{_primaryHttp}
                      path: {PrimaryDb}
                {security[$"replica{i + 1}"]}
                """);
    }

    public string PrimaryDb => Path.Combine(Root, "primary", "db");
    public string ReplicaDb(int i) => Path.Combine(Root, $"replica{i + 1}", "db");
    public string PrimaryUrl => $"{_scheme}://127.0.0.1:{_primaryHttp}";
    public string ReplicaUrl(int i) => $"{_scheme}://127.0.0.1:{_replicaHttp[i]}";

    public void StartPrimary() => Primary = new Node(Path.Combine(Root, "primary"), Environment());

    public void StartReplica(int i) => Replicas[i] = new Node(Path.Combine(Root, $"replica{i + 1}"), Environment());

    private Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string> { ["PRIMARY_HOSTNAME"] = "127.0.0.1" };
        if (_token is not null) environment["LITECAST_TOKEN"] = _token;
        return environment;
    }

    public void StopReplica(int i)
    {
        Replicas[i]?.Stop();
        Replicas[i] = null;
    }

    /// <summary>Deletes a stopped replica's database (and WAL, shm) and Litecast's state directory beside it.</summary>
    public void DeleteReplica(int i, bool stateOnly)
    {
        var path = ReplicaDb(i);
        var state = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + "-litecast");
        if (Directory.Exists(state)) Directory.Delete(state, recursive: true);
        if (!stateOnly) foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(path + suffix);
    }

    /// <summary>The primary's bookmark, then every running replica's /wait for it.</summary>
    public void WaitCaughtUp(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        long txid = -1;
        while (txid < 0)
        {
            try
            {
                var response = Http.PostAsync($"{PrimaryUrl}/dbs/db/sync", null).Result;
                if (response.StatusCode == HttpStatusCode.OK)
                    txid = JsonDocument.Parse(response.Content.ReadAsStringAsync().Result).RootElement.GetProperty("txid").GetInt64();
            }
            catch (Exception e) when (e is HttpRequestException or AggregateException or TaskCanceledException) { }
            if (txid < 0) Check(clock, timeout, "the primary's /sync");
            if (txid < 0) Thread.Sleep(200);
        }
        for (var i = 0; i < Replicas.Length; i++)
        {
            if (Replicas[i] is null) continue;
            while (true)
            {
                try
                {
                    var response = Http.GetAsync($"{ReplicaUrl(i)}/dbs/db/wait?txid={txid}&timeout=5s").Result;
                    if (response.StatusCode == HttpStatusCode.OK) break;
                }
                catch (Exception e) when (e is HttpRequestException or AggregateException or TaskCanceledException) { }
                Check(clock, timeout, $"replica {i + 1} reaching txid {txid}");
                Thread.Sleep(100);
            }
        }
    }

    private void Check(Stopwatch clock, TimeSpan timeout, string what)
    {
        if (clock.Elapsed <= timeout) return;
        throw new TimeoutException($"timed out waiting for {what}\n{Outputs}");
    }

    /// <summary>Every node's output, for a failure's message.</summary>
    public string Outputs => $"--- primary ---\n{Primary?.Output}" + string.Concat(Replicas.Select((r, i) => $"\n--- replica {i + 1} ---\n{r?.Output}"));

    /// <summary>Sum of a Prometheus metric's samples on a node.</summary>
    public double Metric(string url, string name) => MetricSamples(url, name).Sum(s => s.Value);

    /// <summary>A Prometheus metric's samples on a node: each series' labels (the text between the braces) and value.</summary>
    public IEnumerable<(string Labels, double Value)> MetricSamples(string url, string name)
    {
        var text = Http.GetStringAsync(url + "/metrics").Result;
        return text.Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => (l[name.Length..(l.LastIndexOf(' '))], double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)))
            .ToList();
    }

    public void Dispose()
    {
        foreach (var node in Replicas.Append(Primary)) node?.Dispose();
        Http.Dispose();
    }
}

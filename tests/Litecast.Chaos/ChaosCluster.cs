using System.Net;
using System.Text.Json;
using Litecast.Tests.Shared;

namespace Litecast.Chaos;

/// <summary>
/// Three real <c>litecast replicate</c> processes on loopback — a primary and two replicas configured as the user's
/// guide configures them (replicas find the primary through <c>upstream.url</c>) — each behind a <see cref="TcpRelay"/>
/// on its cluster port, in a temporary directory under /tmp.
/// </summary>
internal sealed class ChaosCluster : IDisposable
{
    public const string PrimaryName = "primary";
    public static readonly string[] ReplicaNames = ["replica1", "replica2"];
    public static IEnumerable<string> NodeNames => ReplicaNames.Prepend(PrimaryName);

    public readonly string Root = Path.Combine("/tmp", "litecast-chaos-" + Guid.NewGuid().ToString("N")[..12]);
    public readonly Links Links = new();
    public readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Dictionary<string, Node> _nodes = new();
    private readonly List<string> _mounted = new();

    /// <summary>Why the disk-full fault cannot be injected (not root, mount failed), or null when the replicas'
    /// directories are tmpfs mounts (or the fault was not asked for).</summary>
    public string? DiskFullUnavailable { get; }
    public bool DiskFullAvailable { get; }

    /// <summary>One node: its directory, ports, relay and (when running) process.</summary>
    public sealed class Node(string name, string directory, int httpPort, int clusterPort)
    {
        public string Name { get; } = name;
        public string Directory { get; } = directory;
        public string Db => Path.Combine(Directory, "db");
        public int HttpPort { get; } = httpPort;
        public int ClusterPort { get; } = clusterPort;
        public string Url => $"http://127.0.0.1:{HttpPort}";
        public TcpRelay? Relay { get; set; }
        public ChildProcess? Process { get; set; }
        public bool Paused { get; set; }
        public int Starts { get; set; }
        /// <summary>Output of earlier incarnations (killed processes), kept for the failure report.</summary>
        public List<string> PastOutput { get; } = new();
    }

    /// <param name="diskFull">Mount a tmpfs on each replica's directory for the disk-full fault (root only).</param>
    public ChaosCluster(bool diskFull = false)
    {
        foreach (var name in NodeNames)
        {
            var directory = Path.Combine(Root, name);
            System.IO.Directory.CreateDirectory(directory);
            _nodes[name] = new Node(name, directory, Ports.Free(), Ports.Free());
        }
        if (diskFull)
        {
            DiskFullUnavailable = DiskFull.Mount(Replicas.Select(r => r.Directory), _mounted);
            DiskFullAvailable = _mounted.Count > 0;
            // Unmounted by Dispose (the run's end, a failure, Ctrl-C); this catches an exit that skips it.
            if (_mounted.Count > 0) AppDomain.CurrentDomain.ProcessExit += (_, _) => UnmountAll();
        }
        foreach (var node in _nodes.Values)
            node.Relay = new TcpRelay(node.Name, Ports.Free(), node.ClusterPort, Links, RunningPids);
        WriteConfigs();
    }

    public Node Primary => _nodes[PrimaryName];
    public IEnumerable<Node> Replicas => ReplicaNames.Select(n => _nodes[n]);
    public IEnumerable<Node> All => NodeNames.Select(n => _nodes[n]);
    public Node this[string name] => _nodes[name];

    private IEnumerable<(string Name, int Pid)> RunningPids() =>
        _nodes.Values.Where(n => n.Process is { HasExited: false }).Select(n => (n.Name, n.Process!.Pid)).ToList();

    private void WriteConfigs()
    {
        // cluster.public-port: the node advertises its relay's port, so every peer's connection passes the relay.
        File.WriteAllText(Path.Combine(Primary.Directory, "litecast.yml"), $"""
            addr: "127.0.0.1:{Primary.HttpPort}"
            dbs:
              - path: {Primary.Db}
            cluster:
              host: 127.0.0.1
              port: {Primary.ClusterPort}
              public-port: {Primary.Relay!.ListenPort}
            """);
        foreach (var replica in Replicas)
            File.WriteAllText(Path.Combine(replica.Directory, "litecast.yml"), $"""
                addr: "127.0.0.1:{replica.HttpPort}"
                dbs:
                  - path: {replica.Db}
                    upstream:
                      url: http://$PRIMARY_HOSTNAME:{Primary.HttpPort}
                      path: {Primary.Db}
                cluster:
                  host: 127.0.0.1
                  port: {replica.ClusterPort}
                  public-port: {replica.Relay!.ListenPort}
                """);
    }

    /// <summary>Starts (or restarts) a node's litecast, the Host build copied beside this program.</summary>
    public void Start(Node node)
    {
        if (node.Process is { } old)
        {
            node.PastOutput.Add(old.Tail(200));
            old.Dispose();
        }
        node.Paused = false;
        node.Starts++;
        node.Process = new ChildProcess(node.Name, "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "litecast.dll"), "replicate", "-config", Path.Combine(node.Directory, "litecast.yml")],
            node.Directory, new Dictionary<string, string> { ["PRIMARY_HOSTNAME"] = "127.0.0.1" });
    }

    /// <summary>POST /dbs/db/sync on the primary: the txid including every commit made before the call.</summary>
    public async Task<long> SyncAsync(CancellationToken cancellation)
    {
        using var response = await Http.PostAsync($"{Primary.Url}/dbs/db/sync", null, cancellation);
        var body = await response.Content.ReadAsStringAsync(cancellation);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"sync: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("txid").GetInt64();
    }

    /// <summary>GET /dbs/db/wait on a replica: true once it reached <paramref name="txid"/>, false on 504.</summary>
    public async Task<bool> WaitAsync(Node replica, long txid, TimeSpan timeout, CancellationToken cancellation)
    {
        using var response = await Http.GetAsync($"{replica.Url}/dbs/db/wait?txid={txid}&timeout={(int)timeout.TotalMilliseconds}ms", cancellation);
        return response.StatusCode == HttpStatusCode.OK;
    }

    public async Task ResyncAsync(Node replica, CancellationToken cancellation)
    {
        using var response = await Http.PostAsync($"{replica.Url}/dbs/db/resync", null, cancellation);
        var body = await response.Content.ReadAsStringAsync(cancellation);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"resync {replica.Name}: {(int)response.StatusCode} {body}");
    }

    /// <summary>True while the replica's /status says it is resyncing: its <c>state</c> is "resyncing" (newer
    /// Litecast), or its <c>problem</c> reads "resyncing (reason)".</summary>
    public async Task<bool> IsResyncingAsync(Node replica, CancellationToken cancellation)
    {
        var body = await Http.GetStringAsync($"{replica.Url}/status", cancellation);
        foreach (var db in JsonDocument.Parse(body).RootElement.GetProperty("dbs").EnumerateArray())
        {
            if (db.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.String && state.GetString() == "resyncing")
                return true;
            if (db.TryGetProperty("problem", out var problem) && problem.ValueKind == JsonValueKind.String &&
                problem.GetString()!.StartsWith("resyncing", StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    /// <summary>The node's generation from its /status (16 hex digits); null when it does not answer.</summary>
    public async Task<string?> GenerationAsync(Node node, CancellationToken cancellation)
    {
        try
        {
            var body = await Http.GetStringAsync($"{node.Url}/status", cancellation);
            foreach (var db in JsonDocument.Parse(body).RootElement.GetProperty("dbs").EnumerateArray())
                if (db.TryGetProperty("generation", out var generation)) return generation.ToString();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException && !cancellation.IsCancellationRequested) { }
        return null;
    }

    /// <summary>The replica's /status entry for the database, for failure reports.</summary>
    public async Task<string> StatusAsync(Node node)
    {
        try { return await Http.GetStringAsync($"{node.Url}/status"); }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return "unreachable: " + e.Message; }
    }

    /// <summary>Every process's output, killed incarnations' included, for a failure report.</summary>
    public string Tails(int lines)
    {
        var text = new System.Text.StringBuilder();
        foreach (var node in All)
        {
            text.AppendLine($"--- {node.Name} (pid {node.Process?.Pid}, started {node.Starts}x{(node.Paused ? ", PAUSED" : "")}), last {lines} lines ---");
            text.AppendLine(node.Process?.Tail(lines) ?? "(not running)");
        }
        return text.ToString();
    }

    /// <summary>Keep the directory on disposal (set after a failure).</summary>
    public bool Keep { get; set; }

    /// <summary>Relay counters, printed at the end: a cut only works on connections whose opening node was identified.</summary>
    public string RelayStats() => string.Join(", ", All.Select(n =>
        $"{n.Name} {n.Relay!.Connections} connections ({n.Relay.Unidentified} unidentified, {n.Relay.Refused} refused)"));

    public void Dispose()
    {
        var keep = Keep || Environment.GetEnvironmentVariable("LITECAST_CHAOS_KEEP") is not null;
        foreach (var node in _nodes.Values)
        {
            node.Process?.Dispose(); // SIGKILL works on a SIGSTOPped process too
            node.Relay?.Dispose();
            // After a failure, or with LITECAST_CHAOS_KEEP=1, the directory is kept with each node's output (every
            // incarnation's) beside its database: the evidence.
            if (keep) File.WriteAllText(Path.Combine(node.Directory, "output.log"),
                string.Join('\n', node.PastOutput.Append(node.Process?.Tail(2000) ?? "")));
        }
        Http.Dispose();
        if (keep)
        {
            // A tmpfs's files vanish on unmount: copy them out first (beside it, "<name>.tmpfs").
            foreach (var directory in _mounted)
            {
                try { CopyDirectory(directory, directory + ".tmpfs"); }
                catch (IOException e) { Console.Error.WriteLine($"copying {directory} out of its tmpfs failed: {e.Message}"); }
            }
        }
        UnmountAll();
        if (keep) Console.WriteLine($"kept {Root}: databases and each node's output.log{(DiskFullAvailable ? " (replicas' tmpfs contents in <replica>.tmpfs)" : "")}");
        else
        {
            try { System.IO.Directory.Delete(Root, recursive: true); }
            catch (IOException) { }
        }
    }

    private void UnmountAll()
    {
        lock (_mounted) DiskFull.Unmount(_mounted);
    }

    private static void CopyDirectory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        foreach (var sub in System.IO.Directory.GetDirectories(from)) CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
    }
}

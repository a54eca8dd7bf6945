using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Litecast.Storage;
using Microsoft.Data.Sqlite;

/// <summary>
/// The child processes of the replication benchmark: the application (a writer using plain SQLite through
/// Microsoft.Data.Sqlite, loaded with Litecast's SQLite build but in its own process, with its own connections and no
/// Litecast code in the path), a reader thread in the same process polling replica files (one clock for commit and
/// visibility), and the online-backup baseline. Each prints one JSON object of numbers as its last line.
/// </summary>
internal static class Workload
{
    [DllImport("libc", SetLastError = true)]
    private static extern int usleep(uint microseconds);

    public const int PageSize = 4096;

    public static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static int Run(string mode, Args a)
    {
        NativeSqlite.EnsureLoaded();
        var result = mode switch
        {
            "init" => Init(a),
            "write" => Write(a),
            "big" => Big(a),
            "fill" => Fill(a),
            "touch" => Touch(a),
            "backup" => Backup(a),
            _ => throw new ArgumentException("unknown workload " + mode),
        };
        Console.WriteLine(JsonSerializer.Serialize(result, Json));
        return 0;
    }

    private static SqliteConnection OpenApp(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False;Default Timeout=10");
        connection.Open();
        Exec(connection, "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
        return connection;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var command = c.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection c, string sql)
    {
        using var command = c.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, CultureInfo.InvariantCulture);
    }

    private static Dictionary<string, double> Init(Args a)
    {
        using var app = OpenApp(a.Get("db"));
        Exec(app, $"PRAGMA page_size = {PageSize}; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)");
        return new() { ["maxId"] = Scalar(app, "SELECT coalesce(max(id), 0) FROM t") };
    }

    /// <summary>Fills the database to about `mb` MB with ~1-page rows, then checkpoints the WAL away.</summary>
    private static Dictionary<string, double> Fill(Args a)
    {
        using var app = OpenApp(a.Get("db"));
        Exec(app, $"PRAGMA page_size = {PageSize}; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB)");
        var target = (long)(a.Double("mb") * 1024 * 1024 / PageSize);
        while (Scalar(app, "PRAGMA page_count") < target)
        {
            var rows = Math.Min(25_000, Math.Max(1, target - Scalar(app, "PRAGMA page_count")));
            Exec(app, $"INSERT INTO t(id, v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) " +
                      $"SELECT (SELECT coalesce(max(id), 0) FROM t) + i, randomblob(4000) FROM n");
        }
        Exec(app, "PRAGMA wal_checkpoint(TRUNCATE)");
        return new() { ["pages"] = Scalar(app, "PRAGMA page_count") };
    }

    /// <summary>Rewrites every 100th row (one ~page-sized row each: about 1% of the pages).</summary>
    private static Dictionary<string, double> Touch(Args a)
    {
        using var app = OpenApp(a.Get("db"));
        Exec(app, "BEGIN; UPDATE t SET v = randomblob(4000) WHERE id % 100 = 0; COMMIT");
        return new() { ["changes"] = Scalar(app, "SELECT count(*) FROM t WHERE id % 100 = 0"), ["pages"] = Scalar(app, "PRAGMA page_count") };
    }

    /// <summary>
    /// Single-row transactions at a fixed rate (or as fast as possible with rate 0) for `seconds`; a reader thread
    /// polls each `replica` file with a fresh read transaction per poll and records when each id becomes visible.
    /// </summary>
    private static Dictionary<string, double> Write(Args a)
    {
        var rate = a.Double("rate");
        var seconds = a.Double("seconds");
        var replicas = a.All("replica");
        var visibilityTimeout = a.Double("timeout", 30);
        using var app = OpenApp(a.Get("db"));
        // The README's tip for a busy primary: the application leaves checkpointing to Litecast.
        if (a.Has("autocheckpoint")) Exec(app, $"PRAGMA wal_autocheckpoint = {a.Int("autocheckpoint", 1000)}");
        var startId = Scalar(app, "SELECT coalesce(max(id), 0) FROM t") + 1;
        var capacity = (int)(rate > 0 ? rate * seconds + 16 : 400_000 * seconds);
        var commitStart = new long[capacity];
        var commitEnd = new long[capacity];
        var visible = replicas.Select(_ => new long[capacity]).ToArray();
        var committed = 0;
        var writerDone = false;

        var reader = new Thread(() => Poll(replicas, startId, visible, () => Volatile.Read(ref committed), () => Volatile.Read(ref writerDone), visibilityTimeout))
            { IsBackground = true, Priority = ThreadPriority.AboveNormal };
        if (replicas.Length > 0) reader.Start();

        using var insert = app.CreateCommand();
        insert.CommandText = "INSERT INTO t(id, v) VALUES ($id, $v)";
        var idParameter = insert.Parameters.Add("$id", SqliteType.Integer);
        insert.Parameters.AddWithValue("$v", new byte[100]);
        insert.Prepare();
        var frequency = (double)Stopwatch.Frequency;
        var t0 = Stopwatch.GetTimestamp();
        var end = t0 + (long)(seconds * frequency);
        var interval = rate > 0 ? frequency / rate : 0;
        for (var i = 0; i < capacity; i++)
        {
            if (rate > 0)
            {
                var due = t0 + (long)(i * interval);
                if (due >= end) break;
                while (true)
                {
                    var ahead = (due - Stopwatch.GetTimestamp()) / frequency * 1e6;
                    if (ahead <= 0) break;
                    if (ahead > 60) usleep((uint)Math.Min(ahead - 50, 2000));
                    else Thread.SpinWait(20);
                }
            }
            else if (Stopwatch.GetTimestamp() >= end) break;
            idParameter.Value = startId + i;
            commitStart[i] = Stopwatch.GetTimestamp();
            insert.ExecuteNonQuery();
            commitEnd[i] = Stopwatch.GetTimestamp();
            Volatile.Write(ref committed, i + 1);
        }
        var writeSeconds = (Stopwatch.GetTimestamp() - t0) / frequency;
        Volatile.Write(ref writerDone, true);
        if (replicas.Length > 0) reader.Join();

        var n = committed;
        var result = new Dictionary<string, double>
        {
            ["committed"] = n,
            ["seconds"] = writeSeconds,
            ["rate"] = n / writeSeconds,
        };
        var latencies = Enumerable.Range(0, n).Select(i => (commitEnd[i] - commitStart[i]) / frequency * 1e6).ToArray();
        Array.Sort(latencies);
        result["latP50Us"] = Percentile(latencies, 0.50);
        result["latP99Us"] = Percentile(latencies, 0.99);
        result["latMaxUs"] = latencies.Length > 0 ? latencies[^1] : 0;
        for (var r = 0; r < replicas.Length; r++)
        {
            var seen = visible[r];
            var missing = Enumerable.Range(0, n).Count(i => seen[i] == 0);
            var lags = Enumerable.Range(0, n).Where(i => seen[i] != 0).Select(i => Math.Max(0, (seen[i] - commitEnd[i]) / frequency * 1e3)).ToArray();
            var quarter = Math.Max(1, lags.Length / 4);
            var first = lags.Take(quarter).Order().ToArray();
            var last = lags.Skip(lags.Length - quarter).Order().ToArray();
            Array.Sort(lags);
            result[$"r{r}Missing"] = missing;
            result[$"r{r}LagP50Ms"] = Percentile(lags, 0.50);
            result[$"r{r}LagP99Ms"] = Percentile(lags, 0.99);
            result[$"r{r}LagMaxMs"] = lags.Length > 0 ? lags[^1] : double.NaN;
            result[$"r{r}LagFirstQuarterP50Ms"] = Percentile(first, 0.5);
            result[$"r{r}LagLastQuarterP50Ms"] = Percentile(last, 0.5);
            var lastVisible = missing == 0 && n > 0 ? seen.Take(n).Max() : 0;
            // Replicated rate: rows made visible per second, from the first commit until the last row was visible.
            result[$"r{r}ReplicatedRate"] = lastVisible > 0 ? n / ((lastVisible - t0) / frequency) : 0;
        }
        return result;
    }

    /// <summary>The reader: a fresh read transaction per poll (autocommit SELECT) on each replica, ~50 us apart.</summary>
    private static void Poll(string[] replicas, long startId, long[][] visible, Func<int> committed, Func<bool> done, double timeoutSeconds)
    {
        var connections = replicas.Select(path =>
        {
            var c = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False;Default Timeout=10");
            c.Open();
            var command = c.CreateCommand();
            command.CommandText = "SELECT coalesce(max(id), 0) FROM t";
            command.Prepare();
            return command;
        }).ToArray();
        var seen = new long[replicas.Length];
        for (var r = 0; r < replicas.Length; r++) seen[r] = startId - 1;
        long? doneAt = null;
        while (true)
        {
            var target = startId + committed() - 1;
            var isDone = done();
            var all = true;
            for (var r = 0; r < connections.Length; r++)
            {
                long max;
                try { max = Convert.ToInt64(connections[r].ExecuteScalar(), CultureInfo.InvariantCulture); }
                catch (SqliteException) { all = false; continue; } // busy (a backup copy being written): not visible yet
                var now = Stopwatch.GetTimestamp();
                for (var id = seen[r] + 1; id <= max && id - startId < visible[r].Length; id++) visible[r][id - startId] = now;
                if (max > seen[r]) seen[r] = max;
                if (seen[r] < target) all = false;
            }
            if (isDone)
            {
                if (all) break;
                doneAt ??= Stopwatch.GetTimestamp();
                if (Stopwatch.GetElapsedTime(doneAt.Value).TotalSeconds > timeoutSeconds) break;
            }
            usleep(50);
        }
        foreach (var command in connections) { command.Connection!.Dispose(); command.Dispose(); }
    }

    /// <summary>One transaction of about `mb` MB (page-sized rows); the reader times its arrival on the replica.</summary>
    private static Dictionary<string, double> Big(Args a)
    {
        var replicas = a.All("replica");
        using var app = OpenApp(a.Get("db"));
        // The README's tip for a busy primary: the application leaves checkpointing to Litecast.
        if (a.Has("autocheckpoint")) Exec(app, $"PRAGMA wal_autocheckpoint = {a.Int("autocheckpoint", 1000)}");
        var startId = Scalar(app, "SELECT coalesce(max(id), 0) FROM t") + 1;
        var pagesBefore = Scalar(app, "PRAGMA page_count");
        var rows = (long)(a.Double("mb") * 1e6 / PageSize);
        var visible = replicas.Select(_ => new long[rows]).ToArray();
        var committed = 0;
        var done = false;
        var reader = new Thread(() => Poll(replicas, startId, visible, () => Volatile.Read(ref committed), () => Volatile.Read(ref done), a.Double("timeout", 120)))
            { IsBackground = true };
        reader.Start();
        var begin = Stopwatch.GetTimestamp();
        Exec(app, $"BEGIN; INSERT INTO t(id, v) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {rows - 1}) " +
                  $"SELECT {startId} + i, randomblob(4000) FROM n; COMMIT");
        var commitEnd = Stopwatch.GetTimestamp();
        Volatile.Write(ref committed, (int)rows);
        Volatile.Write(ref done, true);
        reader.Join();
        var bytes = (Scalar(app, "PRAGMA page_count") - pagesBefore) * (double)PageSize;
        var result = new Dictionary<string, double>
        {
            ["bytes"] = bytes,
            ["commitSeconds"] = (commitEnd - begin) / (double)Stopwatch.Frequency,
        };
        for (var r = 0; r < replicas.Length; r++)
        {
            var last = visible[r][rows - 1];
            result[$"r{r}Seconds"] = last == 0 ? double.NaN : (last - commitEnd) / (double)Stopwatch.Frequency;
            result[$"r{r}MBps"] = last == 0 ? 0 : bytes / 1e6 / ((last - commitEnd) / (double)Stopwatch.Frequency);
            result[$"r{r}Missing"] = last == 0 ? 1 : 0;
        }
        // Baseline in the same process and run: a raw sequential write + fsync of the same number of bytes.
        var rawPath = a.Get("raw");
        var buffer = new byte[1 << 20];
        Random.Shared.NextBytes(buffer);
        var clock = Stopwatch.StartNew();
        using (var raw = new FileStream(rawPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            for (double written = 0; written < bytes; written += buffer.Length)
                raw.Write(buffer, 0, (int)Math.Min(buffer.Length, bytes - written));
            raw.Flush(flushToDisk: true);
        }
        result["rawMBps"] = bytes / 1e6 / clock.Elapsed.TotalSeconds;
        File.Delete(rawPath);
        return result;
    }

    /// <summary>The baseline: SQLite's online backup API copying the database to `dest` every `interval-ms`.</summary>
    private static Dictionary<string, double> Backup(Args a)
    {
        var interval = TimeSpan.FromMilliseconds(a.Double("interval-ms", 1000));
        var seconds = a.Double("seconds", 0);
        using var source = new SqliteConnection($"Data Source={a.Get("db")};Mode=ReadOnly;Pooling=False;Default Timeout=10");
        source.Open();
        using var dest = new SqliteConnection($"Data Source={a.Get("dest")};Pooling=False;Default Timeout=10");
        dest.Open();
        var durations = new List<double>();
        var clock = Stopwatch.StartNew();
        var once = a.Has("once");
        while (true)
        {
            var started = clock.Elapsed;
            source.BackupDatabase(dest);
            durations.Add((clock.Elapsed - started).TotalMilliseconds);
            if (once || clock.Elapsed.TotalSeconds >= seconds) break;
            var next = started + interval - clock.Elapsed;
            if (next > TimeSpan.Zero) Thread.Sleep(next);
        }
        durations.Sort();
        return new() { ["copies"] = durations.Count, ["copyP50Ms"] = Percentile(durations.ToArray(), 0.5) };
    }

    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        var index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}

/// <summary>`--key value` options (a key may repeat).</summary>
internal sealed class Args(IReadOnlyList<string> args)
{
    public bool Has(string key) => args.Contains("--" + key);
    public string[] All(string key) => args.Select((v, i) => (v, i)).Where(p => p.v == "--" + key && p.i + 1 < args.Count).Select(p => args[p.i + 1]).ToArray();
    public string Get(string key) => All(key).LastOrDefault() ?? throw new ArgumentException($"--{key} is required");
    public double Double(string key, double? fallback = null) =>
        All(key).LastOrDefault() is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback ?? throw new ArgumentException($"--{key} is required");
    public int Int(string key, int fallback) => All(key).LastOrDefault() is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}

using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Litecast.Chaos;

/// <summary>
/// The disk-full fault (issue 11.5): each replica's directory is a tmpfs of <see cref="Size"/> mounted at startup
/// (root only); the fault fills it with a ballast file, makes the application write more than the replica's WAL has
/// room for, checks that the replica tells the truth (/status <c>problem</c> names the disk error, /healthz 503),
/// then deletes the ballast. Convergence afterwards is the caller's check.
/// </summary>
internal static class DiskFull
{
    /// <summary>A replica's directory holds its database (about 3 MB plus the bulk table, at most
    /// <see cref="MaxBlob"/>), its WAL (up to 13 MB seen in a 30 s run, more after long pauses; SQLite trims it to
    /// 64 MB) and during a resync a staging copy of the database: 256 MB leaves a wide margin.</summary>
    public const string Size = "256m";
    private const long MinBlob = 4_000_000;
    private const long MaxBlob = 48_000_000;
    private static readonly TimeSpan ReportBound = TimeSpan.FromSeconds(15);

    /// <summary>Mounts a tmpfs on each directory; null on success, else why not (the fault is then unavailable).
    /// On a partial failure the mounts made are undone.</summary>
    public static string? Mount(IEnumerable<string> directories, List<string> mounted)
    {
        if (!OperatingSystem.IsLinux()) return "not Linux: no tmpfs";
        if (Environment.UserName != "root") return $"not root (user {Environment.UserName}): cannot mount the tmpfs the replicas' disks need";
        foreach (var directory in directories)
        {
            var (code, output) = Run("mount", "-t", "tmpfs", "-o", "size=" + Size, "tmpfs", directory);
            if (code != 0)
            {
                Unmount(mounted);
                return $"mount -t tmpfs on {directory} failed ({code}): {output.Trim()}";
            }
            mounted.Add(directory);
        }
        return null;
    }

    /// <summary>Unmounts each directory, lazily if it is busy; the list is emptied.</summary>
    public static void Unmount(List<string> mounted)
    {
        foreach (var directory in mounted)
        {
            if (Run("umount", directory).Code == 0) continue;
            var (code, output) = Run("umount", "-l", directory);
            if (code != 0) Console.Error.WriteLine($"umount -l {directory} failed: {output.Trim()}");
        }
        mounted.Clear();
    }

    public static async Task<string> InjectAsync(ChaosCluster cluster, BankWriter writer, ChaosCluster.Node replica, TimeSpan hold,
        CancellationToken cancellation)
    {
        var ballast = Path.Combine(replica.Directory, "ballast");
        var wal = new FileInfo(replica.Db + "-wal");
        // The replica's WAL is reused from its start after each checkpoint, so writes within its current length need no
        // new space: the application writes more than that in one transaction, which the replica must grow the WAL for.
        // Each such write leaves the WAL that much longer (SQLite trims it only past 64 MB), so the next fault writes
        // more; past MaxBlob the write may fit in the WAL's room and the disk-full report cannot be demanded.
        var walLength = wal.Exists ? wal.Length : 0;
        var blob = Math.Clamp(walLength + MinBlob, MinBlob, MaxBlob);
        var forced = walLength + MinBlob <= MaxBlob;
        var clock = Stopwatch.StartNew();
        try
        {
            var filled = Fill(ballast);
            var answer = await writer.RunAsync($"BLOB {blob}", TimeSpan.FromSeconds(30), cancellation);
            if (!answer.StartsWith("done", StringComparison.Ordinal)) throw new ChaosFailure($"the application's {blob / 1_000_000} MB write failed: {answer}");
            // The truth-telling requirement: the replica says at once that its disk is full, and is unhealthy.
            string status;
            while (true)
            {
                status = await cluster.StatusAsync(replica);
                if (NamesFullDisk(Problem(status))) break;
                if (!forced && clock.Elapsed > hold)
                {
                    return $"{filled / 1_000_000} MB ballast, {blob / 1_000_000} MB written, but the replica's WAL ({walLength / 1_000_000} MB) had room for it: " +
                           $"disk full not forced, its report not checked; ballast removed after {clock.Elapsed.TotalSeconds:0.0} s";
                }
                if (clock.Elapsed > ReportBound)
                {
                    // Evidence for the report: does the replica at least heal once the space is back?
                    File.Delete(ballast);
                    string healed;
                    try { healed = $"converged {(await Convergence.WaitAsync(cluster, TimeSpan.FromSeconds(30), cancellation)).TotalSeconds:0.0} s after the ballast was removed"; }
                    catch (ChaosFailure e) { healed = "did not converge within 30 s after the ballast was removed: " + e.Message.Split('\n')[0]; }
                    throw new ChaosFailure($"{replica.Name}'s disk is full ({filled / 1_000_000} MB ballast, then a {blob / 1_000_000} MB transaction) " +
                                           $"but /status does not say so within {ReportBound.TotalSeconds} s; then it {healed}\n{replica.Name} /status while full: {status}");
                }
                await Task.Delay(200, cancellation);
            }
            var reported = clock.Elapsed;
            using (var health = await cluster.Http.GetAsync($"{replica.Url}/healthz", cancellation))
            {
                var body = await health.Content.ReadAsStringAsync(cancellation);
                if (health.StatusCode != HttpStatusCode.ServiceUnavailable)
                    throw new ChaosFailure($"{replica.Name}'s /status names the full disk but /healthz answers {(int)health.StatusCode}: {body}");
            }
            var rest = hold - clock.Elapsed;
            if (rest > TimeSpan.Zero) await Task.Delay(rest, cancellation);
            return $"{filled / 1_000_000} MB ballast, {blob / 1_000_000} MB written; /status named the full disk after {reported.TotalSeconds:0.0} s, " +
                   $"/healthz 503; ballast removed after {clock.Elapsed.TotalSeconds:0.0} s";
        }
        finally
        {
            File.Delete(ballast);
        }
    }

    /// <summary>True when the problem names the full disk: SQLite's SQLITE_FULL ("database or disk is full") when a
    /// page write fails, or the system's ENOSPC ("No space left on device") when the replica was staging a resync's
    /// pages in a plain file (seen in the soak of seed 20261130).</summary>
    private static bool NamesFullDisk(string? problem) =>
        problem is not null && (problem.Contains("disk is full", StringComparison.Ordinal) || problem.Contains("No space left on device", StringComparison.Ordinal));

    /// <summary>Writes the ballast until the disk is full; its size.</summary>
    private static long Fill(string path)
    {
        var chunk = new byte[1 << 20];
        Random.Shared.NextBytes(chunk);
        long written = 0;
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        try
        {
            while (true)
            {
                file.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            // ENOSPC: the megabyte that did not fit is partly written; fill the rest page by page.
            var page = chunk.AsSpan(0, 4096);
            try { while (true) file.Write(page); }
            catch (IOException) { }
        }
        return written;
    }

    private static string? Problem(string status)
    {
        try
        {
            foreach (var db in JsonDocument.Parse(status).RootElement.GetProperty("dbs").EnumerateArray())
                if (db.TryGetProperty("problem", out var problem) && problem.ValueKind == JsonValueKind.String) return problem.GetString();
        }
        catch (JsonException) { } // "unreachable: ..."
        return null;
    }

    private static (int Code, string Output) Run(string command, params string[] arguments)
    {
        var info = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}

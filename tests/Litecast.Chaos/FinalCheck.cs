using System.Diagnostics;
using Litecast.Storage;
using Litecast.Tests.Shared;

namespace Litecast.Chaos;

/// <summary>
/// The end of a run, with the writer stopped and every replica converged: each replica is identical to the primary
/// page for page (read through SQLite's <c>sqlite_dbpage</c>), by <c>sqldiff</c> (Debian's sqlite3-tools: an empty
/// diff), and passes <c>PRAGMA integrity_check</c>.
/// </summary>
internal static class FinalCheck
{
    /// <summary>Problems found; empty when every replica is identical to the primary.</summary>
    public static List<string> Compare(ChaosCluster cluster)
    {
        var problems = new List<string>();
        var expected = Pages.Read(cluster.Primary.Db);
        foreach (var replica in cluster.Replicas)
        {
            var actual = Pages.Read(replica.Db);
            if (actual.Count != expected.Count)
                problems.Add($"{replica.Name} has {actual.Count} pages, the primary {expected.Count}");
            var differing = Enumerable.Range(0, Math.Min(actual.Count, expected.Count))
                .Where(i => !actual[i].AsSpan().SequenceEqual(expected[i])).Select(i => i + 1).ToList();
            if (differing.Count > 0)
                problems.Add($"{replica.Name}: {differing.Count} page(s) differ from the primary's, first {string.Join(", ", differing.Take(10))}");

            using (var connection = SqliteConnections.OpenReadOnly(replica.Db))
            {
                var integrity = connection.Scalar<string>("PRAGMA integrity_check");
                if (integrity != "ok") problems.Add($"{replica.Name}: integrity_check: {integrity}");
            }

            var (exitCode, diff) = Sqldiff(cluster.Primary.Db, replica.Db);
            if (exitCode != 0 || diff.Length > 0)
                problems.Add($"{replica.Name}: sqldiff exited {exitCode}: {(diff.Length > 2000 ? diff[..2000] + "..." : diff)}");
        }
        return problems;
    }

    /// <summary>sqldiff, both databases opened read-only (URI filenames) so that it cannot write a replica.</summary>
    private static (int ExitCode, string Output) Sqldiff(string primary, string replica)
    {
        var info = new ProcessStartInfo("sqldiff") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add($"file:{primary}?mode=ro");
        info.ArgumentList.Add($"file:{replica}?mode=ro");
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"sqldiff could not be run ({e.Message}); install Debian's sqlite3-tools (scripts/install-prereqs.sh)");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, (output + stderr.Result).Trim());
        }
    }
}

using System.Diagnostics;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Changes a database file behind SQLite's back, as a tool that edits it in place would: no journal, no WAL, no lock.
/// Done by child processes (grep, dd): a descriptor of the file opened and closed in this process would drop the POSIX
/// locks its SQLite connections hold on it (ARCHITECTURE's rule), and the test's nodes run in this process.
/// </summary>
internal static class RawFileEdit
{
    /// <summary>Overwrites the one occurrence of <paramref name="from"/> in the file with <paramref name="to"/> (of the
    /// same length).</summary>
    public static void RewriteInPlace(string path, string from, string to)
    {
        Assert.Equal(from.Length, to.Length);
        var found = Run("grep", ["--byte-offset", "--only-matching", "--binary-files=text", "--fixed-strings", from, path], null)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(found.Length == 1, $"{from} is in {path} {found.Length} times, expected once");
        var offset = long.Parse(found[0].Split(':')[0]);
        Run("dd", [$"of={path}", "bs=1", $"seek={offset}", "conv=notrunc,fsync", "status=none"], to);
    }

    private static string Run(string program, string[] arguments, string? input)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.StandardInput.Write(input ?? "");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr}");
        return stdout;
    }
}

using System.Diagnostics;
using System.Text.Json;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// An application writing the primary from its own process with Python's own SQLite: <c>db</c> is its connection
/// (busy timeout 5 s); it runs <c>body</c> (one transaction) until its stop file appears, then prints how many times
/// it ran.
/// </summary>
public sealed class PythonWriter : IDisposable
{
    private readonly Process _process;
    private readonly string _stopFile;

    private PythonWriter(Process process, string stopFile)
    {
        _process = process;
        _stopFile = stopFile;
    }

    /// <param name="databasePath">The primary's database.</param>
    /// <param name="setup">Python run once after connecting (imports os, random, sqlite3 and time are there).</param>
    /// <param name="body">Python run in the loop, indented by the caller's raw string as a block of its own.</param>
    public static PythonWriter Start(string databasePath, string setup, string body)
    {
        var stopFile = databasePath + ".stop-writer";
        var script = $"""
            import os, random, sqlite3, time
            db = sqlite3.connect({JsonSerializer.Serialize(databasePath)}, isolation_level=None, timeout=10)
            db.execute('PRAGMA busy_timeout = 5000')
            {setup}
            n = 0
            while not os.path.exists({JsonSerializer.Serialize(stopFile)}):
            {Indent(body)}
                n += 1
            print(n)
            """;
        var info = new ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        var process = Process.Start(info)!;
        process.StandardInput.Write(script);
        process.StandardInput.Close();
        return new PythonWriter(process, stopFile);
    }

    /// <summary>Stops the writer and returns how many transactions it committed.</summary>
    public long Stop()
    {
        File.WriteAllText(_stopFile, "");
        if (!_process.WaitForExit(TimeSpan.FromSeconds(60))) throw new TimeoutException("the writer did not stop");
        var committed = _process.StandardOutput.ReadToEnd();
        if (_process.ExitCode != 0) throw new InvalidOperationException($"the writer failed ({_process.ExitCode}): {_process.StandardError.ReadToEnd()}");
        return long.Parse(committed.Trim());
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            File.WriteAllText(_stopFile, "");
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) _process.Kill();
        }
        _process.Dispose();
    }

    private static string Indent(string body) => string.Join('\n', body.Split('\n').Select(line => "    " + line));
}

using System.Diagnostics;
using System.Globalization;

namespace Litecast.Chaos;

/// <summary>
/// A child process whose output lines are kept with the harness's clock (for the failure report's tails) and handed
/// to an optional callback (the writer's and readers' progress lines).
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int KeptLines = 2000;
    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Action<string>? _onLine;

    public ChildProcess(string name, string fileName, IEnumerable<string> args, string workingDirectory,
        IDictionary<string, string>? environment = null, Action<string>? onLine = null)
    {
        Name = name;
        _onLine = onLine;
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        if (environment is not null) foreach (var (key, value) in environment) info.Environment[key] = value;
        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Pid = _process.Id;
    }

    public string Name { get; }
    public int Pid { get; }
    public bool HasExited => _process.HasExited;

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_lines)
        {
            _lines.Enqueue($"[{Clock.Now}] {line}");
            if (_lines.Count > KeptLines) _lines.Dequeue();
        }
        _onLine?.Invoke(line);
    }

    /// <summary>The last <paramref name="count"/> output lines, stamped with the harness's clock; a run of lines
    /// that differ only in their leading [time][thread] stamps is shown once with its count, so that a flood of one
    /// message does not push everything else out of a failure report.</summary>
    public string Tail(int count)
    {
        List<string> lines;
        lock (_lines) lines = _lines.ToList();
        var collapsed = new List<string>();
        string? previousKey = null;
        var repeats = 0;
        foreach (var line in lines)
        {
            var key = StripStamps(line);
            if (key == previousKey)
            {
                repeats++;
                continue;
            }
            if (repeats > 0) collapsed.Add($"    (the line above repeated {repeats} more times)");
            collapsed.Add(line);
            previousKey = key;
            repeats = 0;
        }
        if (repeats > 0) collapsed.Add($"    (the line above repeated {repeats} more times)");
        return string.Join('\n', collapsed.Skip(Math.Max(0, collapsed.Count - count)));
    }

    private static string StripStamps(string line)
    {
        var span = line.AsSpan().TrimStart();
        while (span.StartsWith("[") && span.IndexOf(']') is var end and > 0) span = span[(end + 1)..].TrimStart();
        return span.ToString();
    }

    public void WriteLine(string line)
    {
        try
        {
            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
        }
        catch (IOException) { }
    }

    public void CloseInput()
    {
        try { _process.StandardInput.Close(); }
        catch (IOException) { }
    }

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Sends a signal by number (kill(1)): SIGKILL as a crash, SIGSTOP/SIGCONT as a frozen VM.</summary>
    public void Signal(string signal)
    {
        if (_process.HasExited) return;
        using var kill = Process.Start("kill", ["-" + signal, Pid.ToString(CultureInfo.InvariantCulture)]);
        kill?.WaitForExit();
    }

    /// <summary>SIGKILL (a stopped process dies too) and wait: no shutdown hook runs, as in a crash.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}

/// <summary>The harness's clock: seconds since it started, printed on every line and in the report.</summary>
internal static class Clock
{
    private static readonly Stopwatch Watch = Stopwatch.StartNew();
    public static TimeSpan Elapsed => Watch.Elapsed;
    public static string Now => Watch.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";
}

using System.Diagnostics;
using System.Text;

namespace Litecast.EndToEnd.Tests;

/// <summary>A real <c>litecast</c> process (the Host build copied beside this test assembly), with its output kept.</summary>
public sealed class LitecastProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private LitecastProcess(Process process) => _process = process;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public int Id => _process.Id;
    /// <summary>True once the process has exited and its output has been read to the end: the exit comes before the
    /// output handlers have read the pipes to their end, and a test that polled for the exit and then read
    /// <see cref="Output"/> found it empty (the resync command's "done" line, in one CI run).</summary>
    public bool HasExited
    {
        get
        {
            if (!_process.HasExited) return false;
            _process.WaitForExit();
            return true;
        }
    }
    public int ExitCode => _process.ExitCode;

    public static LitecastProcess Start(string workingDirectory, IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "litecast.dll"));
        foreach (var arg in args) info.ArgumentList.Add(arg);
        if (environment is not null) foreach (var (key, value) in environment) info.Environment[key] = value;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var wrapper = new LitecastProcess(process);
        process.OutputDataReceived += (_, e) => wrapper.Append(e.Data);
        process.ErrorDataReceived += (_, e) => wrapper.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs litecast to completion (for commands that exit) and returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(string workingDirectory, params string[] args) => Run(workingDirectory, null, args);

    /// <summary>Runs litecast to completion with <paramref name="environment"/> set.</summary>
    public static (int ExitCode, string Output) Run(string workingDirectory, IDictionary<string, string>? environment, params string[] args)
    {
        using var process = Start(workingDirectory, environment, args);
        if (!process._process.WaitForExit(TimeSpan.FromSeconds(60))) throw new TimeoutException($"litecast {string.Join(' ', args)} did not exit");
        process._process.WaitForExit();
        return (process.ExitCode, process.Output);
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>Sends a signal by name (STOP, CONT: a frozen VM or a long pause, and its end).</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", [$"-{name}", _process.Id.ToString()]);
        kill.WaitForExit();
    }

    /// <summary>SIGKILL: no shutdown hook runs, as in a crash.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, then wait for the clean exit.</summary>
    public int Terminate(TimeSpan timeout)
    {
        if (!_process.HasExited) Signal("TERM");
        if (!_process.WaitForExit(timeout)) throw new TimeoutException("litecast did not stop after SIGTERM");
        // The timed wait returns at the exit, before the output handlers have read the pipes to their end; the untimed
        // one waits for them, so Output holds the last lines (the SIGTERM test missed "stopped" in one CI run).
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}

using System.Globalization;
using System.Text.Json;

namespace Litecast.Chaos;

/// <summary>
/// A read-only reader on one replica (Python/invariant_reader.py, its own process and Python's SQLite, opened with
/// <c>?mode=ro</c>), checking on every read that the bank's total is unchanged and its version never goes back.
/// </summary>
internal sealed class InvariantReader : IDisposable
{
    private readonly ChildProcess _process;
    private readonly List<string> _violations = new();

    public InvariantReader(string replicaName, string db)
    {
        Replica = replicaName;
        _process = new ChildProcess("reader-" + replicaName, "python3",
            [Path.Combine(AppContext.BaseDirectory, "Python", "invariant_reader.py"), db,
             BankWriter.Accounts.ToString(CultureInfo.InvariantCulture), BankWriter.Total.ToString(CultureInfo.InvariantCulture)],
            Path.GetDirectoryName(db)!, onLine: OnLine);
    }

    public string Replica { get; }
    public long Checks { get; private set; }
    public long LastVersion { get; private set; } = -1;
    public bool HasExited => _process.HasExited;
    public string Tail(int lines) => _process.Tail(lines);

    /// <summary>Read errors by message, as the reader last reported them.</summary>
    public IReadOnlyDictionary<string, int> Errors { get; private set; } = new Dictionary<string, int>();

    public IReadOnlyList<string> Violations
    {
        get { lock (_violations) return _violations.ToList(); }
    }

    private void OnLine(string line)
    {
        if (line.StartsWith("violation ", StringComparison.Ordinal))
        {
            lock (_violations) _violations.Add($"[{Clock.Now}] {Replica}: {line[10..]}");
        }
        else if (line.StartsWith("progress ", StringComparison.Ordinal))
        {
            var parts = line.Split(' ');
            Checks = long.Parse(parts[1], CultureInfo.InvariantCulture);
            LastVersion = long.Parse(parts[2], CultureInfo.InvariantCulture);
        }
        else if (line.StartsWith("errors ", StringComparison.Ordinal))
        {
            Errors = JsonSerializer.Deserialize<Dictionary<string, int>>(line[7..]) ?? new Dictionary<string, int>();
        }
    }

    public void Dispose()
    {
        _process.CloseInput();
        if (!_process.WaitForExit(TimeSpan.FromSeconds(3))) _process.Kill();
        _process.Dispose();
    }
}

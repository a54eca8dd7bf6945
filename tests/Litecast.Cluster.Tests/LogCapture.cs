using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;

namespace Litecast.Cluster.Tests;

/// <summary>
/// An Akka logger that keeps every warning and error the test's nodes log, so a test can assert that Litecast said
/// what it did ("ignoring the saved position", "dropping them, catch-up follows"). The cluster tests run one at a time
/// (AssemblyInfo.cs), so one static list serves them; each test clears it first.
/// </summary>
public sealed class LogCapture : ReceiveActor
{
    private static readonly ConcurrentQueue<string> Lines = new();

    /// <summary>HOCON for <see cref="TestCluster.ExtraHocon"/>: the default logger plus this one.</summary>
    public const string Hocon = """
        akka.loggers = ["Akka.Event.DefaultLogger, Akka", "Litecast.Cluster.Tests.LogCapture, Litecast.Cluster.Tests"]
        """;

    public LogCapture()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e => Lines.Enqueue($"[{e.LogLevel()}] {e.LogSource}: {e.Message}"));
    }

    public static void Clear() => Lines.Clear();

    public static int Count(string text) => Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    public static string All => string.Join("\n", Lines);
}

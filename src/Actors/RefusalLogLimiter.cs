using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Akka.Event;

namespace Litecast.Actors;

/// <summary>At most one log line per key and interval: refused peers retry every second, from a new port each time.</summary>
internal static class RefusalLogLimiter
{
    /// <summary>True (and the time noted) when <paramref name="key"/> was not logged within <paramref name="interval"/>.</summary>
    public static bool ShouldLog(ConcurrentDictionary<string, long> loggedAt, string key, TimeSpan interval)
    {
        var now = Stopwatch.GetTimestamp();
        var last = loggedAt.GetOrAdd(key, 0);
        if (last != 0 && Stopwatch.GetElapsedTime(last, now) <= interval) return false;
        loggedAt[key] = now;
        return true;
    }
}

/// <summary>
/// Akka.Remote logs every failed TLS handshake at ERROR with a page of troubleshooting advice: a node speaking plain
/// TCP to a TLS port, retrying its join every second, would fill the log. This keeps the first per peer host and
/// <see cref="ClusterTls.RefusalLogInterval"/>, and lets every other message through untouched.
/// </summary>
internal sealed partial class HandshakeFailureLogFilter : LogFilterBase
{
    private readonly ConcurrentDictionary<string, long> _loggedAt = new();

    public override LogFilterType FilterType => LogFilterType.Content;

    public override LogFilterDecision ShouldKeepMessage(LogEvent content, string? expandedMessage = null)
    {
        var message = expandedMessage ?? content.Message?.ToString() ?? "";
        if (!message.Contains("TLS handshake failed", StringComparison.Ordinal)) return LogFilterDecision.NoDecision;
        // "... on channel [[local]:port->[remote]:port](Id=...)": the peer is after the arrow.
        var match = ChannelPeer().Match(message);
        var peer = match.Success ? ClusterTls.PeerHost(match.Groups[1].Value) : "unknown peer";
        return RefusalLogLimiter.ShouldLog(_loggedAt, peer, ClusterTls.RefusalLogInterval) ? LogFilterDecision.Keep : LogFilterDecision.Drop;
    }

    [GeneratedRegex(@"->(\S+?)\]\(Id=")]
    private static partial Regex ChannelPeer();
}

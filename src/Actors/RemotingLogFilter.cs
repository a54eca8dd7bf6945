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
/// Two kinds of Akka.Remote log noise, and nothing else: every failed TLS handshake is logged at ERROR with a page of
/// troubleshooting advice (a node speaking plain TCP to a TLS port retries its join every second, and would fill the
/// log), so only the first per peer host and <see cref="ClusterTls.RefusalLogInterval"/> is kept; and a connection
/// closed by a peer that left or stopped is logged as an ERROR "Disassociated" with a stack trace, though the cluster's
/// own member events (left, unreachable, removed) already say what happened, at the level it deserves.
/// </summary>
internal sealed partial class RemotingLogFilter : LogFilterBase
{
    private readonly ConcurrentDictionary<string, long> _loggedAt = new();

    public override LogFilterType FilterType => LogFilterType.Content;

    public override LogFilterDecision ShouldKeepMessage(LogEvent content, string? expandedMessage = null)
    {
        // Akka.Remote's exception type is internal: matched by name.
        if (content.Cause?.GetType().FullName == "Akka.Remote.EndpointDisassociatedException") return LogFilterDecision.Drop;
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

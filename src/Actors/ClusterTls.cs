using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace Litecast.Actors;

/// <summary>
/// Mutual TLS for a node: the certificate it presents (with its private key) and the one certificate authority a
/// peer's certificate must chain to. The system's trust store plays no part: a certificate any public CA signed is
/// still refused, so only holders of a certificate from this cluster's own CA can talk to it.
/// </summary>
/// <param name="Certificate">This node's certificate, with its private key.</param>
/// <param name="Authority">The CA every peer's certificate must chain to.</param>
/// <param name="Intermediates">Certificates between <paramref name="Certificate"/> and <paramref name="Authority"/>
/// (from the certificate file), sent along so that a peer can build the chain.</param>
public sealed record ClusterTls(X509Certificate2 Certificate, X509Certificate2 Authority, IReadOnlyList<X509Certificate2> Intermediates)
{
    /// <summary>How often a refused peer is logged, per host: a scanner or a misconfigured node retries every second.</summary>
    internal static readonly TimeSpan RefusalLogInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, long> _refusalsLoggedAt = new();

    /// <summary>
    /// Null when <paramref name="peer"/> chains to <see cref="Authority"/> and is valid now; otherwise why not, in
    /// words. <paramref name="presented"/> holds the intermediates the peer sent, if any.
    /// </summary>
    public string? Refusal(X509Certificate2? peer, IEnumerable<X509Certificate2>? presented = null) =>
        Refusal(peer, Authority, Intermediates.Concat(presented ?? []));

    /// <summary>Null when <paramref name="peer"/> chains to <paramref name="authority"/> alone (with the help of
    /// <paramref name="extras"/>) and is valid now; otherwise why not.</summary>
    public static string? Refusal(X509Certificate2? peer, X509Certificate2 authority, IEnumerable<X509Certificate2> extras)
    {
        if (peer is null) return "it presented no certificate";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        // A private CA publishes no revocation lists; rotation replaces certificates instead (README, Security).
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var extra in extras) chain.ChainPolicy.ExtraStore.Add(extra);
        if (chain.Build(peer)) return null;
        // A certificate that chains but is out of its validity period is told as such: "does not chain" sent operators
        // looking for the wrong CA when a node's certificate had merely expired.
        var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
        if (flags == X509ChainStatusFlags.NotTimeValid)
        {
            var now = DateTime.Now;
            var stale = new[] { peer, authority }.FirstOrDefault(c => now > c.NotAfter || now < c.NotBefore) ?? peer;
            var whose = stale == peer ? "its certificate" : "the cluster CA";
            return now > stale.NotAfter
                ? $"{whose} '{stale.Subject}' expired on {stale.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC"
                : $"{whose} '{stale.Subject}' is not valid before {stale.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
        }
        var reasons = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
        return $"its certificate '{peer.Subject}' (issuer '{peer.Issuer}') does not chain to the cluster CA '{authority.Subject}': {string.Join("; ", reasons)}";
    }

    /// <summary>
    /// The check Akka.Remote runs on every handshake, both ways: <see cref="Refusal"/>, logged at most every 30 s per
    /// peer. Host names are not checked: nodes dial each other by IP or by names their certificates need not carry,
    /// and the CA is this cluster's alone.
    /// </summary>
    internal CertificateValidationCallback RemotingValidator() => (peer, chain, remote, _, log) =>
    {
        var presented = chain?.ChainElements.Select(e => e.Certificate).Skip(1);
        var refusal = Refusal(peer, presented);
        if (refusal is null) return true;
        if (RefusalLogLimiter.ShouldLog(_refusalsLoggedAt, PeerHost(remote), RefusalLogInterval))
            log.Warning("TLS: refused the cluster connection of {Peer}: {Reason}", remote, refusal);
        return false;
    };

    /// <summary>The host of a peer written <c>host:port</c> or <c>[v6]:port</c>: a peer that retries comes from a new
    /// port each time, so the limit is per host.</summary>
    internal static string PeerHost(string peer)
    {
        var colon = peer.LastIndexOf(':');
        var host = colon > 0 && peer[(colon + 1)..].All(char.IsAsciiDigit) ? peer[..colon] : peer;
        return host.Trim('[', ']');
    }

    /// <summary>The same check for an HTTPS client (the proxy forwarding a write to the primary's proxy): the chain to
    /// <paramref name="authority"/>, plus the host name the URL named.</summary>
    public static bool AdmitsServer(X509Certificate2 authority, X509Certificate2? server, X509Chain? chain, SslPolicyErrors errors) =>
        (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0
        && Refusal(server, authority, chain?.ChainElements.Select(e => e.Certificate).Skip(1) ?? []) is null;
}

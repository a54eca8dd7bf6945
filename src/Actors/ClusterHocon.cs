using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Litecast.Messages;

namespace Litecast.Actors;

/// <summary>Where this node listens and which nodes it joins through.</summary>
/// <param name="Hostname">Bind address (0.0.0.0 for every interface).</param>
/// <param name="Port">Cluster port; 0 picks a free one (tests).</param>
/// <param name="PublicHostname">The name other nodes reach this one by.</param>
/// <param name="Seeds">Cluster addresses to join through (akka.tcp://litecast@host:port); empty for the first node.</param>
/// <param name="IsPrimary">True on a node that is the primary of a database: the split-brain resolver keeps the side
/// that holds the primary, so a partition downs replicas (which then rejoin), never the node everything flows from.</param>
public sealed record ClusterEndpoint(string Hostname, int Port, string PublicHostname, IReadOnlyList<string> Seeds, bool IsPrimary);

/// <summary>Builds the Akka configuration of a Litecast node: hocon/akka.conf, the serializer bindings and the endpoint.</summary>
public static class ClusterHocon
{
    /// <summary>The actor system name every Litecast node uses (it is part of every cluster address).</summary>
    public const string SystemName = "litecast";

    /// <summary>The cluster role of a node that is the primary of a database (see hocon/akka.conf, split-brain-resolver).</summary>
    public const string PrimaryRole = "primary";

    private static readonly Lazy<string> Base = new(() =>
    {
        using var stream = typeof(ClusterHocon).Assembly.GetManifestResourceStream("Litecast.akka.conf")
            ?? throw new InvalidOperationException("hocon/akka.conf is not embedded in Litecast.Actors");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>The full configuration; <paramref name="overrides"/> (HOCON) wins over everything else.</summary>
    public static Config Build(ClusterEndpoint endpoint, string? overrides = null)
    {
        var seeds = string.Join(", ", endpoint.Seeds.Select(s => "\"" + s + "\""));
        var node = $$"""
            akka.remote.dot-netty.tcp {
              hostname = "{{endpoint.Hostname}}"
              port = {{endpoint.Port}}
              public-hostname = "{{endpoint.PublicHostname}}"
            }
            akka.cluster.seed-nodes = [{{seeds}}]
            akka.cluster.roles = [{{(endpoint.IsPrimary ? "\"" + PrimaryRole + "\"" : "")}}]
            """;
        return ConfigurationFactory.ParseString(overrides ?? "")
            .WithFallback(ConfigurationFactory.ParseString(node))
            .WithFallback(ConfigurationFactory.ParseString(LitecastSerialization.Hocon))
            .WithFallback(ConfigurationFactory.ParseString(Base.Value))
            // DistributedPubSub's own serializer must be known from boot, before any peer's pub-sub gossip arrives.
            .WithFallback(DistributedPubSub.DefaultConfig());
    }
}

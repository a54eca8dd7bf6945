using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Litecast.Messages;

namespace Litecast.Actors;

/// <summary>Where this node listens and which nodes it joins through.</summary>
/// <param name="Hostname">Bind address (0.0.0.0 for every interface).</param>
/// <param name="Port">Cluster port; 0 picks a free one (tests).</param>
/// <param name="PublicHostname">The name other nodes reach this one by.</param>
/// <param name="Seeds">Cluster addresses to join through (akka.tcp://litecast@host:port); empty for the first node.</param>
/// <param name="IsPrimary">True on a node that is the primary of a database: the split-brain resolver keeps the side
/// that holds the oldest such node, so a partition downs replicas (which then rejoin), never the node everything flows
/// from.</param>
/// <param name="PublicPort">The port other nodes dial, when it differs from <paramref name="Port"/> (a relay or a
/// port-forward).</param>
/// <param name="Tls">Mutual TLS on every cluster connection (addresses are then <c>akka.ssl.tcp://</c>); null for
/// plain TCP.</param>
public sealed record ClusterEndpoint(string Hostname, int Port, string PublicHostname, IReadOnlyList<string> Seeds, bool IsPrimary,
    int? PublicPort = null, ClusterTls? Tls = null);

/// <summary>
/// Configures a Litecast node on an Akka.Hosting builder: the static settings of <c>hocon/akka.conf</c> and
/// <c>hocon/serialization.conf</c>, remoting and clustering for the endpoint, pub-sub, and the node's databases, started
/// once the node is Up and registered as <see cref="NodeDatabases"/>.
/// </summary>
public static class NodeHosting
{
    /// <summary>The actor system name every Litecast node uses (it is part of every cluster address).</summary>
    public const string SystemName = "litecast";

    /// <summary>The cluster role of a node that is the primary of a database (see the split-brain resolver below).</summary>
    public const string PrimaryRole = "primary";

    private static readonly TimeSpan RegistryPoll = TimeSpan.FromMilliseconds(20);

    private static readonly Lazy<string> StaticSettings = new(() =>
    {
        using var stream = typeof(NodeHosting).Assembly.GetManifestResourceStream("Litecast.akka.conf")
            ?? throw new InvalidOperationException("hocon/akka.conf is not embedded in Litecast.Actors");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <param name="akka">The builder of this incarnation's host.</param>
    /// <param name="endpoint">Where the node listens and what it joins.</param>
    /// <param name="databases">The node's databases, given its cluster address (the node id the primary knows it by).</param>
    public static AkkaConfigurationBuilder WithLitecastNode(this AkkaConfigurationBuilder akka, ClusterEndpoint endpoint,
        Func<string, IReadOnlyList<DatabaseSettings>> databases) =>
        akka.AddHocon(StaticSettings.Value, HoconAddMode.Append)
            .AddHocon(LitecastSerialization.Hocon, HoconAddMode.Append)
            .WithRemoting(new RemoteOptions
            {
                HostName = endpoint.Hostname,
                Port = endpoint.Port,
                PublicHostName = endpoint.PublicHostname,
                PublicPort = endpoint.PublicPort,
                EnableSsl = endpoint.Tls is not null,
                Ssl = endpoint.Tls is not { } tls ? null! : new SslOptions
                {
                    X509Certificate = tls.Certificate,
                    SuppressValidation = false,
                    RequireMutualAuthentication = true,
                    ValidateCertificateHostname = false,
                    CustomValidator = tls.RemotingValidator(),
                },
            })
            .WithClustering(new ClusterOptions
            {
                Roles = endpoint.IsPrimary ? [PrimaryRole] : [],
                SeedNodes = endpoint.Seeds.ToArray(),
                // Only the side holding the primary survives a partition: replicas cut off from it are downed and
                // rejoin, which they need to do anyway to hear the primary again. With more than one node of the role
                // (a node that is the primary of one database and a replica of another's, or a primary's config
                // started twice), the oldest one's side survives: keeping the majority of the role, the lowest address
                // on a tie, downed the established primary and its replicas when a newcomer primary was paused
                // (found by a black-box review). Not down-if-alone: a primary cut off from every replica keeps
                // serving its application. stable-after is in akka.conf.
                SplitBrainResolver = new KeepOldestOption { Role = PrimaryRole, DownIfAlone = false },
            })
            .AddSetup(new LogFilterSetup([new RemotingLogFilter()]))
            .WithDistributedPubSub(role: null!)
            .WithActors((system, registry) =>
            {
                var cluster = Akka.Cluster.Cluster.Get(system);
                if (endpoint.Seeds.Count == 0) cluster.Join(cluster.SelfAddress);
                cluster.RegisterOnMemberUp(() =>
                {
                    var mediator = DistributedPubSub.Get(system).Mediator;
                    var nodeDatabases = system.ActorOf(NodeDatabases.Props(databases(cluster.SelfAddress.ToString()), mediator), "databases");
                    registry.Register<NodeDatabases>(nodeDatabases);
                });
            });

    /// <summary>The node's databases once the node is Up and has started them (registered by
    /// <see cref="WithLitecastNode"/>); null when that took longer than <paramref name="timeout"/>.</summary>
    /// <remarks>The registry is polled rather than awaited: Akka.Hosting 1.5.73's <c>ActorRegistry.GetAsync</c> checks
    /// for the actor and only then adds its waiter, so a registration between the two is never seen (49 of 5,000 such
    /// races in a probe; a node started in CI waited out its 30 s for a databases actor that had been running for 28).</remarks>
    public static async Task<IActorRef?> NodeDatabasesAsync(this ActorRegistry registry, TimeSpan timeout, CancellationToken cancellation)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        IActorRef nodeDatabases;
        while (!registry.TryGet<NodeDatabases>(out nodeDatabases))
        {
            if (waited.Elapsed >= timeout) return null;
            await Task.Delay(RegistryPoll, cancellation);
        }
        return nodeDatabases;
    }
}

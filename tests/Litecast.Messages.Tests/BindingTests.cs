using Akka.Actor;
using Akka.Configuration;
using Litecast.Storage;

namespace Litecast.Messages.Tests;

[Collection(ActorSystemCollection.Name)]
public sealed class BindingTests
{
    private readonly ActorSystemFixture _fixture;

    public BindingTests(ActorSystemFixture fixture) => _fixture = fixture;

    /// <summary>Every public message type of Litecast.Messages (records other than the PageImage value).</summary>
    public static IEnumerable<Type> MessageTypes() =>
        typeof(PageBatch).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && t.IsSealed && !t.IsAbstract && t.Namespace == "Litecast.Messages")
            .Where(t => t != typeof(PageImage) && t != typeof(LitecastSerializer))
            .OrderBy(t => t.Name);

    [Fact]
    public void The_contract_is_exactly_the_eleven_messages()
    {
        Assert.Equal(
            new[]
            {
                "CatchUpRequest", "CatchUpUnavailable", "Heartbeat", "PageBatch", "ReplicaPositionReport", "ReplicaReportWanted", "ResyncDemand",
                "ResyncFailed", "ResyncOffer", "ResyncPages", "ResyncRequest",
            },
            MessageTypes().Select(t => t.Name).ToArray());
    }

    [Fact]
    public void Akka_finds_the_litecast_serializer_for_every_message()
    {
        foreach (object message in _fixture.Samples.All())
        {
            var serializer = _fixture.Serialization.FindSerializerFor(message);
            Assert.IsType<LitecastSerializer>(serializer);
            Assert.Equal(8117, serializer.Identifier);
        }
        foreach (Type type in MessageTypes())
            Assert.IsType<LitecastSerializer>(_fixture.Serialization.FindSerializerForType(type));
    }

    [Fact]
    public void Manifests_are_fixed_and_distinct()
    {
        var expected = new Dictionary<Type, string>
        {
            [typeof(PageBatch)] = "PB",
            [typeof(Heartbeat)] = "HB",
            [typeof(CatchUpRequest)] = "CUQ",
            [typeof(CatchUpUnavailable)] = "CUU",
            [typeof(ReplicaPositionReport)] = "RPR",
            [typeof(ResyncRequest)] = "RSQ",
            [typeof(ResyncOffer)] = "RSO",
            [typeof(ResyncDemand)] = "RSD",
            [typeof(ResyncPages)] = "RSP",
            [typeof(ResyncFailed)] = "RSF",
            [typeof(ReplicaReportWanted)] = "RRW",
        };
        foreach (object message in _fixture.Samples.All())
        {
            var (_, manifest, result) = _fixture.RoundTrip(message);
            Assert.Equal(expected[message.GetType()], manifest);
            Assert.IsType(message.GetType(), result);
        }
        Assert.Equal(expected.Count, expected.Values.Distinct().Count());
    }

    [Fact]
    public void Hocon_sets_identifier_and_leaves_local_serialization_off()
    {
        Config config = ConfigurationFactory.ParseString(LitecastSerialization.Hocon);
        Assert.False(config.GetBoolean("akka.actor.serialize-messages"));
        Assert.Equal("Litecast.Messages.LitecastSerializer, Litecast.Messages", config.GetString("akka.actor.serializers.litecast"));
        Assert.Equal(LitecastSerializer.SerializerId,
            config.GetInt("akka.actor.serialization-identifiers.\"Litecast.Messages.LitecastSerializer, Litecast.Messages\""));
        foreach (Type type in MessageTypes())
            Assert.Contains($"\"{type.FullName}, Litecast.Messages\" = litecast", LitecastSerialization.Hocon);
        Assert.False(_fixture.System.Settings.SerializeAllMessages);
    }

    [Fact]
    public async Task With_serialize_messages_on_every_message_crosses_the_serializer()
    {
        Config config = ConfigurationFactory.ParseString("akka.actor.serialize-messages = on")
            .WithFallback(ConfigurationFactory.ParseString(LitecastSerialization.Hocon));
        using ActorSystem system = ActorSystem.Create("litecast-strict", config);
        try
        {
            Assert.True(system.Settings.SerializeAllMessages);
            IActorRef target = system.ActorOf(Props.Create(() => new Capture()), "target");
            var samples = new Samples(target);
            foreach (object message in samples.All())
            {
                object received = await target.Ask<object>(new Capture.Deliver(message), TimeSpan.FromSeconds(10));
                Assert.NotSame(message, received); // delivered as a deserialized copy
                MessageAssert.Equal(message, received);
            }
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>Sends the wrapped message to itself (so it goes through local serialization) and returns what arrived.</summary>
    private sealed class Capture : ReceiveActor
    {
        public sealed record Deliver(object Message) : INoSerializationVerificationNeeded;

        private IActorRef? _asker;

        public Capture()
        {
            Receive<Deliver>(d =>
            {
                _asker = Sender;
                Self.Tell(d.Message);
            });
            ReceiveAny(m => _asker?.Tell(m, ActorRefs.NoSender));
        }
    }
}

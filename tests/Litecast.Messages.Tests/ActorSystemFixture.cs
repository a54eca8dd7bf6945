using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace Litecast.Messages.Tests;

/// <summary>A real ActorSystem configured with the embedded Litecast serialization HOCON.</summary>
public sealed class ActorSystemFixture : IDisposable
{
    public ActorSystemFixture()
    {
        System = ActorSystem.Create("litecast-messages-tests", ConfigurationFactory.ParseString(LitecastSerialization.Hocon));
        Replica = System.ActorOf(Props.Create(() => new SinkActor()), "replica-db1");
        Samples = new Samples(Replica);
    }

    public ActorSystem System { get; }

    public IActorRef Replica { get; }

    public Samples Samples { get; }

    public Serialization Serialization => System.Serialization;

    public LitecastSerializer Serializer => (LitecastSerializer)System.Serialization.FindSerializerForType(typeof(PageBatch));

    /// <summary>Serializes through Akka's lookup and deserializes by serializer id + manifest, as remoting does.</summary>
    public (byte[] Bytes, string Manifest, object Result) RoundTrip(object message)
    {
        Serializer serializer = Serialization.FindSerializerFor(message);
        byte[] bytes = serializer.ToBinary(message);
        string manifest = Serialization.ManifestFor(serializer, message);
        object result = Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        return (bytes, manifest, result);
    }

    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(10));

    private sealed class SinkActor : ReceiveActor
    {
        public SinkActor() => ReceiveAny(_ => { });
    }
}

[CollectionDefinition(Name)]
public sealed class ActorSystemCollection : ICollectionFixture<ActorSystemFixture>
{
    public const string Name = "actor system";
}

using Akka.Actor;
using Litecast.Actors;
using Litecast.Messages;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The replica's database actor on a local ActorSystem, with TestProbes standing in for the mediator and for two
/// incarnations of the primary. A CI run of <see cref="WaitAcrossGenerationsTests"/> showed the case: a batch of a
/// restarted primary's new generation arrived before its first heartbeat, so the replica asked the resync of the
/// primary's earlier incarnation, which never answered, and waited the 60 s resync timeout.
/// </summary>
public class ReplicaPrimaryRestartTests(ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit("akka.actor.provider = cluster\nakka.remote.dot-netty.tcp.hostname = 127.0.0.1\nakka.remote.dot-netty.tcp.port = 0", output)
{
    [Fact]
    public void AResyncAskedOfAnEarlierIncarnationIsAskedAgainOfTheCurrentOne()
    {
        var directory = Path.Combine(Path.GetTempPath(), "litecast-replica-restart-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var settings = new DatabaseSettings
            {
                Name = "app.db",
                Path = Path.Combine(directory, "app.db"),
                NodeId = "test-replica",
                Upstream = new UpstreamSettings("test-primary", "/primary/app.db"),
            };
            var mediator = CreateTestProbe("mediator");
            var earlier = CreateTestProbe("primary-earlier");
            var current = CreateTestProbe("primary-current");
            var replica = Sys.ActorOf(DatabaseActor.Props(settings, mediator.Ref), "db-app");

            // The file does not exist: the replica resyncs from the primary it hears first.
            replica.Tell(new Heartbeat("/primary/app.db", "test-primary", 0xA, 5, 0, 4096, 2, "3.52.0"), earlier.Ref);
            var asked = earlier.FishForMessage<ResyncRequest>(_ => true, TimeSpan.FromSeconds(10));

            // The primary restarts with a new generation; its first heartbeat comes from its new incarnation.
            replica.Tell(new Heartbeat("/primary/app.db", "test-primary", 0xB, 1, 0, 4096, 2, "3.52.0"), current.Ref);
            var askedAgain = current.FishForMessage<ResyncRequest>(_ => true, TimeSpan.FromSeconds(5));
            Assert.NotEqual(asked.SessionId, askedAgain.SessionId);
            Assert.Equal("test-replica", askedAgain.ReplicaNode);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

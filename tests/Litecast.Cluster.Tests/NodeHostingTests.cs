using Akka.Actor;
using Akka.Hosting;
using Litecast.Actors;

namespace Litecast.Cluster.Tests;

/// <summary>A node's start waits for its databases, which register in the actor registry once the node is Up.</summary>
public class NodeHostingTests
{
    /// <summary>Akka.Hosting's own wait (<c>ActorRegistry.GetAsync</c>) missed 6 of these 3,000 races, and a node whose
    /// start lost one reported that it could not join the cluster: each wait, started together with its registration on
    /// another thread, sees it.</summary>
    [Fact]
    public async Task EveryRegistrationThatRacesTheWaitIsSeen()
    {
        var waits = new List<Task<IActorRef?>>();
        for (var race = 0; race < 3000; race++)
        {
            var registry = new ActorRegistry();
            using var go = new ManualResetEventSlim();
            Task<IActorRef?>? wait = null;
            var waiter = new Thread(() => { go.Wait(); wait = registry.NodeDatabasesAsync(TimeSpan.FromSeconds(10), CancellationToken.None); });
            var registrar = new Thread(() => { go.Wait(); registry.Register<NodeDatabases>(ActorRefs.Nobody); });
            waiter.Start();
            registrar.Start();
            go.Set();
            waiter.Join();
            registrar.Join();
            waits.Add(wait!);
        }
        var seen = await Task.WhenAll(waits);
        Assert.Equal(0, seen.Count(actor => actor is null));
    }

    [Fact]
    public async Task AWaitForDatabasesThatNeverStartEndsWithNothingAtItsTimeout()
    {
        Assert.Null(await new ActorRegistry().NodeDatabasesAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None));
    }
}

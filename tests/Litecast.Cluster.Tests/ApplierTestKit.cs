using Litecast.Actors.Replica;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Akka.TestKit for the tests of one <see cref="Applier"/>, whose parent is the test actor. The applier tells its
/// parent of each checkpoint of the replica's WAL (for the node's checkpoint counter): not what these tests look at, and
/// it would come between the messages they expect, so it is ignored.
/// </summary>
public abstract class ApplierTestKit : Akka.TestKit.Xunit2.TestKit
{
    protected ApplierTestKit(ITestOutputHelper output) : base(output: output) => IgnoreMessages<Applier.Checkpointed>();
}

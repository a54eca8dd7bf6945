using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// Resync snapshots under an application committing back to back at synchronous=FULL. The tailer reads a commit as
/// soon as its frames are in the WAL file, a few milliseconds before SQLite makes it visible to new readers (it syncs
/// first); 20 immediate attempts to pin a snapshot where the tailer stood could all fall inside that window, the
/// tailer crashed, and a resync asked meanwhile was never answered (the chaos harness, seed 301). Every resync here
/// must be served, and the tailer must not be restarted.
/// </summary>
public class SnapshotUnderLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ResyncSnapshotsArePinnedWhileTheApplicationCommitsBackToBack()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var tailer = await cluster.PrimaryTailerAsync();

        using var stop = new CancellationTokenSource();
        var writer = Task.Factory.StartNew(() =>
        {
            using var connection = cluster.OpenApplication();
            connection.Execute("PRAGMA synchronous = FULL");
            var count = 0;
            while (!stop.IsCancellationRequested) count += PartitionTests.Write(connection, 1);
            return count;
        }, TaskCreationOptions.LongRunning);
        try
        {
            const int resyncs = 5;
            for (var i = 1; i <= resyncs; i++)
            {
                var before = (await cluster.Replica(1).StatusAsync("app.db")).Counters.Resyncs;
                await cluster.Replica(1).Databases["app.db"].Ask<ResyncStarted>(new RequestResync($"test {i}"), TimeSpan.FromSeconds(10));
                await cluster.Replica(1).Kit.AwaitConditionAsync(async () =>
                {
                    var status = await cluster.Replica(1).StatusAsync("app.db");
                    return status.Counters.Resyncs > before && status.State != ReplicaStates.Resyncing;
                }, TimeSpan.FromSeconds(30), TestCluster.Poll, $"resync {i} to complete");
            }
        }
        finally
        {
            stop.Cancel();
        }
        output.WriteLine($"{await writer} commits while the replica resynced");
        await cluster.WaitForReplicasAsync();
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
        var after = await cluster.PrimaryTailerAsync();
        Assert.Equal(tailer.Path.Uid, after.Path.Uid);
        var primary = await cluster.Primary.StatusAsync("app.db");
        Assert.True(primary.Healthy, primary.Problem);
    }
}

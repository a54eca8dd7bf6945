using System.Diagnostics;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A replica that held every txid it knew of reported a lag of 0 for as long as its primary stayed silent (SIGSTOPped,
/// or cut off), while the primary went on committing: a proxy with <c>max-lag</c> kept serving its reads without the new
/// rows (found by a black-box review). Cut off, the replica's lag is the age of its data: the time since it was last
/// known current.
/// </summary>
public class SilentPrimaryLagTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AReplicaCutOffFromItsPrimaryReportsTheAgeOfItsDataNotZero()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var replica = cluster.Replica(1);
        await replica.Kit.AwaitAssertAsync(async () => Assert.Equal((double?)0, (await replica.StatusAsync("app.db")).LagMs),
            TimeSpan.FromSeconds(30), TestCluster.Poll);

        await cluster.IsolateAsync(replica);
        var isolated = Stopwatch.StartNew();
        app.Execute("INSERT INTO t(v) VALUES ('after the cut')");

        await replica.Kit.AwaitAssertAsync(async () =>
        {
            var lag = (await replica.StatusAsync("app.db")).LagMs;
            Assert.True(lag >= 3000, $"{isolated.Elapsed.TotalSeconds:F1} s after the cut the replica reports a lag of {lag} ms");
        }, TimeSpan.FromSeconds(10), TestCluster.Poll);
        var status = await replica.StatusAsync("app.db");
        output.WriteLine($"{isolated.Elapsed.TotalSeconds:F1} s after the cut: {status.State}, lag {status.LagMs:F0} ms, {status.Problem}");
        // Counted from the last heartbeat before the cut, which came at most a heartbeat interval before it.
        Assert.True(status.LagMs <= isolated.Elapsed.TotalMilliseconds + 1500,
            $"lag {status.LagMs:F0} ms, more than the {isolated.Elapsed.TotalMilliseconds:F0} ms since the cut and a heartbeat interval");
        using var reader = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(0, reader.Scalar<long>("SELECT count(*) FROM t WHERE v = 'after the cut'"));
    }
}

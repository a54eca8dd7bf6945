using System.Diagnostics;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A replica and its primary cut off from each other, as each one shows it (found by a black-box review). The replica
/// held every txid it knew of and reported a lag of 0 for as long as its primary stayed silent (SIGSTOPped, or cut off)
/// while the primary went on committing: a proxy with <c>max-lag</c> kept serving its reads without the new rows. Cut
/// off, the replica's lag is the age of its data: the time since it was last known current. The primary showed the
/// silent replica "following" with a lag of seconds until it called it disconnected.
/// </summary>
public class CutOffLagTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AReplicaCutOffFromItsPrimaryReportsTheAgeOfItsDataNotZero()
    {
        // A max-lag the cut-off lag passes: the problem must still say why ("0 txids behind the primary" hid it).
        await using var cluster = new TestCluster(output) { Tune = s => s.Upstream is null ? s : s with { MaxLag = TimeSpan.FromSeconds(2) } };
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var replica = cluster.Replica(1);
        await replica.Kit.AwaitAssertAsync(async () => Assert.Equal((double?)0, (await replica.StatusAsync("app.db")).LagMs),
            TimeSpan.FromSeconds(30), TestCluster.Poll);

        // From before the cut: heartbeats may stop while it is being made.
        var isolated = Stopwatch.StartNew();
        await cluster.IsolateAsync(replica);
        app.Execute("INSERT INTO t(v) VALUES ('after the cut')");

        await replica.Kit.AwaitAssertAsync(async () =>
        {
            var lag = (await replica.StatusAsync("app.db")).LagMs;
            Assert.True(lag >= 3000, $"{isolated.Elapsed.TotalSeconds:F1} s after the cut the replica reports a lag of {lag} ms");
        }, TimeSpan.FromSeconds(10), TestCluster.Poll);
        var status = await replica.StatusAsync("app.db");
        output.WriteLine($"{isolated.Elapsed.TotalSeconds:F1} s after the cut: {status.State}, lag {status.LagMs:F0} ms, {status.Problem}");
        // Counted from the last heartbeat before the cut, which came at most a heartbeat interval before it.
        Assert.True(status.LagMs <= isolated.Elapsed.TotalMilliseconds + 2000,
            $"lag {status.LagMs:F0} ms, more than the {isolated.Elapsed.TotalMilliseconds:F0} ms since the cut and a heartbeat interval");
        Assert.Null(status.LagTxids);
        Assert.DoesNotContain("txids behind", status.Problem);
        Assert.Contains("primary", status.Problem);
        using var reader = SqliteConnections.OpenReadOnly(cluster.ReplicaPath(1));
        Assert.Equal(0, reader.Scalar<long>("SELECT count(*) FROM t WHERE v = 'after the cut'"));
    }

    [Fact]
    public async Task APrimaryShowsAReplicaCutOffBehindItAsCatchingUpNotFollowing()
    {
        await using var cluster = new TestCluster(output);
        using var app = await PartitionTests.StartWithRowsAsync(cluster);
        var primary = cluster.Primary;
        await primary.Kit.AwaitAssertAsync(async () =>
            Assert.Equal(ReplicaStates.Following, Assert.Single((await primary.StatusAsync("app.db")).Replicas).State),
            TimeSpan.FromSeconds(30), TestCluster.Poll);

        await cluster.IsolateAsync(cluster.Replica(1));
        app.Execute("INSERT INTO t(v) VALUES ('after the cut')");

        var seen = new List<(string State, double? LagMs)>();
        await primary.Kit.AwaitAssertAsync(async () =>
        {
            var view = Assert.Single((await primary.StatusAsync("app.db")).Replicas);
            seen.Add((view.State, view.LagMs));
            Assert.True(view.LagMs >= 1500, $"lag {view.LagMs:F0} ms");
        }, TimeSpan.FromSeconds(9), TestCluster.Poll);
        output.WriteLine(string.Join(", ", seen.Select(s => $"{s.State} {s.LagMs:F0} ms").Distinct()));
        // Every look that showed a second of lag or more showed the replica behind, never following.
        Assert.DoesNotContain(seen, s => s.State == ReplicaStates.Following && s.LagMs >= 1000);
    }
}

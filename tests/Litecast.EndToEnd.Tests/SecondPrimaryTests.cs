using System.Net;
using System.Text.Json;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// A second node with a primary database that joins the primary's cluster (a copy of the primary's config started
/// elsewhere, with <c>cluster.seeds</c> pointing at it). The split-brain resolver kept the majority of the nodes with
/// the role <c>primary</c>, the lowest address on a tie: when that newcomer was paused, the established primary was
/// the one downed, and its replicas with it (found by a black-box review). The oldest primary now survives.
/// </summary>
public sealed class SecondPrimaryTests
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ANewcomerPrimaryPausedIsDownedAndTheEstablishedPrimaryKeepsReplicating()
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(x)')", replicas: 1, Converge);

        // The newcomer's cluster address sorts below the primary's: a tie went its way.
        int strayPort;
        while ((strayPort = Ports.Free()) >= cluster.PrimaryClusterPort) { }
        var strayHttpPort = Ports.Free();
        var strayDirectory = Path.Combine(cluster.Root, "stray");
        Directory.CreateDirectory(strayDirectory);
        var strayDb = Path.Combine(strayDirectory, "db");
        EndToEndCluster.Python($"""
            import sqlite3
            db = sqlite3.connect({JsonSerializer.Serialize(strayDb)}, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("CREATE TABLE t(x)")
            db.close()
            """);
        File.WriteAllText(Path.Combine(strayDirectory, "litecast.yml"), $"""
            addr: "127.0.0.1:{strayHttpPort}"
            dbs:
              - path: {strayDb}
            cluster:
              host: 127.0.0.1
              port: {strayPort}
              seeds: ["akka.tcp://litecast@127.0.0.1:{cluster.PrimaryClusterPort}"]
            """);
        using var stray = LitecastProcess.Start(strayDirectory, null, "replicate");
        try
        {
            await UntilAsync(async () => await MemberCountAsync(cluster) == 3, "the newcomer never joined", stray);
            stray.Signal("STOP");
            await UntilAsync(async () => await MemberCountAsync(cluster) == 2, "the paused newcomer was never removed", stray);

            Assert.DoesNotContain("removed from the cluster", cluster.Primary!.Output);
            cluster.App("db.execute('INSERT INTO t VALUES (1)')");
            await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
            Assert.Equal("1", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
        }
        finally
        {
            stray.Signal("CONT");
        }
    }

    private static async Task<int> MemberCountAsync(EndToEndCluster cluster)
    {
        try
        {
            return (await cluster.GetJsonAsync($"{cluster.PrimaryUrl}/status")).GetProperty("members").GetArrayLength();
        }
        catch (HttpRequestException)
        {
            return -1;
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string failure, LitecastProcess stray)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Converge, $"{failure}\n{stray.Output}");
            await Task.Delay(200);
        }
    }
}

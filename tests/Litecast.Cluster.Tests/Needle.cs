using Litecast.Storage;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// A database with one row, the needle, whose bytes a test rewrites in a file behind SQLite's back
/// (<see cref="RawFileEdit"/>), beside a table the application keeps writing; and the scrubs that must find it.
/// </summary>
internal static class Needle
{
    public const string Original = "needle-aaaaaaaaaaaaaaaaaaaaaaaa";
    public const string Rewritten = "needle-bbbbbbbbbbbbbbbbbbbbbbbb";

    /// <summary>What a node logs (at Info) for each scrub that found the file sound.</summary>
    public const string ScrubVerified = "scrub verified";

    /// <summary>A primary and replica 1 in sync on a database whose every page is in the database file and none in the
    /// WAL, so that a rewrite of the needle's bytes is the only copy of its page. Returns the application's connection.</summary>
    public static async Task<SqliteConnection> StartClusterAsync(TestCluster cluster)
    {
        var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE needle(v TEXT)");
        app.Execute($"INSERT INTO needle(v) VALUES ('{Original}')");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        Assert.Equal(0L, app.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)"));
        await cluster.StartPrimaryAsync();
        await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        Assert.Equal(Original, Read(cluster.ReplicaPath(1)));
        return app;
    }

    public static string Read(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<string>("SELECT v FROM needle")!;
    }

    /// <summary>The application writes all along while <paramref name="node"/> logs three more sound scrubs.</summary>
    public static async Task WriteThroughThreeScrubsAsync(TestCluster cluster, TestNode node, ITestOutputHelper output)
    {
        using var stop = new CancellationTokenSource();
        var writer = WriteUntilStopped(cluster, TimeSpan.Zero, stop.Token);
        await node.Log.WaitForCountAsync(ScrubVerified, node.Log.Count(ScrubVerified) + 3, TimeSpan.FromSeconds(30),
            $"three scrubs on {node.NodeId} while the application writes");
        await stop.CancelAsync();
        output.WriteLine($"{await writer} commits during the scrubs");
    }

    /// <summary>The application commits one row into t at a time, <paramref name="pause"/> apart, until
    /// <paramref name="stop"/>; the task gives the number of commits.</summary>
    public static Task<int> WriteUntilStopped(TestCluster cluster, TimeSpan pause, CancellationToken stop) => Task.Run(async () =>
    {
        using var connection = cluster.OpenApplication();
        var commits = 0;
        while (!stop.IsCancellationRequested)
        {
            commits += PartitionTests.Write(connection, 1);
            if (pause > TimeSpan.Zero) await Task.Delay(pause);
        }
        return commits;
    });
}

using System.Diagnostics;
using Akka.Actor;
using Litecast.Actors;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.Cluster.Tests;

/// <summary>
/// The tailer keeps the database's hash from the stream of pages it publishes, and hashes a resync's snapshot again
/// from the file as it copies it. When the two disagree, the file was changed by something other than SQLite's WAL (a
/// tool writing the file in place, a restore over it, a bad disk): the snapshot is not served as a continuation of the
/// stream it contradicts; the tailer starts a new generation from the file, and every replica follows it.
/// </summary>
public class StreamHashMismatchTests(ITestOutputHelper output)
{
    private const string Original = "needle-aaaaaaaaaaaaaaaaaaaaaaaa";
    private const string Rewritten = "needle-bbbbbbbbbbbbbbbbbbbbbbbb";

    [Fact]
    public async Task APageChangedBehindSqlitesBackIsFoundAtTheNextSnapshotAndStartsANewGeneration()
    {
        await using var cluster = new TestCluster(output);
        using var app = cluster.OpenApplication();
        app.Execute("CREATE TABLE needle(v TEXT)");
        app.Execute($"INSERT INTO needle(v) VALUES ('{Original}')");
        app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        PartitionTests.Write(app, 100);
        // Every page in the database file and none in the WAL, so that the rewrite below is the only copy of its page.
        Assert.Equal(0L, app.Scalar<long>("PRAGMA wal_checkpoint(TRUNCATE)"));
        await cluster.StartPrimaryAsync();
        var replica = await cluster.StartReplicaAsync(1);
        await cluster.WaitForReplicasAsync();
        var before = await replica.StatusAsync("app.db");
        Assert.Equal(Original, ReadNeedle(cluster.ReplicaPath(1)));

        RewriteInPlace(cluster.PrimaryPath, Original, Rewritten);
        PartitionTests.Write(app, 10);
        var started = await replica.Databases["app.db"].Ask<ResyncStarted>(new RequestResync("test"), TimeSpan.FromSeconds(10));
        Assert.True(started.Accepted, started.Detail);

        await cluster.Primary.Log.WaitForCountAsync("differs from the stream's", 1, TimeSpan.FromSeconds(30),
            "the primary to find that its file and its stream disagree");
        await cluster.WaitForReplicasAsync();
        var after = await replica.StatusAsync("app.db");
        Assert.NotEqual(before.Generation, after.Generation);
        Assert.Equal(Rewritten, ReadNeedle(cluster.ReplicaPath(1)));
        PartitionTests.AssertSameRows(app, cluster.ReplicaPath(1));
    }

    private static string ReadNeedle(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        return connection.Scalar<string>("SELECT v FROM needle")!;
    }

    /// <summary>Overwrites the one occurrence of <paramref name="from"/> in the file with <paramref name="to"/> (of the
    /// same length), as a tool that edits the file directly would: no journal, no WAL, no lock. Done by other processes:
    /// a descriptor of the file opened and closed in this one would drop the locks its SQLite connections hold on it.</summary>
    private static void RewriteInPlace(string path, string from, string to)
    {
        var found = Run("grep", ["--byte-offset", "--only-matching", "--binary-files=text", "--fixed-strings", from, path], null)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(found.Length == 1, $"{from} is in {path} {found.Length} times, expected once");
        var offset = long.Parse(found[0].Split(':')[0]);
        Run("dd", [$"of={path}", "bs=1", $"seek={offset}", "conv=notrunc,fsync", "status=none"], to);
    }

    private static string Run(string program, string[] arguments, string? input)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.StandardInput.Write(input ?? "");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr}");
        return stdout;
    }
}

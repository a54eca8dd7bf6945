using System.Diagnostics;
using Litecast.Storage;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// A second <c>litecast replicate</c> on a database another one runs, with other ports (found by a black-box review):
/// two replicas on one file resynced each other forever, each taking the other's applies for a local write, while
/// <c>/status</c> said healthy; a second primary continued the generation, deleted the running primary's retained log
/// and snapshot files and overwrote its primary.json on exit. The second now refuses to start, naming the database
/// and the pid of the litecast that runs it, and touches nothing; the first keeps replicating.
/// </summary>
public class SecondProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("replica")]
    [InlineData("primary")]
    public async Task ASecondLitecastOnARunningDatabaseIsRefusedAndTheFirstKeepsReplicating(string role)
    {
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync("db.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)')", replicas: 1, Converge);
        cluster.App("for i in range(50): db.execute('INSERT INTO t(v) VALUES (?)', ('before %d' % i,))");
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);

        var (database, first) = role == "primary" ? (cluster.PrimaryDb, cluster.Primary!) : (cluster.ReplicaDb(0), cluster.Replicas[0]!);
        var stateDirectory = PositionFile.StateDirectory(database);
        var before = await SettledStateFilesAsync(stateDirectory);
        string SecondConfig(string name)
        {
            var directory = Path.Combine(cluster.Root, name);
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "litecast.yml"), role == "primary"
                ? $"""
                  addr: "127.0.0.1:{Ports.Free()}"
                  dbs:
                    - path: {database}
                  cluster:
                    host: 127.0.0.1
                    port: {Ports.Free()}
                  """
                : $"""
                  addr: "127.0.0.1:{Ports.Free()}"
                  dbs:
                    - path: {database}
                      upstream:
                        url: {cluster.PrimaryUrl}
                        path: {cluster.PrimaryDb}
                  """);
            return directory;
        }
        var secondDirectory = SecondConfig("second");

        var (code, text) = LitecastProcess.Run(secondDirectory, cluster.Environment(), "replicate");
        output.WriteLine(text);

        Assert.Equal(1, code);
        Assert.Contains($"cannot start: {database} is already in use by another litecast (pid {first.Id}), " +
                        $"which holds {Path.Combine(stateDirectory, DatabaseLock.FileName)}", text);
        Assert.DoesNotContain("Unhandled exception", text);
        Assert.DoesNotContain("joined the cluster", text);
        Assert.Equal(before, StateFiles(stateDirectory));

        // The first goes on replicating: the rows written now are read back from the replica's file.
        cluster.App("for i in range(50): db.execute('INSERT INTO t(v) VALUES (?)', ('after %d' % i,))");
        await cluster.WaitForReplicasAsync(await cluster.SyncAsync(), Converge);
        Assert.Equal("100", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT count(*) FROM t"));
        Assert.Equal("after 49", EndToEndCluster.ReadOnlyQuery(cluster.ReplicaDb(0), "SELECT v FROM t ORDER BY id DESC LIMIT 1"));
        Assert.DoesNotContain("local write", cluster.Replicas[0]!.Output);

        // The kernel releases the lock of a killed litecast: the second then starts.
        first.Kill();
        using var second = LitecastProcess.Start(secondDirectory, cluster.Environment(), "replicate");
        var clock = Stopwatch.StartNew();
        while (!second.Output.Contains("joined the cluster"))
        {
            Assert.False(second.HasExited, $"the second litecast exited once the first was killed\n{second.Output}");
            Assert.True(clock.Elapsed < Converge, $"the second litecast never joined once the first was killed\n{second.Output}");
            await Task.Delay(200);
        }
        var (thirdCode, third) = LitecastProcess.Run(SecondConfig("third"), cluster.Environment(), "replicate");
        Assert.Equal(1, thirdCode);
        Assert.Contains($"cannot start: {database} is already in use by another litecast (pid {second.Id})", third);
    }

    /// <summary>The state files once the running node has stopped writing them (it saves its position up to a second
    /// after the last change).</summary>
    private static async Task<List<string>> SettledStateFilesAsync(string directory)
    {
        var files = StateFiles(directory);
        for (var round = 0; round < 10; round++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var again = StateFiles(directory);
            if (again.SequenceEqual(files)) return files;
            files = again;
        }
        throw new TimeoutException($"the state files in {directory} kept changing: {string.Join(", ", files)}");
    }

    /// <summary>Every file under the state directory, with its length and last write: what the second must not touch.</summary>
    private static List<string> StateFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(file => $"{Path.GetRelativePath(directory, file)} {new FileInfo(file).Length} {File.GetLastWriteTimeUtc(file):O}")
            .Order(StringComparer.Ordinal)
            .ToList();
}

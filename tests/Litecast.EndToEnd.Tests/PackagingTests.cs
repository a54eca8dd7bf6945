using System.Diagnostics;
using System.Text.RegularExpressions;
using Litecast.Host.Configuration;

namespace Litecast.EndToEnd.Tests;

public class PackagingTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "cluster.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("cluster.sln not found above the test assembly");
    }

    [Fact]
    public void ComposeFileIsValid()
    {
        var info = new ProcessStartInfo("docker-compose", ["-f", Path.Combine(RepoRoot(), "docker", "compose.yml"), "config"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"docker-compose config failed: {error}");
        foreach (var service in new[] { "primary:", "replica1:", "replica2:" }) Assert.Contains(service, output);
        Assert.Contains("PRIMARY_HOSTNAME: primary", output);

        // The configuration files the services mount are the guide's, and load as such.
        var options = new ConfigLoadOptions { GetEnvironmentVariable = name => name == "PRIMARY_HOSTNAME" ? "primary" : null };
        var primary = ConfigLoader.LoadFile(Path.Combine(RepoRoot(), "docker", "primary.yml"), options);
        Assert.Equal("/data/db", Assert.Single(primary.Dbs).Path);
        Assert.Null(primary.Dbs[0].Upstream);
        var replica = ConfigLoader.LoadFile(Path.Combine(RepoRoot(), "docker", "replica.yml"), options);
        Assert.Equal(new Uri("http://primary:9090"), Assert.Single(replica.Dbs).Upstream!.Url);
    }

    [Fact]
    public void DemoShowsReplicationHappening()
    {
        var dir = Path.Combine(Path.GetTempPath(), "litecast-demo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var (code, output) = LitecastProcess.Run(dir, "demo", "-duration", "12s", "-addr", "127.0.0.1:0");
            Assert.True(code == 0, output);
            // The last view: both replicas healthy at the primary's txid, with rows read from their own files.
            var rows = Regex.Matches(output, @"^(primary|replica1|replica2)\s+(primary|replica)\s+([0-9a-f]{16})\s+(\d+)\s.*\s(\d+)\s+(ok|.+)$", RegexOptions.Multiline);
            var last = rows.TakeLast(3).ToList();
            Assert.True(last.Count == 3, output);
            Assert.All(last, m => Assert.Equal("ok", m.Groups[6].Value));
            Assert.Single(last.Select(m => m.Groups[3].Value).Distinct());
            Assert.All(last, m => Assert.True(long.Parse(m.Groups[5].Value) > 0, m.Value));
            Assert.True(File.Exists(Path.Combine(dir, "litecast-demo", "replica2", "demo.db")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A busy <c>-addr</c> (9090 by default) or a <c>-dir</c> that is a file ended the demo with a stack trace and
    /// exit code 134 (a black-box review): it refuses to start, as <c>replicate</c> does, and writes no database.</summary>
    [Fact]
    public void DemoRefusesABusyAddressAndADirectoryThatIsAFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "litecast-demo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            busy.Start();
            var port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            var (code, output) = LitecastProcess.Run(dir, "demo", "-duration", "5s", "-addr", $"127.0.0.1:{port}");
            Assert.True(code == 1, output);
            Assert.Contains($"litecast: cannot start: -addr: 127.0.0.1:{port} is already in use by another process", output);
            Assert.DoesNotContain("Exception", output);
            Assert.False(Directory.Exists(Path.Combine(dir, "litecast-demo")), "the refused demo created its directory");

            var file = Path.Combine(dir, "a-file");
            File.WriteAllText(file, "not a directory");
            (code, output) = LitecastProcess.Run(dir, "demo", "-duration", "5s", "-addr", "127.0.0.1:0", "-dir", file);
            Assert.True(code == 1, output);
            Assert.Contains($"litecast: cannot start: -dir {file} is a file, not a directory", output);
            Assert.DoesNotContain("Exception", output);
            Assert.Equal("not a directory", File.ReadAllText(file));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

public sealed class ConfigSearchTests
{
    private static ConfigLoadOptions With(HashSet<string> files, Dictionary<string, string>? env = null) => new()
    {
        FileExists = files.Contains,
        GetEnvironmentVariable = n => env is not null && env.TryGetValue(n, out var v) ? v : null,
    };

    [Fact]
    public void ExplicitPathWins()
    {
        var o = With(["/etc/litecast.yml", "litecast.yml", "/x/my.yml"]);
        Assert.Equal("/x/my.yml", ConfigLoader.ResolvePath("/x/my.yml", o));
    }

    [Fact]
    public void MissingExplicitPathIsAnErrorEvenIfDefaultsExist()
    {
        var o = With(["/etc/litecast.yml", "litecast.yml"]);
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.ResolvePath("/x/missing.yml", o));
        Assert.Equal("/x/missing.yml", e.File);
        Assert.Equal("/x/missing.yml: config file not found (from -config): /x/missing.yml", e.Message);
    }

    [Fact]
    public void LocalFileBeforeSystemFile()
    {
        Assert.Equal("litecast.yml", ConfigLoader.ResolvePath(null, With(["/etc/litecast.yml", "litecast.yml"])));
        Assert.Equal("/etc/litecast.yml", ConfigLoader.ResolvePath(null, With(["/etc/litecast.yml"])));
    }

    [Fact]
    public void EnvironmentVariableNamesTheFile()
    {
        var env = new Dictionary<string, string> { ["LITECAST_CONFIG"] = "/cfg/a.yml" };
        Assert.Equal("/cfg/a.yml", ConfigLoader.ResolvePath(null, With(["/cfg/a.yml", "litecast.yml"], env)));
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.ResolvePath(null, With(["litecast.yml"], env)));
        Assert.Contains("$LITECAST_CONFIG", e.Message);
        Assert.Contains("/cfg/a.yml", e.Message);
    }

    [Fact]
    public void NothingFoundListsThePathsTried()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.ResolvePath(null, With([])));
        Assert.Contains("no config file found", e.Message);
        Assert.Contains("litecast.yml", e.Message);
        Assert.Contains(Path.GetFullPath("litecast.yml"), e.Message);
        Assert.Contains("/etc/litecast.yml", e.Message);
        Assert.Contains("-config", e.Message);
    }

    [Fact]
    public void LoadResolvesAndParses()
    {
        string dir = Directory.CreateTempSubdirectory("litecast-search-").FullName;
        try
        {
            string path = Path.Combine(dir, "c.yml");
            File.WriteAllText(path, "dbs:\n  - path: /data/db\n");
            var c = ConfigLoader.Load(path, new ConfigLoadOptions { GetHostName = () => "h" });
            Assert.Equal(path, c.File);
            Assert.Equal("/data/db", c.Dbs[0].Path);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>The README's sentence on the search names the places in the order <see cref="ConfigLoader.ResolvePath"/>
    /// tries them.</summary>
    [Fact]
    public void TheReadmeSaysTheSearchOrder()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "cluster.sln"))) root = root.Parent!;
        var readme = File.ReadAllText(Path.Combine(root.FullName, "README.md")).ReplaceLineEndings(" ");
        int start = readme.IndexOf("Without `-config`, Litecast reads", StringComparison.Ordinal);
        Assert.True(start >= 0);
        var sentence = readme[start..readme.IndexOf(". ", start, StringComparison.Ordinal)];
        int env = sentence.IndexOf($"${ConfigLoader.ConfigEnvironmentVariable}", StringComparison.Ordinal);
        int local = sentence.IndexOf($"./{ConfigLoader.LocalConfigPath}", StringComparison.Ordinal);
        int system = sentence.IndexOf(ConfigLoader.SystemConfigPath, StringComparison.Ordinal);
        Assert.True(env >= 0 && env < local && local < system, sentence);
    }
}

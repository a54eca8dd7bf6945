using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

/// <summary>Writes YAML to a temp directory and loads it with a fake environment.</summary>
internal sealed class TempConfig : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("litecast-config-test-").FullName;

    public Dictionary<string, string> Env { get; } = new();

    public ConfigLoadOptions Options => new()
    {
        GetEnvironmentVariable = name => Env.TryGetValue(name, out var v) ? v : null,
        GetHostName = () => "testhost",
        BaseDirectory = Dir,
        HomeDirectory = "/home/tester",
    };

    public string Write(string yaml, string name = "litecast.yml")
    {
        string path = Path.Combine(Dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    public LitecastConfig Load(string yaml) => ConfigLoader.LoadFile(Write(yaml), Options);

    public ConfigException Fail(string yaml)
    {
        string path = Write(yaml);
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile(path, Options));
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ":", e.Message);
        return e;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

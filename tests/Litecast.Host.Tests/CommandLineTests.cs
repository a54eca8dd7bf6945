using Litecast.Host.Cli;
using Litecast.Host.Configuration;

namespace Litecast.Host.Tests;

public sealed class CommandLineTests
{
    private static CliCommand P(params string[] args) => CommandLine.Parse(args);

    private static CliUsageError Err(params string[] args)
    {
        var e = Assert.IsType<CliUsageError>(P(args));
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("Usage", e.Usage);
        return e;
    }

    [Fact]
    public void ReplicateDefaultsToSearching() =>
        Assert.Equal(new ReplicateCommand(null, false), P("replicate"));

    [Theory]
    [InlineData("-config", "/etc/x.yml")]
    [InlineData("--config", "/etc/x.yml")]
    [InlineData("-config=/etc/x.yml")]
    [InlineData("--config=/etc/x.yml")]
    public void ReplicateConfigFlagForms(params string[] flag)
    {
        string[] args = ["replicate", .. flag];
        Assert.Equal(new ReplicateCommand("/etc/x.yml"), P(args));
    }

    [Fact]
    public void ReplicateNoExpandEnv()
    {
        Assert.Equal(new ReplicateCommand("c.yml", true), P("replicate", "-no-expand-env", "-config", "c.yml"));
        Assert.Equal(new ReplicateCommand(null, false), P("replicate", "--no-expand-env=false"));
        Assert.Contains("invalid boolean", Err("replicate", "-no-expand-env=maybe").Message);
    }

    [Fact]
    public void StatusUrl()
    {
        Assert.Equal(new StatusCommand(new Uri("http://localhost:9090")), P("status"));
        Assert.Equal(new Uri("http://primary:9191"), Assert.IsType<StatusCommand>(P("status", "-url", "http://primary:9191")).Url);
        Assert.Equal(new Uri("https://p"), Assert.IsType<StatusCommand>(P("status", "--url=https://p")).Url);
        Assert.Equal(new Uri("http://localhost:9292"), Assert.IsType<StatusCommand>(P("status", "-url", ":9292")).Url);
        Assert.Equal(new Uri("http://h:1"), Assert.IsType<StatusCommand>(P("status", "-url", "h:1")).Url);
        Assert.Contains("invalid -url 'ftp://x'", Err("status", "-url", "ftp://x").Message);
        Assert.Contains("invalid -url 'nonsense'", Err("status", "-url", "nonsense").Message);
    }

    [Fact]
    public void Demo()
    {
        Assert.Equal(new DemoCommand("litecast-demo", new HttpAddress(null, 9090)), P("demo"));
        Assert.Equal(new DemoCommand("/tmp/d", new HttpAddress("127.0.0.1", 9999)), P("demo", "-dir", "/tmp/d", "--addr", "127.0.0.1:9999"));
        Assert.Contains("-addr", Err("demo", "-addr", "9090").Message);
        Assert.Contains("out of range", Err("demo", "-addr", ":123456").Message);
        Assert.Contains("-dir needs", Err("demo", "-dir=").Message);
    }

    [Fact]
    public void VersionAndHelp()
    {
        Assert.IsType<VersionCommand>(P("version"));
        Assert.Equal(new HelpCommand(), P("help"));
        Assert.Equal(new HelpCommand(), P("-h"));
        Assert.Equal(new HelpCommand(), P("--help"));
        Assert.Equal(new HelpCommand("replicate"), P("help", "replicate"));
        Assert.Equal(new HelpCommand("replicate"), P("replicate", "-h"));
        Assert.Equal(new HelpCommand("status"), P("status", "--help"));
        Assert.Equal(new HelpCommand("demo"), P("demo", "-dir", "x", "-help"));
        foreach (var topic in new[] { "replicate", "status", "demo", "version", "help" })
            Assert.StartsWith($"Usage: litecast {topic}", CommandLine.CommandUsage[topic]);
    }

    [Fact]
    public void UnknownCommandNamesItWithTheGeneralUsage()
    {
        var e = Err("replicat");
        Assert.Equal("unknown command 'replicat'", e.Message);
        Assert.Equal(CommandLine.Usage, e.Usage);
        Assert.Contains("replicate", e.Usage);
        Assert.Contains("status", e.Usage);
        Assert.Contains("demo", e.Usage);
    }

    [Fact]
    public void UnknownFlagNamesItWithTheCommandsUsage()
    {
        var e = Err("replicate", "-confg", "x.yml");
        Assert.Contains("flag provided but not defined: -confg", e.Message);
        Assert.Contains("-config", e.Message);
        Assert.Equal(CommandLine.CommandUsage["replicate"], e.Usage);

        Assert.Contains("-url", Err("status", "--verbose").Message);
        Assert.Contains("takes no flags", Err("version", "-v").Message);
    }

    /// <summary>Go's flag package takes one or two dashes; with more, or no name after them, the flag is named as given.</summary>
    [Fact]
    public void BadFlagSyntaxNamesTheFlagAsGiven()
    {
        var e = Err("status", "---url", "x");
        Assert.Equal("bad flag syntax: ---url", e.Message);
        Assert.Equal(CommandLine.CommandUsage["status"], e.Usage);
        Assert.Equal("bad flag syntax: ---url=x", Err("status", "---url=x").Message);
        Assert.Equal("bad flag syntax: -=x", Err("replicate", "-=x").Message);
    }

    [Fact]
    public void OtherErrors()
    {
        Assert.Equal("no command given", Err().Message);
        Assert.Contains("flag provided before a command: -config", Err("-config", "x", "replicate").Message);
        Assert.Contains("flag needs an argument: -config", Err("replicate", "-config").Message);
        Assert.Contains("unexpected argument 'extra'", Err("replicate", "extra").Message);
        Assert.Contains("unexpected argument 'x'", Err("status", "--", "x").Message);
        Assert.Contains("unknown help topic 'nope'", Err("help", "nope").Message);
        Assert.Contains("too many arguments", Err("help", "a", "b").Message);
        Assert.Contains("-config needs a non-empty path", Err("replicate", "-config=").Message);
    }

    /// <summary>Go's flag package sets a flag at each occurrence, so the last value wins; each one is still checked.
    /// (An earlier version refused a repeated flag; the README names Go's flag package as the contract.)</summary>
    [Fact]
    public void AFlagGivenTwiceTakesItsLastValueAsInGo()
    {
        Assert.Equal(new ReplicateCommand("b"), P("replicate", "-config", "a", "--config=b"));
        Assert.Equal(new Uri("http://b:9090"), Assert.IsType<StatusCommand>(P("status", "-url", "http://a:9090", "-url", "http://b:9090")).Url);
        Assert.Equal(new DemoCommand("D", new HttpAddress(null, 9191), TimeSpan.FromSeconds(2)),
            P("demo", "-dir", "X", "-dir=D", "-addr", ":9090", "-addr", ":9191", "-duration", "1s", "-duration", "2s"));
        Assert.Contains("invalid -url 'nope'", Err("status", "-url", "nope", "-url", "http://b:9090").Message);
        Assert.Contains("flag needs an argument: -config", Err("replicate", "-config", "a", "-config").Message);
        Assert.Contains("unexpected argument 'b'", Err("replicate", "-config", "a", "b").Message);
    }

    [Fact]
    public void ReadmeSpellings()
    {
        Assert.Equal(new ReplicateCommand("x.yml"), P("replicate", "-config", "x.yml"));
        Assert.Equal(new Uri("http://p:9090"), Assert.IsType<StatusCommand>(P("status", "-url", "http://p:9090")).Url);
        Assert.Equal(
            new DemoCommand("D", new HttpAddress(null, 9090), TimeSpan.FromSeconds(30)),
            P("demo", "-dir", "D", "-addr", ":9090", "-duration", "30s"));
        Assert.Equal(
            new DemoCommand("D", new HttpAddress(null, 9191), TimeSpan.FromSeconds(90)),
            P("demo", "--dir=D", "-addr=:9191", "--duration", "1m30s"));
    }

    [Fact]
    public void EmptyValuesAfterEqualsAreValuesNotMissing()
    {
        Assert.Contains("invalid -url ''", Err("status", "-url=").Message);
        Assert.Contains("-duration:", Err("demo", "--duration=").Message);
        Assert.Contains("-config needs a non-empty path", Err("replicate", "--config=").Message);
        Assert.Contains("-config needs a non-empty path", Err("replicate", "-config", "").Message);
        Assert.Contains("-duration: must be positive ('0')", Err("demo", "-duration", "0").Message);
        Assert.Equal("-duration: invalid duration '' (expected e.g. 500ms, 5s, 1m30s)", Err("demo", "--duration=").Message);
    }

    [Fact]
    public void AnInvalidDurationIsQuotedOnce()
    {
        var e = Err("demo", "-duration", "abc");
        Assert.StartsWith("-duration: invalid duration 'abc'", e.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, "'abc'"));
    }

    [Fact]
    public void BooleanFlagTakesAValueOnlyAfterEquals()
    {
        Assert.Equal(new ReplicateCommand(null, true), P("replicate", "-no-expand-env=true"));
        Assert.Equal(new ReplicateCommand(null, true), P("replicate", "--no-expand-env"));
        Assert.Contains("unexpected argument 'true'", Err("replicate", "-no-expand-env", "true").Message);
        Assert.Contains("invalid boolean value 'maybe' for -no-expand-env", Err("replicate", "--no-expand-env=maybe").Message);
        Assert.Contains("invalid boolean value '' for -no-expand-env", Err("replicate", "-no-expand-env=").Message);
        Assert.Equal(new ReplicateCommand(null, true), P("replicate", "-no-expand-env", "--no-expand-env"));
    }

    [Fact]
    public void AValueFlagTakesTheNextArgumentWhateverItLooksLike()
    {
        Assert.Equal(new ReplicateCommand("-h"), P("replicate", "-config", "-h"));
        Assert.Equal(new ReplicateCommand("-x"), P("replicate", "--config", "-x"));
        Assert.Equal(new ReplicateCommand("a=b"), P("replicate", "-config=a=b"));
        Assert.Contains("-duration: duration '-5s' must not be negative", Err("demo", "-duration", "-5s").Message);
        Assert.Contains("flag needs an argument: -config", Err("replicate", "-config", "a", "-config").Message);
    }

    [Fact]
    public void HelpFlagWinsOverOtherProblems()
    {
        Assert.Equal(new HelpCommand("demo"), P("demo", "-bogus", "-h"));
        Assert.Equal(new HelpCommand("status"), P("status", "extra", "--help"));
        Assert.Equal(new HelpCommand("help"), P("help", "-h"));
        Assert.Equal(new HelpCommand(), P("-help", "replicate"));
    }

    [Fact]
    public void NoSystemCommandLineExtrasLeakThrough()
    {
        Assert.Contains("flag provided before a command: --version", Err("--version").Message);
        Assert.Contains("unknown command '[suggest]'", Err("[suggest]", "replicate").Message);
        Assert.Contains("unexpected argument '@args.rsp'", Err("replicate", "@args.rsp").Message);
        Assert.Contains("flag provided but not defined: -verbose", Err("status", "--verbose=3").Message);
        Assert.Contains("flag provided but not defined: -x (help: it takes no flags)", Err("help", "-x").Message);
        Assert.Contains("unexpected argument '-x'", Err("status", "--", "-x").Message);
        Assert.Contains("too many arguments: a b", Err("help", "a", "b").Message);
    }

    [Fact]
    public void ProgramMapsCommandsToExitCodes()
    {
        Assert.Equal(0, Program.Main(["version"]));
        Assert.Equal(0, Program.Main(["help", "status"]));
        Assert.Equal(2, Program.Main(["bogus"]));
        Assert.Equal(2, Program.Main(["replicate", "-nope"]));
        Assert.Equal(Program.ConfigErrorExitCode, Program.Main(["replicate", "-config", "/nonexistent/litecast.yml"]));
    }
}

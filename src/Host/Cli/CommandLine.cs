using Litecast.Host.Configuration;

namespace Litecast.Host.Cli;

/// <summary>A parsed command line; <see cref="CommandLine.Parse"/> returns one of the derived records.</summary>
public abstract record CliCommand;

/// <summary><c>litecast replicate [-config PATH] [-no-expand-env]</c>: run the node.</summary>
/// <param name="ConfigPath">The <c>-config</c> value, or null to search (<see cref="ConfigLoader.ResolvePath"/>).</param>
/// <param name="NoExpandEnv">Litestream's <c>-no-expand-env</c>: do not expand <c>$VAR</c> in the config.</param>
public sealed record ReplicateCommand(string? ConfigPath, bool NoExpandEnv = false) : CliCommand;

/// <summary><c>litecast status [-url URL]</c>: print a node's databases, roles, positions and lag.</summary>
/// <param name="Url">The node's HTTP admin endpoint (default <see cref="CommandLine.DefaultStatusUrl"/>).</param>
public sealed record StatusCommand(Uri Url) : CliCommand;

/// <summary><c>litecast demo [-dir PATH] [-addr ADDR]</c>: a primary and two replicas on this machine.</summary>
/// <param name="Dir">Directory for the demo's databases (default <see cref="CommandLine.DefaultDemoDir"/>), reused or created.</param>
/// <param name="Addr">The admin endpoint (default <c>:9090</c>).</param>
/// <param name="Duration">How long to run; null runs until Ctrl-C.</param>
public sealed record DemoCommand(string Dir, HttpAddress Addr, TimeSpan? Duration = null) : CliCommand;

/// <summary><c>litecast version</c>.</summary>
public sealed record VersionCommand : CliCommand;

/// <summary><c>litecast help [COMMAND]</c>, <c>-h</c>, <c>--help</c>, or <c>COMMAND -h</c>.</summary>
/// <param name="Topic">The command asked about, or null for the general usage.</param>
public sealed record HelpCommand(string? Topic = null) : CliCommand;

/// <summary>The command line was wrong: print <see cref="Message"/> and <see cref="Usage"/> to stderr and exit with <see cref="ExitCode"/> (2).</summary>
public sealed record CliUsageError(string Message, string Usage) : CliCommand
{
    /// <summary>The process exit code for usage errors, as Go's flag package uses.</summary>
    public int ExitCode => CommandLine.UsageExitCode;
}

/// <summary>
/// Litestream-style command-line parsing: <c>litecast COMMAND [flags]</c>, flags written <c>-name value</c>,
/// <c>-name=value</c>, <c>--name value</c> or <c>--name=value</c>. Parsing only; <c>Program</c> executes.
/// </summary>
public static class CommandLine
{
    /// <summary>Exit code for a bad command line.</summary>
    public const int UsageExitCode = 2;

    /// <summary>Default <c>status -url</c>.</summary>
    public const string DefaultStatusUrl = "http://localhost:9090";

    /// <summary>Default <c>demo -dir</c>.</summary>
    public const string DefaultDemoDir = "litecast-demo";

    /// <summary>Default <c>demo -addr</c>.</summary>
    public const string DefaultDemoAddr = ":9090";

    /// <summary>The general usage text.</summary>
    public const string Usage = """
        litecast is live read replication for SQLite: one primary, read-only replicas
        that receive each commit within milliseconds.

        Usage:

            litecast <command> [arguments]

        The commands are:

            replicate    run this node: replicate the databases in the config file
            status       show a node's databases, roles, positions and lag
            demo         run a primary and two replicas on this machine, with a writer
            version      print the version
            help         show this help, or a command's: litecast help <command>

        """;

    /// <summary>Per-command usage texts.</summary>
    public static readonly IReadOnlyDictionary<string, string> CommandUsage = new Dictionary<string, string>
    {
        ["replicate"] = $"""
            Usage: litecast replicate [-config PATH] [-no-expand-env]

            Runs this node: tails primary databases and applies replica databases as
            configured. Stops cleanly on Ctrl-C or SIGTERM.

            Flags:
              -config PATH       config file; default: ${ConfigLoader.ConfigEnvironmentVariable}, else ./{ConfigLoader.LocalConfigPath}, else {ConfigLoader.SystemConfigPath}
              -no-expand-env     do not expand $VAR and ${"{"}VAR{"}"} in the config file

            """,
        ["status"] = $"""
            Usage: litecast status [-url URL]

            Prints a node's databases, roles, positions and lag.

            Flags:
              -url URL           the node's admin endpoint (default {DefaultStatusUrl})

            """,
        ["demo"] = $"""
            Usage: litecast demo [-dir PATH] [-addr ADDR] [-duration DURATION]

            Runs a primary and two replicas on this machine with a built-in writer, and
            shows replication live.

            Flags:
              -dir PATH          directory for the demo databases (default ./{DefaultDemoDir})
              -addr ADDR         admin endpoint address (default {DefaultDemoAddr})
              -duration DURATION stop after this long (e.g. 30s; default: run until Ctrl-C)

            """,
        ["version"] = """
            Usage: litecast version

            Prints the version.

            """,
        ["help"] = """
            Usage: litecast help [command]

            Shows the general usage, or a command's.

            """,
    };

    private static readonly Dictionary<string, (string Name, bool TakesValue)[]> Flags = new()
    {
        ["replicate"] = [("config", true), ("no-expand-env", false)],
        ["status"] = [("url", true)],
        ["demo"] = [("dir", true), ("addr", true), ("duration", true)],
        ["version"] = [],
        ["help"] = [],
    };

    /// <summary>Parses <paramref name="args"/> (without the program name).</summary>
    public static CliCommand Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
            return new CliUsageError("no command given", Usage);
        string command = args[0];
        if (command is "-h" or "-help" or "--help")
            return new HelpCommand();
        if (command.StartsWith('-'))
            return new CliUsageError($"flag provided before a command: {command}", Usage);
        if (!Flags.TryGetValue(command, out var allowed))
            return new CliUsageError($"unknown command '{command}'", Usage);
        string usage = CommandUsage[command];

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var positionals = new List<string>();
        for (int i = 1; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg.Length < 2 || arg[0] != '-' || arg == "--")
            {
                if (arg == "--")
                {
                    positionals.AddRange(args.Skip(i + 1));
                    break;
                }
                positionals.Add(arg);
                continue;
            }
            string body = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            string name = body;
            string? value = null;
            int eq = body.IndexOf('=');
            if (eq >= 0)
            {
                name = body[..eq];
                value = body[(eq + 1)..];
            }
            if (name is "h" or "help")
                return new HelpCommand(command);
            var flag = allowed.FirstOrDefault(f => f.Name == name);
            if (flag.Name is null)
            {
                string known = allowed.Length == 0 ? "it takes no flags" : "known: " + string.Join(", ", allowed.Select(f => "-" + f.Name));
                return new CliUsageError($"flag provided but not defined: -{name} ({command}: {known})", usage);
            }
            if (flag.TakesValue && value is null)
            {
                if (i + 1 >= args.Count)
                    return new CliUsageError($"flag needs an argument: -{name}", usage);
                value = args[++i];
            }
            if (!flag.TakesValue && value is not null && !bool.TryParse(value, out _))
                return new CliUsageError($"invalid boolean value '{value}' for -{name}", usage);
            if (values.ContainsKey(name))
                return new CliUsageError($"flag given twice: -{name}", usage);
            values[name] = value ?? "true";
        }

        if (command == "help")
        {
            if (positionals.Count > 1)
                return new CliUsageError($"too many arguments: {string.Join(' ', positionals)}", usage);
            if (positionals.Count == 1 && !CommandUsage.ContainsKey(positionals[0]))
                return new CliUsageError($"unknown help topic '{positionals[0]}'", Usage);
            return new HelpCommand(positionals.FirstOrDefault());
        }
        if (positionals.Count > 0)
            return new CliUsageError($"unexpected argument '{positionals[0]}' for {command}", usage);

        switch (command)
        {
            case "replicate":
                values.TryGetValue("config", out var config);
                if (config is { Length: 0 })
                    return new CliUsageError("-config needs a non-empty path", usage);
                return new ReplicateCommand(config, values.TryGetValue("no-expand-env", out var nx) && bool.Parse(nx));
            case "status":
            {
                string raw = values.GetValueOrDefault("url", DefaultStatusUrl);
                var url = ParseStatusUrl(raw);
                return url is null
                    ? new CliUsageError($"invalid -url '{raw}' (expected e.g. http://host:9090)", usage)
                    : new StatusCommand(url);
            }
            case "demo":
            {
                string dir = values.GetValueOrDefault("dir", DefaultDemoDir);
                if (dir.Length == 0)
                    return new CliUsageError("-dir needs a non-empty path", usage);
                string addrText = values.GetValueOrDefault("addr", DefaultDemoAddr);
                var addr = HttpAddress.TryParse(addrText, out string? err);
                if (addr is null) return new CliUsageError($"-addr: {err}", usage);
                TimeSpan? duration = null;
                if (values.TryGetValue("duration", out var durationText))
                {
                    if (!ValueParsers.TryParseDuration(durationText, out var parsed, out var durationError) || parsed <= TimeSpan.Zero)
                        return new CliUsageError($"-duration: {durationError ?? "must be positive"} ('{durationText}')", usage);
                    duration = parsed;
                }
                return new DemoCommand(dir, addr, duration);
            }
            case "version":
                return new VersionCommand();
            default:
                throw new InvalidOperationException($"unhandled command {command}");
        }
    }

    /// <summary>
    /// Accepts a full URL (<c>http://host:9090</c>), or an <c>addr</c>-style <c>host:port</c> / <c>:port</c>
    /// (then http and, for <c>:port</c>, localhost). Null when neither.
    /// </summary>
    internal static Uri? ParseStatusUrl(string raw)
    {
        string text = raw.Trim();
        if (!text.Contains("://", StringComparison.Ordinal))
        {
            var addr = HttpAddress.TryParse(text, out _);
            if (addr is null) return null;
            text = addr.LocalUrl;
        }
        return Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" && url.Host.Length > 0
            ? url
            : null;
    }
}

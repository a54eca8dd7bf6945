using System.CommandLine;
using System.CommandLine.Parsing;
using Litecast.Host.Configuration;

namespace Litecast.Host.Cli;

/// <summary>A parsed command line; <see cref="CommandLine.Parse"/> returns one of the derived records.</summary>
public abstract record CliCommand;

/// <summary><c>litecast replicate [-config PATH] [-no-expand-env]</c>: run the node.</summary>
/// <param name="ConfigPath">The <c>-config</c> value, or null to search (<see cref="ConfigLoader.ResolvePath"/>).</param>
/// <param name="NoExpandEnv">Litestream's <c>-no-expand-env</c>: do not expand <c>$VAR</c> in the config.</param>
public sealed record ReplicateCommand(string? ConfigPath, bool NoExpandEnv = false) : CliCommand;

/// <summary><c>litecast status [-url URL] [-token TOKEN] [-ca PATH]</c>: print a node's databases, roles, positions and lag.</summary>
/// <param name="Url">The node's HTTP admin endpoint (default <see cref="CommandLine.DefaultStatusUrl"/>).</param>
/// <param name="Token">The bearer token for a node whose <c>auth.protect-reads</c> is on (default <c>$LITECAST_TOKEN</c>).</param>
/// <param name="CaPath">The CA file to check an <c>https://</c> node's certificate against, instead of the system's.</param>
/// <param name="Watch">Keep the view live until Ctrl-C.</param>
public sealed record StatusCommand(Uri Url, string? Token = null, string? CaPath = null, bool Watch = false) : CliCommand
{
    /// <summary>Kept out of logs: a record's generated ToString would print the token.</summary>
    public override string ToString() => $"StatusCommand {{ Url = {Url}, CaPath = {CaPath}, Watch = {Watch} }}";
}

/// <summary><c>litecast resync DB [-url URL] [-token TOKEN] [-ca PATH]</c>: resync a replica now, showing its progress.</summary>
/// <param name="Database">The database's name on that node.</param>
/// <param name="Url">The replica node's admin endpoint.</param>
/// <param name="Token">As for <see cref="StatusCommand"/>: needed whenever the node has <c>auth.token</c>.</param>
/// <param name="CaPath">As for <see cref="StatusCommand"/>.</param>
public sealed record ResyncCommand(string Database, Uri Url, string? Token = null, string? CaPath = null) : CliCommand
{
    /// <summary>Kept out of logs: a record's generated ToString would print the token.</summary>
    public override string ToString() => $"ResyncCommand {{ Database = {Database}, Url = {Url}, CaPath = {CaPath} }}";
}

/// <summary><c>litecast cert ca -out DIR</c>: make a private CA for the cluster.</summary>
/// <param name="Out">The directory for <c>ca.pem</c> and <c>ca-key.pem</c>.</param>
public sealed record CertCaCommand(string Out) : CliCommand;

/// <summary><c>litecast cert node -ca PATH -name NAME [-ip IP,...] [-dns NAME,...] -out DIR</c>: a node certificate.</summary>
/// <param name="Ca">The CA's directory (<c>cert ca -out</c>) or its <c>ca.pem</c>, with <c>ca-key.pem</c> beside it.</param>
/// <param name="Name">The node's name: the certificate's subject and file names.</param>
/// <param name="Ips">IP addresses the certificate is valid for.</param>
/// <param name="DnsNames">DNS names the certificate is valid for.</param>
/// <param name="Out">The directory for <c>NAME.pem</c>, <c>NAME-key.pem</c> and a copy of <c>ca.pem</c>.</param>
public sealed record CertNodeCommand(string Ca, string Name, IReadOnlyList<System.Net.IPAddress> Ips, IReadOnlyList<string> DnsNames, string Out)
    : CliCommand;

/// <summary><c>litecast demo [-dir PATH] [-addr ADDR]</c>: a primary and two replicas on this machine.</summary>
/// <param name="Dir">Directory for the demo's databases (default <see cref="CommandLine.DefaultDemoDir"/>), reused or created.</param>
/// <param name="Addr">The admin endpoint (default <c>:9090</c>).</param>
/// <param name="Duration">How long to run; null runs until Ctrl-C.</param>
/// <param name="Tls">Run the demo cluster with mutual TLS, HTTPS and an admin token (certificates under <paramref name="Dir"/>).</param>
public sealed record DemoCommand(string Dir, HttpAddress Addr, TimeSpan? Duration = null, bool Tls = false) : CliCommand;

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
/// The commands and flags are System.CommandLine's; the usage texts, the error messages (Go's flag package's) and
/// exit code 2 are Litestream's, so its generated help and error output are not used.
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

    /// <summary>Where <c>status</c> takes its token from when <c>-token</c> is not given.</summary>
    public const string TokenEnvironmentVariable = "LITECAST_TOKEN";

    /// <summary>The general usage text.</summary>
    public const string Usage = """
        litecast is live read replication for SQLite: one primary, read-only replicas
        that receive each commit within milliseconds.

        Usage:

            litecast <command> [arguments]

        The commands are:

            replicate    run this node: replicate the databases in the config file
            status       show a node's databases, roles, positions and lag (-watch: live)
            resync       resync a replica's database now, showing its progress
            demo         run a primary and two replicas on this machine, with a writer
            cert         make a private CA and node certificates for tls (cert ca, cert node)
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
            Usage: litecast status [-url URL] [-token TOKEN] [-ca PATH] [-watch]

            Prints a node's databases, roles, positions and lag, and the progress of a
            resync in flight. The node's page in a browser (the same URL) shows it live.

            Flags:
              -url URL           the node's admin endpoint (default {DefaultStatusUrl})
              -watch             keep the view live (redrawn twice a second) until Ctrl-C
              -token TOKEN       the node's auth.token, needed with auth.protect-reads (default ${TokenEnvironmentVariable})
              -ca PATH           check an https:// node's certificate against this CA (tls.ca, or the
                                 directory cert ca wrote) instead of the system's

            """,
        ["resync"] = $"""
            Usage: litecast resync DB [-url URL] [-token TOKEN] [-ca PATH]

            Makes a replica resync database DB from its primary now (a fresh copy, only
            differing pages sent), and shows its progress until it is done. Exits 0
            once the replica holds the copy, 1 if the node refuses or stops answering.

            Flags:
              -url URL           the replica node's admin endpoint (default {DefaultStatusUrl})
              -token TOKEN       the node's auth.token (default ${TokenEnvironmentVariable})
              -ca PATH           check an https:// node's certificate against this CA (its ca.pem or
                                 its directory)

            """,
        ["cert"] = """
            Usage: litecast cert ca -out DIR
                   litecast cert node -ca PATH -name NAME [-ip IP,...] [-dns NAME,...] -out DIR

            Makes the files tls needs, for trying it without openssl: a private CA
            (DIR/ca.pem, DIR/ca-key.pem), and certificates it signs for each node
            (DIR/NAME.pem, DIR/NAME-key.pem, and a copy of ca.pem). EC P-256 keys;
            node certificates serve as both server and client, for 825 days. Existing
            files are never overwritten. With your own PKI, skip this: any PEM
            certificate and key chaining to your CA work.

            Flags:
              -out DIR           the directory to write to
              -ca PATH           (node) the CA's directory, as made by cert ca, or its ca.pem
                                 (ca-key.pem beside it)
              -name NAME         (node) the node's name: subject and file names
              -ip IP,...         (node) IP addresses the certificate is valid for (repeatable)
              -dns NAME,...      (node) DNS names it is valid for (repeatable; default: NAME
                                 when neither -ip nor -dns is given)

            """,
        ["demo"] = $"""
            Usage: litecast demo [-dir PATH] [-addr ADDR] [-duration DURATION] [-tls]

            Runs a primary and two replicas on this machine with a built-in writer, and
            shows replication live.

            Flags:
              -dir PATH          directory for the demo databases (default ./{DefaultDemoDir})
              -addr ADDR         admin endpoint address (default {DefaultDemoAddr})
              -duration DURATION stop after this long (e.g. 30s; default: run until Ctrl-C)
              -tls               mutual TLS between the nodes, HTTPS and an admin token
                                 (certificates and token under the demo directory)

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

    // Go's flag names (-config) with a double-dash alias each (--config). System.CommandLine also reads
    // "-name=value" (and "-name:value") itself; RewriteGoForms covers where its reading differs from Go's.

    // Recursive: every command takes it. The root's own -h is not reached (Parse answers a leading -h itself).
    private static readonly Option<bool> Help = new("-h", "-help", "--help") { Arity = ArgumentArity.Zero, Recursive = true };

    private static readonly Option<string?> Config = new("-config", "--config")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-config needs a non-empty path"),
    };

    // No argument, as in Go: "-no-expand-env false" is the flag and a stray argument; "=false" is rewritten.
    private static readonly Option<bool> NoExpandEnv = new("-no-expand-env", "--no-expand-env") { Arity = ArgumentArity.Zero };

    private static readonly Option<Uri> Url = new("-url", "--url")
    {
        Arity = ArgumentArity.OneOrMore,
        DefaultValueFactory = _ => new Uri(DefaultStatusUrl),
        CustomParser = result => Last(result, raw =>
        {
            var url = ParseStatusUrl(raw);
            if (url is null) result.AddError($"invalid -url '{raw}' (expected e.g. http://host:9090)");
            return url;
        }),
    };

    private static readonly Option<string> Dir = new("-dir", "--dir")
    {
        DefaultValueFactory = _ => DefaultDemoDir,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-dir needs a non-empty path"),
    };

    private static readonly Option<HttpAddress> Addr = new("-addr", "--addr")
    {
        Arity = ArgumentArity.OneOrMore,
        DefaultValueFactory = _ => HttpAddress.TryParse(DefaultDemoAddr, out string? _)!,
        CustomParser = result => Last(result, text =>
        {
            var addr = HttpAddress.TryParse(text, out string? error);
            if (addr is null) result.AddError($"-addr: {error}");
            return addr;
        }),
    };

    // Absent: null, run until Ctrl-C.
    private static readonly Option<TimeSpan?> Duration = new("-duration", "--duration")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => Last(result, text =>
        {
            if (ValueParsers.TryParseDuration(text, out var duration, out string? error) && duration > TimeSpan.Zero)
                return duration;
            // The parser's error already quotes the value.
            result.AddError(error is null ? $"-duration: must be positive ('{text}')" : $"-duration: {error}");
            return (TimeSpan?)null;
        }),
    };

    private static readonly Option<string?> Token = new("-token", "--token")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-token needs a non-empty value"),
    };

    private static readonly Option<string?> Ca = new("-ca", "--ca")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-ca needs a non-empty path"),
    };

    private static readonly Option<bool> Tls = new("-tls", "--tls") { Arity = ArgumentArity.Zero };

    private static readonly Option<bool> Watch = new("-watch", "--watch") { Arity = ArgumentArity.Zero };

    // The database to resync; ZeroOrMore so that a missing or extra one reaches Parse, which words the error.
    private static readonly Argument<string[]> ResyncDatabase = new("db") { Arity = ArgumentArity.ZeroOrMore };

    private static readonly Option<string?> Out = new("-out", "--out")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-out needs a non-empty path"),
    };

    private static readonly Option<string?> Name = new("-name", "--name")
    {
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => NonEmpty(result, "-name needs a non-empty value"),
    };

    // Repeatable, and each value a comma-separated list: "-ip 10.0.0.1,10.0.0.2" and "-ip 10.0.0.1 -ip 10.0.0.2".
    private static readonly Option<System.Net.IPAddress[]> Ips = new("-ip", "--ip")
    {
        Arity = ArgumentArity.OneOrMore,
        DefaultValueFactory = _ => [],
        CustomParser = result =>
        {
            var ips = new List<System.Net.IPAddress>();
            foreach (var item in ListItems(result))
            {
                if (System.Net.IPAddress.TryParse(item, out var ip)) ips.Add(ip);
                else result.AddError($"-ip: '{item}' is not an IP address");
            }
            return ips.ToArray();
        },
    };

    private static readonly Option<string[]> Dns = new("-dns", "--dns")
    {
        Arity = ArgumentArity.OneOrMore,
        DefaultValueFactory = _ => [],
        CustomParser = result =>
        {
            var names = ListItems(result).ToArray();
            foreach (var name in names.Where(n => !IsDnsName(n)))
                result.AddError($"-dns: '{name}' is not a DNS name");
            return names;
        },
    };

    // "cert ca" or "cert node"; ZeroOrMore so that a missing or extra kind reaches Parse, which words the error.
    private static readonly Argument<string[]> CertKind = new("kind") { Arity = ArgumentArity.ZeroOrMore };

    // ZeroOrMore so that "help a b" reaches Parse, which words the error.
    private static readonly Argument<string[]> HelpTopics = new("command") { Arity = ArgumentArity.ZeroOrMore };

    private static readonly RootCommand Root = CreateRoot();

    // No "-abc" bundles and no "@file" response files: Go's flag package has neither, and "@x" stays an argument.
    private static readonly ParserConfiguration GoLikeParsing = new() { EnablePosixBundling = false, ResponseFileTokenReplacer = null };

    private static RootCommand CreateRoot()
    {
        var root = new RootCommand("litecast")
        {
            new Command("replicate") { Config, NoExpandEnv },
            new Command("status") { Url, Token, Ca, Watch },
            new Command("resync") { ResyncDatabase, Url, Token, Ca },
            new Command("demo") { Dir, Addr, Duration, Tls },
            new Command("cert") { CertKind, Out, Ca, Name, Ips, Dns },
            new Command("version"),
            new Command("help") { HelpTopics },
        };
        // Without its --help and --version options (the usage texts above and the version command replace them) and
        // its [suggest] directive, which would otherwise read "litecast [suggest]" as something other than a command.
        root.Options.Clear();
        root.Directives.Clear();
        root.Options.Add(Help);
        return root;
    }

    /// <summary>Parses <paramref name="args"/> (without the program name).</summary>
    public static CliCommand Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
            return new CliUsageError("no command given", Usage);
        string first = args[0];
        var command = Root.Subcommands.FirstOrDefault(c => c.Name == first);
        if (command is not null)
            return ParseCommand(command, args);
        if (first == Help.Name || Help.Aliases.Contains(first))
            return new HelpCommand();
        return new CliUsageError(first.StartsWith('-') ? $"flag provided before a command: {first}" : $"unknown command '{first}'", Usage);
    }

    /// <summary>
    /// Parses <c>COMMAND [flags]</c> with System.CommandLine, then reports the first problem found in this order, in
    /// Go's flag package's words: a help flag wins over every error; then an unknown flag, a boolean flag's invalid
    /// value, a flag without its value, a stray argument, and last a value its option rejected. A flag given twice takes
    /// its last value, as in Go.
    /// </summary>
    private static CliCommand ParseCommand(Command command, IReadOnlyList<string> args)
    {
        string usage = CommandUsage[command.Name];
        var (goArgs, invalidBoolean) = RewriteGoForms(command, args);
        var result = Root.Parse(goArgs, GoLikeParsing);

        if (result.GetValue(Help))
            return new HelpCommand(command.Name);

        // The tokens System.CommandLine did not take (for help: its topics). They come in order, so the ones after
        // "--" are the last; those are arguments even when they start with '-'.
        IReadOnlyList<string> positionals = command.Name switch
        {
            "help" => result.GetValue(HelpTopics)!,
            "cert" => result.GetValue(CertKind)!.Concat(result.UnmatchedTokens).ToList(),
            "resync" => result.GetValue(ResyncDatabase)!.Concat(result.UnmatchedTokens).ToList(),
            _ => result.UnmatchedTokens,
        };
        int doubleDash = result.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        int afterDoubleDash = doubleDash < 0 ? 0 : result.Tokens.Count - 1 - doubleDash;
        string? unknownFlag = positionals.SkipLast(afterDoubleDash).FirstOrDefault(p => p.Length >= 2 && p[0] == '-');
        if (unknownFlag is not null)
            return UnknownFlag(command, unknownFlag);
        if (invalidBoolean is not null)
            return new CliUsageError(invalidBoolean, usage);

        // System.CommandLine words these its own way ("Required argument missing", "expects a single argument").
        foreach (var option in command.Options)
        {
            if (result.GetResult(option) is not { Implicit: false } given)
                continue;
            if (given.Tokens.Count < given.IdentifierTokenCount * option.Arity.MinimumNumberOfValues)
                return new CliUsageError($"flag needs an argument: {option.Name}", usage);
        }

        if (command.Name == "help")
        {
            if (positionals.Count > 1)
                return new CliUsageError($"too many arguments: {string.Join(' ', positionals)}", usage);
            if (positionals.Count == 1 && !CommandUsage.ContainsKey(positionals[0]))
                return new CliUsageError($"unknown help topic '{positionals[0]}'", Usage);
            return new HelpCommand(positionals.FirstOrDefault());
        }
        if (command.Name == "cert")
            return Cert(result, positionals, usage);
        if (command.Name == "resync" && positionals.Count != 1)
            return new CliUsageError(positionals.Count == 0 ? "resync needs the database's name: litecast resync DB"
                : $"unexpected argument '{positionals[1]}' for resync", usage);
        if (positionals.Count > 0 && command.Name != "resync")
            return new CliUsageError($"unexpected argument '{positionals[0]}' for {command.Name}", usage);

        // All that can be left: the options' parsers rejecting a value, in our words, in the options' order.
        if (result.Errors.Count > 0)
            return new CliUsageError(result.Errors[0].Message, usage);

        return command.Name switch
        {
            "replicate" => new ReplicateCommand(result.GetValue(Config), result.GetValue(NoExpandEnv)),
            "status" => new StatusCommand(result.GetValue(Url)!, TokenOf(result), result.GetValue(Ca), result.GetValue(Watch)),
            "resync" => new ResyncCommand(positionals[0], result.GetValue(Url)!, TokenOf(result), result.GetValue(Ca)),
            "demo" => new DemoCommand(result.GetValue(Dir)!, result.GetValue(Addr)!, result.GetValue(Duration), result.GetValue(Tls)),
            "version" => new VersionCommand(),
            _ => throw new InvalidOperationException($"unhandled command {command.Name}"),
        };
    }

    /// <summary><c>cert ca</c> or <c>cert node</c>, with the flags each needs and no flag it does not take.</summary>
    private static CliCommand Cert(ParseResult result, IReadOnlyList<string> positionals, string usage)
    {
        if (positionals.Count == 0)
            return new CliUsageError("cert needs a kind: cert ca, or cert node", usage);
        if (positionals.Count > 1)
            return new CliUsageError($"unexpected argument '{positionals[1]}' for cert {positionals[0]}", usage);
        if (result.Errors.Count > 0)
            return new CliUsageError(result.Errors[0].Message, usage);
        string? Given(Option<string?> option) => result.GetValue(option);
        bool IsGiven(Option option) => result.GetResult(option) is { Implicit: false };
        var outDir = Given(Out);
        switch (positionals[0])
        {
            case "ca":
                var foreign = new Option[] { Ca, Name, Ips, Dns }.FirstOrDefault(IsGiven);
                if (foreign is not null) return new CliUsageError($"cert ca takes only -out, not {foreign.Name}", usage);
                return outDir is null ? new CliUsageError("cert ca needs -out DIR", usage) : new CertCaCommand(outDir);
            case "node":
                var missing = new[] { ("-ca", Given(Ca)), ("-name", Given(Name)), ("-out", outDir) }.FirstOrDefault(f => f.Item2 is null);
                if (missing.Item1 is not null) return new CliUsageError($"cert node needs {missing.Item1}", usage);
                var (name, ips, dnsNames) = (Given(Name)!, result.GetValue(Ips)!, result.GetValue(Dns)!);
                // Without -ip and -dns the name is the certificate's DNS name, checked as -dns checks one.
                if (ips.Length + dnsNames.Length == 0 && !IsDnsName(name))
                    return new CliUsageError($"cert node: -name '{name}' is not a DNS name, so it cannot be the certificate's: give -ip or -dns", usage);
                return new CertNodeCommand(Given(Ca)!, name, ips, dnsNames, outDir!);
            default:
                return new CliUsageError($"unknown cert kind '{positionals[0]}' (expected ca or node)", usage);
        }
    }

    private static bool IsDnsName(string name) => Uri.CheckHostName(name) == UriHostNameType.Dns;

    /// <summary>The comma-separated items of a repeatable flag's values, trimmed, empty ones left out.</summary>
    private static IEnumerable<string> ListItems(ArgumentResult result) =>
        result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    /// <summary><c>-token</c>, else <c>$LITECAST_TOKEN</c>, else none.</summary>
    private static string? TokenOf(ParseResult result) =>
        result.GetValue(Token) ?? (Environment.GetEnvironmentVariable(TokenEnvironmentVariable) is { Length: > 0 } token ? token : null);

    /// <summary>Go's message for an unknown flag, naming it as <c>-name</c> however it was written, and the command's
    /// flags; or, as Go, its message for a "flag" that has no name after its one or two dashes (<c>---url</c>, <c>-=x</c>).</summary>
    private static CliUsageError UnknownFlag(Command command, string flag)
    {
        string name = (flag.StartsWith("--", StringComparison.Ordinal) ? flag[2..] : flag[1..]).Split('=')[0];
        if (name.Length == 0 || name[0] == '-')
            return new CliUsageError($"bad flag syntax: {flag}", CommandUsage[command.Name]);
        string known = command.Options.Count == 0 ? "it takes no flags" : "known: " + string.Join(", ", command.Options.Select(o => o.Name));
        return new CliUsageError($"flag provided but not defined: -{name} ({command.Name}: {known})", CommandUsage[command.Name]);
    }

    /// <summary>
    /// Rewrites the two <c>-name=value</c> forms that System.CommandLine reads differently from Go's flag package.
    /// An empty value (<c>-config=</c>) is dropped by its tokenizer, which leaves the flag without a value; it is passed
    /// as <c>-config ""</c>. A boolean flag takes a value only after <c>=</c> in Go (<c>-no-expand-env false</c> is the
    /// flag and a stray argument), so here it takes none, and <c>=true</c> becomes the flag alone, <c>=false</c>
    /// nothing. The other forms, and everything after <c>--</c>, are passed as they are.
    /// </summary>
    /// <returns>The arguments to parse, and the error for the first boolean flag whose value is neither true nor false (left out).</returns>
    private static (List<string> Args, string? InvalidBoolean) RewriteGoForms(Command command, IReadOnlyList<string> args)
    {
        var rewritten = new List<string>(args.Count);
        string? invalidBoolean = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                rewritten.AddRange(args.Skip(i));
                break;
            }
            int eq = arg.IndexOf('=');
            string name = eq < 0 ? arg : arg[..eq];
            string value = arg[(eq + 1)..];
            var option = eq < 0 ? null : command.Options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));
            bool takesValue = option?.Arity.MaximumNumberOfValues > 0;
            if (option is null || (takesValue && value.Length > 0))
                rewritten.Add(arg);
            else if (takesValue)
                rewritten.AddRange([name, ""]);
            else if (!bool.TryParse(value, out bool set))
                invalidBoolean ??= $"invalid boolean value '{value}' for {option.Name}";
            else if (set)
                rewritten.Add(name);
        }
        return (rewritten, invalidBoolean);
    }

    private static string? NonEmpty(ArgumentResult result, string error) => Last(result, value =>
    {
        if (value.Length == 0) result.AddError(error);
        return value;
    });

    /// <summary>Go's flag package sets a flag at each occurrence: every value given is checked, the last one wins.</summary>
    private static T Last<T>(ArgumentResult result, Func<string, T> parse)
    {
        T value = default!;
        foreach (var token in result.Tokens) value = parse(token.Value);
        return value;
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

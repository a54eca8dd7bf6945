using System.Reflection;
using Litecast.Host.Cli;
using Litecast.Host.Configuration;

namespace Litecast.Host;

/// <summary>Entry point: parses the command line (<see cref="CommandLine"/>), then runs the command.</summary>
public static class Program
{
    /// <summary>Exit code for a configuration error.</summary>
    public const int ConfigErrorExitCode = 1;

    /// <summary>Runs litecast; returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        var command = CommandLine.Parse(args);
        switch (command)
        {
            case CliUsageError error:
                Console.Error.WriteLine($"litecast: {error.Message}");
                Console.Error.WriteLine();
                Console.Error.Write(error.Usage);
                return error.ExitCode;
            case HelpCommand help:
                Console.Out.Write(help.Topic is null ? CommandLine.Usage : CommandLine.CommandUsage[help.Topic]);
                return 0;
            case VersionCommand:
                Console.Out.WriteLine($"litecast {Version}");
                return 0;
            case ReplicateCommand replicate:
                return Replicate(replicate);
            case StatusCommand status:
                return StatusClient.Run(status);
            case ResyncCommand resync:
                return ResyncClient.Run(resync);
            case CertCaCommand or CertNodeCommand:
                return CertCommand.Run(command, Console.Out, Console.Error);
            case DemoCommand demo:
                return Demo.DemoRunner.RunAsync(demo).GetAwaiter().GetResult();
            default:
                Console.Error.WriteLine($"litecast: unhandled command {command}");
                return 1;
        }
    }

    /// <summary>The informational version of this build.</summary>
    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Program).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    private static int Replicate(ReplicateCommand command)
    {
        LitecastConfig config;
        try
        {
            config = ConfigLoader.Load(command.ConfigPath, new ConfigLoadOptions { ExpandEnvironment = !command.NoExpandEnv });
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"litecast: {e.Message}");
            return ConfigErrorExitCode;
        }
        return ReplicateRunner.RunAsync(config).GetAwaiter().GetResult();
    }
}

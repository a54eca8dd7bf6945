using Litecast.Host.Http;
using Spectre.Console;

namespace Litecast.Host.Cli;

/// <summary>
/// <c>litecast resync DB</c>: asks the replica node to resync (<c>POST /dbs/DB/resync</c>), then follows its
/// <c>/status</c> until the resync is over, showing the progress bar <c>status</c> shows.
/// </summary>
public static class ResyncClient
{
    /// <summary>How long the node may stop answering before the command gives up (the resync itself goes on).</summary>
    public static readonly TimeSpan Unreachable = TimeSpan.FromSeconds(30);

    /// <summary>Runs the command against the real console; returns the exit code.</summary>
    public static int Run(ResyncCommand command)
    {
        using var http = StatusClient.Client("resync", command.CaPath, command.Token);
        if (http is null) return 1;
        using var stop = StatusClient.CancelOnCtrlC();
        return RunAsync(command, http, StatusClient.Terminal(), Console.Error, stop.Token).GetAwaiter().GetResult();
    }

    /// <summary>0 once the replica holds its new copy; 1 when the node refuses, stops answering, or reports the
    /// resync failed.</summary>
    public static async Task<int> RunAsync(ResyncCommand command, HttpClient http, IAnsiConsole output, TextWriter error,
        CancellationToken cancellation)
    {
        var url = StatusClient.Under(command.Url, $"dbs/{Uri.EscapeDataString(command.Database)}/resync");
        var asked = DateTimeOffset.UtcNow;
        try
        {
            using var response = await http.PostAsync(url, null, cancellation);
            if (!response.IsSuccessStatusCode)
            {
                await error.WriteLineAsync($"litecast resync: {await StatusClient.RefusalAsync(url, response, cancellation)}");
                return 1;
            }
        }
        catch (HttpRequestException e)
        {
            await error.WriteLineAsync($"litecast resync: cannot reach {url}: {AdminHttpClient.Describe(e, url)}");
            return 1;
        }
        output.MarkupLine($"resync of [bold]{Markup.Escape(command.Database)}[/] started on {Markup.Escape(command.Url.ToString())}");

        var lastAnswer = DateTimeOffset.UtcNow;
        var shown = "";
        try
        {
            while (!cancellation.IsCancellationRequested)
            {
                await Task.Delay(StatusClient.WatchInterval, cancellation);
                var (status, problem) = await StatusClient.FetchAsync(http, command.Url, cancellation);
                if (status is null)
                {
                    if (DateTimeOffset.UtcNow - lastAnswer <= Unreachable) continue;
                    await error.WriteLineAsync($"litecast resync: {problem}");
                    return 1;
                }
                lastAnswer = DateTimeOffset.UtcNow;
                var db = status.Dbs.FirstOrDefault(d => d.Name == command.Database);
                if (db is null)
                {
                    await error.WriteLineAsync($"litecast resync: {command.Url} no longer lists {command.Database}");
                    return 1;
                }
                if (db.Resync is { } progress)
                {
                    var line = StatusClient.ResyncBar(progress);
                    if (line != shown) output.MarkupLine(line);
                    shown = line;
                    continue;
                }
                // A session that failed, with none in flight: the replica clears an earlier failure when it is asked, so
                // this one came after. It retries by itself, later and later; the command does not wait for that (it
                // showed 0% forever while a replica file of another page size failed every session).
                if (TellsOfAFailedSession(db.Problem))
                {
                    await error.WriteLineAsync($"litecast resync: {db.Problem} (the replica retries by itself; litecast status shows how it stands)");
                    return 1;
                }
                // Over once the replica left the resyncing state after it was asked (or was never seen in it: a small copy).
                if (db.State != Litecast.Actors.ReplicaStates.Resyncing && db.StateSince >= asked.AddSeconds(-1))
                {
                    output.MarkupLine($"[green]done[/]: {Markup.Escape(command.Database)} at txid {db.Txid}, {Markup.Escape(db.State ?? "")}");
                    return 0;
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C stops the following, not the resync.
            await error.WriteLineAsync($"litecast resync: stopped following; the resync of {command.Database} goes on at {command.Url}");
        }
        return 1;
    }

    /// <summary>The replica's problem names a failed session, alone or after what it says of its lag ("behind the primary
    /// for 157 s (max-lag 10 s); resync failed: ..."; the command hung on that one, found by a black-box review).</summary>
    private static bool TellsOfAFailedSession(string? problem) =>
        problem is not null && (problem.StartsWith(Litecast.Actors.ReplicaStates.ResyncFailedPrefix, StringComparison.Ordinal)
                                || problem.Contains("; " + Litecast.Actors.ReplicaStates.ResyncFailedPrefix, StringComparison.Ordinal));
}

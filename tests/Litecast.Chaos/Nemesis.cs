using System.Globalization;

namespace Litecast.Chaos;

/// <summary>The kinds of fault the nemesis injects; their names are the <c>--faults</c> option's values.</summary>
internal enum FaultKind
{
    /// <summary>kill -9 of a node's litecast (the primary's included), restarted 1-3 s later.</summary>
    Kill,
    /// <summary>kill -9 of a replica's litecast only ("kill-replica"), restarted 1-3 s later.</summary>
    KillReplica,
    /// <summary>SIGSTOP for 1-10 s, then SIGCONT: a frozen VM or a long GC pause.</summary>
    Pause,
    /// <summary>A silent partition of one link or of a node from both others, 1-10 s.</summary>
    Cut,
    /// <summary>Connections of one link or node reset and refused, 1-10 s.</summary>
    Reset,
    /// <summary>20-500 ms added to one link or to a node's links, 2-10 s.</summary>
    Delay,
    /// <summary>POST /dbs/db/resync on a replica.</summary>
    Resync,
    /// <summary>The application's own PRAGMA wal_checkpoint(TRUNCATE) on the primary.</summary>
    Truncate,
    /// <summary>The application's own PRAGMA wal_checkpoint(RESTART) on the primary.</summary>
    Restart,
    /// <summary>The application's own VACUUM on the primary.</summary>
    Vacuum,
    /// <summary>"replace-primary": the application replaces the primary's file by a copy of itself (VACUUM INTO, renamed
    /// over the path, old -wal/-shm removed) and writes on through a fresh connection (issue 11.1).</summary>
    ReplacePrimary,
    /// <summary>"delete-replica": <c>rm db db-wal db-shm</c> of a replica while Litecast runs (issue 11.4).</summary>
    DeleteReplica,
    /// <summary>"disk-full": a replica's tmpfs filled by a ballast file for 2-6 s while the application writes
    /// (issue 11.5); needs root to mount the tmpfs, otherwise reported unavailable and not injected.</summary>
    DiskFull,
}

/// <summary>One fault: what, on whom, for how long. Drawn in full before it is injected, so the sequence printed
/// for a seed is the sequence that seed replays.</summary>
internal sealed record Fault(int Number, FaultKind Kind, string[] Targets, TimeSpan Duration, TimeSpan Delay)
{
    public override string ToString()
    {
        var targets = Targets.Length == 2 && Targets[1] == "*" ? Targets[0] + " from both others" : string.Join("<->", Targets);
        var seconds = Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        return Kind switch
        {
            FaultKind.Kill or FaultKind.KillReplica => $"kill -9 {targets}, restart after {seconds} s",
            FaultKind.Pause => $"SIGSTOP {targets} for {seconds} s",
            FaultKind.Cut => $"cut {targets} (silent) for {seconds} s",
            FaultKind.Reset => $"reset {targets} for {seconds} s",
            FaultKind.Delay => $"delay {targets} by {Delay.TotalMilliseconds:0} ms for {seconds} s",
            FaultKind.Resync => $"POST /dbs/db/resync on {targets}",
            FaultKind.Truncate => "application PRAGMA wal_checkpoint(TRUNCATE) on the primary",
            FaultKind.Restart => "application PRAGMA wal_checkpoint(RESTART) on the primary",
            FaultKind.Vacuum => "application VACUUM on the primary",
            FaultKind.ReplacePrimary => "application replaces the primary's file by a copy (VACUUM INTO, rename, rm -wal -shm)",
            FaultKind.DeleteReplica => $"rm db db-wal db-shm on {targets}",
            FaultKind.DiskFull => $"fill {targets}'s disk (tmpfs) for {seconds} s",
            _ => Kind.ToString(),
        };
    }
}

/// <summary>
/// Draws faults from a <see cref="Random"/> seeded by the run's seed and injects them one at a time: apply, hold for
/// the fault's duration, heal. The caller then checks that the cluster converges before the next one.
/// </summary>
internal sealed class Nemesis(ChaosCluster cluster, BankWriter writer, Random random, IReadOnlyList<FaultKind> kinds)
{
    private int _count;

    /// <summary>Parses <c>--faults kill,pause,...</c>; "all" (the default) is every kind, "checkpoint" both checkpoints.</summary>
    public static IReadOnlyList<FaultKind> ParseKinds(string text)
    {
        var kinds = new List<FaultKind>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // "all" means every kind; kill already covers the replicas, so kill-replica is not added to it.
            if (name == "all") kinds.AddRange(Enum.GetValues<FaultKind>().Where(k => k != FaultKind.KillReplica));
            else if (name == "checkpoint") kinds.AddRange([FaultKind.Truncate, FaultKind.Restart]);
            else if (Enum.GetValues<FaultKind>().FirstOrDefault(k => Name(k) == name) is var kind && Name(kind) == name) kinds.Add(kind);
            else throw new ArgumentException($"unknown fault kind '{name}' (kinds: all, checkpoint, {string.Join(", ", Enum.GetValues<FaultKind>().Select(Name))})");
        }
        return kinds.Distinct().ToList();
    }

    /// <summary>The kind's name on the command line and in reports: kill, kill-replica, pause, ...</summary>
    public static string Name(FaultKind kind) =>
        string.Concat(kind.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>The quiet time before the next fault (the writer and readers keep going).</summary>
    public TimeSpan NextQuiet() => TimeSpan.FromMilliseconds(random.Next(500, 3000));

    public Fault Next()
    {
        var kind = kinds[random.Next(kinds.Count)];
        var nodes = ChaosCluster.NodeNames.ToArray();
        var replicas = ChaosCluster.ReplicaNames;
        string[] Link()
        {
            // Half the time one link between two nodes, half the time a node cut off from both others.
            var a = nodes[random.Next(nodes.Length)];
            if (random.Next(2) == 0) return [a, "*"];
            var others = nodes.Where(n => n != a).ToArray();
            return [a, others[random.Next(others.Length)]];
        }
        TimeSpan Seconds(double min, double max) => TimeSpan.FromSeconds(Math.Round(min + random.NextDouble() * (max - min), 1));
        var number = ++_count;
        return kind switch
        {
            FaultKind.Kill => new Fault(number, kind, [nodes[random.Next(nodes.Length)]], Seconds(1, 3), TimeSpan.Zero),
            FaultKind.KillReplica => new Fault(number, kind, [replicas[random.Next(replicas.Length)]], Seconds(1, 3), TimeSpan.Zero),
            FaultKind.Pause => new Fault(number, kind, [nodes[random.Next(nodes.Length)]], Seconds(1, 10), TimeSpan.Zero),
            FaultKind.Cut or FaultKind.Reset => new Fault(number, kind, Link(), Seconds(1, 10), TimeSpan.Zero),
            FaultKind.Delay => new Fault(number, kind, Link(), Seconds(2, 10), TimeSpan.FromMilliseconds(random.Next(20, 501))),
            FaultKind.Resync or FaultKind.DeleteReplica => new Fault(number, kind, [replicas[random.Next(replicas.Length)]], TimeSpan.Zero, TimeSpan.Zero),
            FaultKind.DiskFull => new Fault(number, kind, [replicas[random.Next(replicas.Length)]], Seconds(2, 6), TimeSpan.Zero),
            _ => new Fault(number, kind, [ChaosCluster.PrimaryName], TimeSpan.Zero, TimeSpan.Zero),
        };
    }

    /// <summary>Applies the fault, holds it, heals it; returns a note on what happened (e.g. the checkpoint's answer).</summary>
    public async Task<string> InjectAsync(Fault fault, CancellationToken cancellation)
    {
        var target = cluster[fault.Targets[0]];
        switch (fault.Kind)
        {
            case FaultKind.Kill or FaultKind.KillReplica:
                target.Process?.Kill();
                await Task.Delay(fault.Duration, cancellation);
                cluster.Start(target);
                return "restarted";
            case FaultKind.Pause:
                target.Process?.Signal("STOP");
                target.Paused = true;
                try { await Task.Delay(fault.Duration, cancellation); }
                finally
                {
                    target.Process?.Signal("CONT");
                    target.Paused = false;
                }
                return "resumed";
            case FaultKind.Cut or FaultKind.Reset or FaultKind.Delay:
                var pairs = PairsOf(fault.Targets);
                foreach (var (a, b) in pairs)
                {
                    if (fault.Kind == FaultKind.Cut) cluster.Links.Cut(a, b);
                    else if (fault.Kind == FaultKind.Reset) cluster.Links.Reset(a, b);
                    else cluster.Links.Delay(a, b, fault.Delay);
                }
                try { await Task.Delay(fault.Duration, cancellation); }
                finally { foreach (var (a, b) in pairs) cluster.Links.Heal(a, b); }
                return "healed";
            case FaultKind.Resync:
                try
                {
                    await cluster.ResyncAsync(target, cancellation);
                    return "requested"; // convergence then waits until the replica no longer reports resyncing
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
                {
                    // Not a failure in itself (the replica may still be restarting from an earlier fault); convergence decides.
                    return "request failed: " + e.Message;
                }
            case FaultKind.Truncate or FaultKind.Restart or FaultKind.Vacuum:
                return await writer.RunAsync(fault.Kind.ToString().ToUpperInvariant(), TimeSpan.FromSeconds(30), cancellation);
            case FaultKind.ReplacePrimary:
            {
                // Between two of the application's transactions (the writer pauses, replaces, resumes): the copy holds
                // the same data, so the readers' invariants hold across the new generation's resync.
                var before = await cluster.GenerationAsync(target, cancellation);
                var answer = await writer.RunAsync("REPLACE", TimeSpan.FromSeconds(30), cancellation);
                if (!answer.StartsWith("done", StringComparison.Ordinal)) throw new ChaosFailure($"the application could not replace its file: {answer}");
                // Convergence is only meaningful once the primary noticed: until then its bookmark is the old file's.
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (true)
                {
                    var now = await cluster.GenerationAsync(target, cancellation);
                    if (before is null || now is not null && now != before)
                        return $"{answer}; the primary's generation {before} -> {now} after {clock.Elapsed.TotalSeconds:0.0} s";
                    if (clock.Elapsed > TimeSpan.FromSeconds(10))
                        throw new ChaosFailure($"the primary's file was replaced but its generation is still {before} after 10 s\nprimary /status: {await cluster.StatusAsync(target)}");
                    await Task.Delay(100, cancellation);
                }
            }
            case FaultKind.DeleteReplica:
                foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(target.Db + suffix);
                return "deleted (readers retry 'unable to open' until the new copy exists)";
            case FaultKind.DiskFull:
                return await DiskFull.InjectAsync(cluster, writer, target, fault.Duration, cancellation);
            default:
                throw new ArgumentOutOfRangeException(nameof(fault));
        }
    }

    private static List<(string, string)> PairsOf(string[] targets) =>
        targets[1] == "*"
            ? ChaosCluster.NodeNames.Where(n => n != targets[0]).Select(n => (targets[0], n)).ToList()
            : [(targets[0], targets[1])];
}

namespace Litecast.Actors.Primary;

/// <summary>
/// How far a resync's snapshot copy has got. The tailer offers a resync's pages as soon as the snapshot is pinned (their
/// hashes are the stream's), and the copy to the snapshot file runs meanwhile on a thread of its own; whatever serves
/// the file's bytes (the resync source, the admin endpoint) waits here until the copy has passed them. The copy
/// of 1.1 GiB took 1.6-2.5 s before the first page could be offered when it came first.
/// </summary>
internal sealed class SnapshotCopyProgress(long length)
{
    private readonly object _gate = new();
    private readonly List<(long End, TaskCompletionSource Reached)> _waiting = new();
    private long _copied;
    private Exception? _failure;

    /// <summary>The snapshot file's length once copied: page count × page size.</summary>
    public long Length { get; } = length;

    /// <summary>Completes when the first <paramref name="end"/> bytes of the file are copied; fails when the copy
    /// failed or the snapshot turned out not to be the stream's. An end past the file waits for the whole file.</summary>
    public Task WhenCopied(long end)
    {
        end = Math.Min(end, Length);
        lock (_gate)
        {
            if (_failure is not null) return Task.FromException(_failure);
            if (end <= _copied) return Task.CompletedTask;
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add((end, reached));
            return reached.Task;
        }
    }

    /// <summary>The copy thread wrote the first <paramref name="bytes"/> bytes.</summary>
    public void Copied(long bytes)
    {
        List<TaskCompletionSource> reached;
        lock (_gate)
        {
            _copied = bytes;
            reached = _waiting.Where(w => w.End <= bytes).Select(w => w.Reached).ToList();
            _waiting.RemoveAll(w => w.End <= bytes);
        }
        foreach (var waiter in reached) waiter.TrySetResult();
    }

    /// <summary>The snapshot cannot be served (the copy failed, or the file contradicted the stream): every waiter
    /// and every later one fails with <paramref name="failure"/>.</summary>
    public void Fail(Exception failure)
    {
        List<TaskCompletionSource> waiting;
        lock (_gate)
        {
            _failure ??= failure;
            waiting = _waiting.Select(w => w.Reached).ToList();
            _waiting.Clear();
        }
        foreach (var waiter in waiting) waiter.TrySetException(failure);
    }
}

namespace Litecast.Actors.Primary;

/// <summary>
/// Wakes tailers when their WAL file changes, so a commit is read within a moment instead of at the next timer tick.
/// One FileSystemWatcher (one inotify instance, 128 per user by default) per directory, shared by every database in
/// it; the tailers' timers remain the fallback when notifications are lost or unavailable.
/// </summary>
internal static class WalChangeNotifier
{
    private sealed class DirectoryWatch(FileSystemWatcher watcher)
    {
        public readonly FileSystemWatcher Watcher = watcher;
        public readonly Dictionary<string, List<Action>> Listeners = new(StringComparer.Ordinal);
    }

    private static readonly object Gate = new();
    private static readonly Dictionary<string, DirectoryWatch> Watches = new(StringComparer.Ordinal);

    /// <summary>Calls <paramref name="changed"/> (on a thread-pool thread) whenever <paramref name="walPath"/> is
    /// written, created or deleted, until the returned handle is disposed.</summary>
    public static IDisposable Subscribe(string walPath, Action changed)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(walPath))!;
        var name = Path.GetFileName(walPath);
        lock (Gate)
        {
            if (!Watches.TryGetValue(directory, out var watch))
            {
                var watcher = new FileSystemWatcher(directory)
                {
                    NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName,
                    IncludeSubdirectories = false,
                };
                watch = new DirectoryWatch(watcher);
                watcher.Changed += (_, e) => Notify(watch, e.Name);
                watcher.Created += (_, e) => Notify(watch, e.Name);
                watcher.Deleted += (_, e) => Notify(watch, e.Name);
                watcher.EnableRaisingEvents = true;
                Watches[directory] = watch;
            }
            if (!watch.Listeners.TryGetValue(name, out var listeners)) watch.Listeners[name] = listeners = [];
            listeners.Add(changed);
            return new Subscription(directory, name, changed);
        }
    }

    private static void Notify(DirectoryWatch watch, string? name)
    {
        if (name is null) return;
        Action[] listeners;
        lock (Gate)
        {
            if (!watch.Listeners.TryGetValue(name, out var list)) return;
            listeners = list.ToArray();
        }
        foreach (var listener in listeners) listener();
    }

    private sealed class Subscription(string directory, string name, Action changed) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            lock (Gate)
            {
                if (_disposed || !Watches.TryGetValue(directory, out var watch)) return;
                _disposed = true;
                if (watch.Listeners.TryGetValue(name, out var listeners))
                {
                    listeners.Remove(changed);
                    if (listeners.Count == 0) watch.Listeners.Remove(name);
                }
                if (watch.Listeners.Count > 0) return;
                watch.Watcher.Dispose();
                Watches.Remove(directory);
            }
        }
    }
}

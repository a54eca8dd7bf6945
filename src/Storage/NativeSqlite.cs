using System.Reflection;
using System.Runtime.InteropServices;
using SQLitePCL;

namespace Litecast.Storage;

/// <summary>
/// Loads Litecast's own SQLite build (compiled with SQLITE_ENABLE_DBPAGE_VTAB by native/sqlite/build.sh) into
/// SQLitePCLRaw, so every Microsoft.Data.Sqlite connection in the process uses it. Only one SQLite library may live in
/// a process: two libraries do not see each other's POSIX locks and corrupt a shared database.
/// </summary>
public static class NativeSqlite
{
    /// <summary>File name of the native library shipped beside the assemblies.</summary>
    public const string LibraryFileName = "libsqlite3-litecast.so";

    /// <summary>Environment variable that overrides where the native library is loaded from.</summary>
    public const string LibraryPathVariable = "LITECAST_SQLITE_LIB";

    private static readonly object Gate = new();
    private static bool _loaded;

    /// <summary>Full path of the native library this process loads.</summary>
    public static string LibraryPath =>
        Environment.GetEnvironmentVariable(LibraryPathVariable) is { Length: > 0 } overridden
            ? overridden
            : Path.Combine(AppContext.BaseDirectory, LibraryFileName);

    /// <summary>Full path of the sqlite3 shell built from the same SQLite source, shipped beside the library.</summary>
    public static string ShellPath => Path.Combine(Path.GetDirectoryName(LibraryPath)!, "sqlite3-litecast");

    /// <summary>The version of the SQLite library Litecast runs on (e.g. "3.52.0").</summary>
    public static string Version
    {
        get
        {
            EnsureLoaded();
            return raw.sqlite3_libversion().utf8_to_string();
        }
    }

    /// <summary>Installs the provider once; safe to call from any thread, before any connection opens.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            var path = LibraryPath;
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"Litecast's SQLite library was not found at {path}. Build the solution with 'dotnet build' " +
                    $"(it compiles SQLite with native/sqlite/build.sh) or set {LibraryPathVariable}.", path);

            var handle = NativeLibrary.Load(path);
            NativeLibrary.SetDllImportResolver(typeof(SQLite3Provider_sqlite3).Assembly,
                (name, _, _) => name == "sqlite3" ? handle : IntPtr.Zero);
            raw.SetProvider(new SQLite3Provider_sqlite3());
            _loaded = true;
        }
    }
}

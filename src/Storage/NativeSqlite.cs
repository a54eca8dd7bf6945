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
    private static IntPtr _library;

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
            _library = handle;
            _loaded = true;
        }
    }

    private const int FileControlFilePointer = 7; // SQLITE_FCNTL_FILE_POINTER
    private const int IoErrShortRead = 522; // SQLITE_IOERR_SHORT_READ: the rest was past the end, and SQLite zeroed it

    /// <summary>
    /// Reads <paramref name="buffer"/>.Length bytes of the main database file of <paramref name="connection"/> at
    /// <paramref name="offset"/> through SQLite's own handle of the file (SQLITE_FCNTL_FILE_POINTER, then its VFS's
    /// xRead). No descriptor is opened or closed, so none of SQLite's POSIX locks can be dropped, which is why the
    /// database file is never read with plain file APIs. Bytes past the end of the file read as zeros.
    /// </summary>
    public static unsafe void ReadMainFile(Microsoft.Data.Sqlite.SqliteConnection connection, Span<byte> buffer, long offset)
    {
        var (file, methods) = MainFile(connection);
        // sqlite3_io_methods: int iVersion, then xClose, then xRead(sqlite3_file*, void*, int iAmt, sqlite3_int64 iOfst).
        var read = *(delegate* unmanaged<IntPtr, byte*, int, long, int>*)(methods + 2 * IntPtr.Size);
        int rc;
        fixed (byte* data = buffer) rc = read(file, data, buffer.Length, offset);
        // An SQLite error, as the same read through SQLite's pager would give: a scrub takes an I/O error for damage.
        if (rc != 0 && rc != IoErrShortRead)
            throw new Microsoft.Data.Sqlite.SqliteException($"{connection.DataSource}: reading {buffer.Length} bytes at {offset} failed (SQLite error {rc})", rc & 0xff, rc);
    }

    private const int WalIndexRegionSize = 32768; // WALINDEX_PGSZ: SQLite maps the -shm file in regions of this size

    /// <summary>
    /// The address of SQLite's own mapping of the WAL-index (the <c>-shm</c> file's first region, whose first bytes are
    /// the header) for <paramref name="connection"/>, a WAL-mode connection; IntPtr.Zero when SQLite has none. Through
    /// the VFS's xShmMap (SQLITE_FCNTL_FILE_POINTER, then sqlite3_io_methods version 2): no descriptor of the file is
    /// opened or closed, so none of SQLite's POSIX locks on it can be dropped. Valid until the connection closes.
    /// </summary>
    public static unsafe IntPtr MapWalIndex(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        // A read opens the WAL and its index for the connection.
        connection.ReadSchema();
        var (file, methods) = MainFile(connection);
        if (*(int*)methods < 2) return IntPtr.Zero;
        // After iVersion: xClose .. xDeviceCharacteristics (12 methods), then xShmMap(sqlite3_file*, int iPg, int pgsz,
        // int bExtend, void volatile**).
        var shmMap = *(delegate* unmanaged<IntPtr, int, int, int, IntPtr*, int>*)(methods + 13 * IntPtr.Size);
        IntPtr region;
        var rc = shmMap(file, 0, WalIndexRegionSize, 0, &region);
        if (rc != 0) throw new Microsoft.Data.Sqlite.SqliteException($"{connection.DataSource}: mapping the WAL-index failed (SQLite error {rc})", rc & 0xff, rc);
        return region;
    }

    /// <summary>SQLite's handle of the main database file of <paramref name="connection"/> and its methods.</summary>
    private static unsafe (IntPtr File, IntPtr Methods) MainFile(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        EnsureLoaded();
        var fileControl = (delegate* unmanaged<IntPtr, byte*, int, IntPtr*, int>)NativeLibrary.GetExport(_library, "sqlite3_file_control");
        IntPtr file;
        int rc;
        fixed (byte* main = "main\0"u8) rc = fileControl(connection.Handle!.DangerousGetHandle(), main, FileControlFilePointer, &file);
        if (rc != 0 || file == IntPtr.Zero) throw new IOException($"{connection.DataSource}: SQLITE_FCNTL_FILE_POINTER failed ({rc})");
        // struct sqlite3_file { const sqlite3_io_methods *pMethods; }
        return (file, *(IntPtr*)file);
    }

    /// <summary>The full path of the main database file of <paramref name="connection"/>, as SQLite opened it.</summary>
    public static string MainFileName(Microsoft.Data.Sqlite.SqliteConnection connection) =>
        raw.sqlite3_db_filename(connection.Handle, "main").utf8_to_string() is { Length: > 0 } path
            ? path
            : throw new IOException($"{connection.DataSource}: SQLite names no file for its main database");
}

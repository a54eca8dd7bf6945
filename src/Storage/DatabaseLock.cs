using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Storage;

/// <summary>
/// One Litecast per database: an exclusive <c>flock(2)</c> on <c>lock</c> in the database's state directory, held until
/// disposed (the kernel drops it when the process dies, kill -9 included). Two replicas on one file each take the
/// other's applies for a local write and resync it forever; a second primary deletes the first one's retained log and
/// snapshots and overwrites its position. A flock belongs to an open file, not to a process (as fcntl's locks do), so
/// a second node on the same database in the same process is refused too.
/// </summary>
/// <remarks>
/// The file is opened and locked with open(2) and flock(2) directly rather than by a FileStream with FileShare.None:
/// .NET takes that lock only as a best effort (it ignores every error but EWOULDBLOCK, and
/// <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> turns it off), and any FileStream on the file, even to read the holder's
/// pid, asks for a shared lock and fails while the exclusive one is held.
/// </remarks>
public sealed partial class DatabaseLock : IDisposable
{
    /// <summary>The lock file's name in the state directory (no other state file has it or its prefix).</summary>
    public const string FileName = "lock";

    private readonly SafeFileHandle _file;

    private DatabaseLock(SafeFileHandle file) => _file = file;

    /// <summary>Locks <paramref name="databasePath"/>'s state directory (creating it), or throws an IOException naming
    /// the database and, when it wrote it, the pid of the process holding it.</summary>
    public static DatabaseLock Acquire(string databasePath)
    {
        var directory = PositionFile.StateDirectory(databasePath);
        var path = Path.Combine(directory, FileName);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // IOException: a part of the path is a file (the message named only the state directory, not the database).
            throw new IOException($"{databasePath}: cannot create its state directory {directory}: {e.Message}", e);
        }
        var fd = Open(path, OpenReadWrite | OpenCreate | OpenCloseOnExec, CreateMode);
        if (fd < 0) throw new IOException($"{databasePath}: cannot open its lock file {path}: {LastError()}");
        var file = new SafeFileHandle(fd, ownsHandle: true);
        if (FLock(fd, LockExclusive | LockNonBlocking) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            using (file)
            {
                if (errno != WouldBlock) throw new IOException($"{databasePath}: cannot lock {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
                var holderPid = HolderPid(file);
                // Two dbs entries naming one file by different paths (a symlinked directory): the holder is this process,
                // which the message must not call another litecast.
                if (holderPid == Environment.ProcessId)
                    throw new IOException($"{databasePath} is already run by this process: another dbs entry (or another node here) " +
                                          $"names the same file by another path, and both lock {path}");
                var holder = holderPid is { } pid ? $" (pid {pid})" : "";
                throw new IOException($"{databasePath} is already in use by another litecast{holder}, which holds {path}; " +
                                      "a database can be run by one litecast at a time");
            }
        }
        try
        {
            // Written once locked, so a refused process reads the holder's pid (or nothing, in the instant before this).
            RandomAccess.SetLength(file, 0);
            RandomAccess.Write(file, Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"), 0);
        }
        catch (IOException)
        {
            // The pid only makes a refused process's message better: a full disk must not stop this one.
        }
        return new DatabaseLock(file);
    }

    private static int? HolderPid(SafeFileHandle file)
    {
        Span<byte> buffer = stackalloc byte[32];
        var read = RandomAccess.Read(file, buffer, 0);
        return int.TryParse(Encoding.ASCII.GetString(buffer[..read]).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    /// <summary>Releases the lock (closing the file does).</summary>
    public void Dispose() => _file.Dispose();

    private static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    // Linux's values, the same on x86_64 and arm64.
    private const int OpenReadWrite = 0x2;
    private const int OpenCreate = 0x40;
    private const int OpenCloseOnExec = 0x80000;
    private const uint CreateMode = 0b110_110_110; // 0666, less the umask, as .NET creates files
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int WouldBlock = 11;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FLock(int fd, int operation);
}

using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Storage;

/// <summary>
/// Starts the kernel writing a range of a file's dirty pages to disk without waiting for it (Linux
/// <c>sync_file_range</c> with <c>SYNC_FILE_RANGE_WRITE</c>). A resync stages a whole database in the page cache and
/// then makes it durable with one fsync: 0.6-1.1 s for 1.1 GiB here, spent after the last page had arrived. Started as
/// each range is staged, the writes overlap the transfer and the final fsync finds little left to do. Only a hint: it
/// makes nothing durable, and a failure (a file system without it) changes nothing; the fsync still does that.
/// </summary>
public static partial class FileWriteback
{
    private const uint SyncFileRangeWrite = 2;

    public static void Start(SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        // Held for the call: a file closed by another thread meanwhile must not have its descriptor number reused.
        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            _ = SyncFileRange((int)file.DangerousGetHandle(), offset, length, SyncFileRangeWrite);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: nothing left to hint about.
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }

    // No SetLastError: the result is ignored (see above), so errno is not worth marshalling.
    [LibraryImport("libc", EntryPoint = "sync_file_range")]
    private static partial int SyncFileRange(int fd, long offset, long length, uint flags);
}

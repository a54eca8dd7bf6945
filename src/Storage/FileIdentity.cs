using System.Runtime.InteropServices;

namespace Litecast.Storage;

/// <summary>
/// Device and inode of a file. Litecast compares them on every poll to notice a database or WAL replaced or deleted
/// under it. Obtained with stat(2), which opens no descriptor, so it cannot drop SQLite's POSIX locks.
/// </summary>
public readonly partial record struct FileIdentity(ulong Device, ulong Inode)
{
    /// <summary>The identity of the file at <paramref name="path"/>, or null when it does not exist.</summary>
    public static FileIdentity? Of(string path)
    {
        Span<byte> buffer = stackalloc byte[StatBufferSize];
        return Stat(path, ref MemoryMarshal.GetReference(buffer)) == 0 ? FromBuffer(buffer) : null;
    }

    /// <summary>The identity of an open file.</summary>
    public static FileIdentity? Of(FileStream file)
    {
        Span<byte> buffer = stackalloc byte[StatBufferSize];
        var fd = (int)file.SafeFileHandle.DangerousGetHandle();
        return FStat(fd, ref MemoryMarshal.GetReference(buffer)) == 0 ? FromBuffer(buffer) : null;
    }

    // struct stat starts with st_dev and st_ino, both 64-bit, on the 64-bit Linux ABIs .NET runs on (x86_64, arm64).
    private const int StatBufferSize = 256;

    private static FileIdentity FromBuffer(ReadOnlySpan<byte> buffer) =>
        new(MemoryMarshal.Read<ulong>(buffer), MemoryMarshal.Read<ulong>(buffer[8..]));

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, ref byte buffer);
}

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Storage;

/// <summary>
/// Reads where SQLite's committed frames end from the WAL-index header in the <c>-shm</c> file (the layout is the
/// documented wal-index header, https://sqlite.org/walformat.html#the_wal_index_file_format), with plain file I/O: no
/// lock, no read transaction, nothing the application's writer waits for.
/// </summary>
/// <remarks>
/// The WAL file alone cannot tell a commit SQLite counts from one it never will: a writer killed after writing a
/// commit's frames and before updating the index (at synchronous=FULL, while it waits on fsync) leaves frames whose
/// checksums and commit mark are valid, and the next writer overwrites them. Only the index says which frames are
/// committed: SQLite updates it after the frames are written (and, at FULL, synced).
/// </remarks>
public static class WalIndex
{
    /// <summary>The header's size; the index holds two copies of it, one after the other.</summary>
    public const int HeaderSize = 48;
    private const uint Version = 3007000;
    private const int ChecksummedBytes = 40;
    private const int Attempts = 3;

    /// <summary>Path of the WAL-index file that SQLite keeps beside a database.</summary>
    public static string Path(string databasePath) => databasePath + "-shm";

    /// <summary>
    /// What a read transaction starting now would see, or null when the index cannot be trusted as it stands (missing,
    /// not initialised, or caught mid-update three times): SQLite then recovers the index from the WAL when a
    /// connection next reads, and the caller asks SQLite (a guard rotation) instead.
    /// </summary>
    public static WalVisibleEnd? ReadCommittedEnd(string databasePath)
    {
        using var file = Open(databasePath);
        return file is null ? null : ReadCommittedEnd(file);
    }

    /// <summary>Opens the WAL-index file for repeated reads (<see cref="ReadCommittedEnd(SafeFileHandle)"/>); null when
    /// there is none.</summary>
    public static SafeFileHandle? Open(string databasePath)
    {
        try
        {
            return File.OpenHandle(Path(databasePath), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>As <see cref="ReadCommittedEnd(string)"/>, from a WAL-index file already open.</summary>
    public static WalVisibleEnd? ReadCommittedEnd(SafeFileHandle file)
    {
        Span<byte> copies = stackalloc byte[2 * HeaderSize];
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            if (RandomAccess.Read(file, copies, 0) < copies.Length) return null;
            // A writer updates the second copy, then the first: two equal copies with a valid checksum are one header.
            var first = copies[..HeaderSize];
            if (!first.SequenceEqual(copies[HeaderSize..])) continue;
            if (MemoryMarshal.Read<uint>(first) != Version || first[12] == 0) return null;
            var stored = new WalChecksum(MemoryMarshal.Read<uint>(first[ChecksummedBytes..]), MemoryMarshal.Read<uint>(first[(ChecksummedBytes + 4)..]));
            if (WalFormat.Checksum(first[..ChecksummedBytes], bigEndian: !BitConverter.IsLittleEndian, default) != stored) continue;
            return Parse(first);
        }
        return null;
    }

    /// <summary>
    /// The committed end a WAL-index header records: mxFrame, a native 32-bit integer at offset 16, and the salts at
    /// offset 32, copied byte for byte from the WAL header (big-endian). SQLite's snapshot handles
    /// (sqlite3_snapshot_get) hold the same header.
    /// </summary>
    public static WalVisibleEnd Parse(ReadOnlySpan<byte> header) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(header[32..]), BinaryPrimitives.ReadUInt32BigEndian(header[36..]),
            MemoryMarshal.Read<uint>(header[16..]));
}

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage;

/// <summary>
/// Reads where SQLite's committed frames end from the WAL-index header (the layout is the documented wal-index header,
/// https://sqlite.org/walformat.html#the_wal_index_file_format) without a lock or a read transaction: nothing the
/// application's writer waits for. Read through SQLite's own mapping of the <c>-shm</c> file, on a connection of its
/// own (<see cref="NativeSqlite.MapWalIndex"/>).
/// </summary>
/// <remarks>
/// The WAL file alone cannot tell a commit SQLite counts from one it never will: a writer killed after writing a
/// commit's frames and before updating the index (at synchronous=FULL, while it waits on fsync) leaves frames whose
/// checksums and commit mark are valid, and the next writer overwrites them. Only the index says which frames are
/// committed: SQLite updates it after the frames are written (and, at FULL, synced).
/// The <c>-shm</c> file is never opened with plain file APIs: closing any descriptor of a file drops every POSIX lock
/// the process holds on it, and SQLite keeps the read marks there. Opened and closed at each read, it let another
/// process's checkpoint restart the WAL under the guard (chaos seed 11: a replica applied a malformed database).
/// </remarks>
public sealed class WalIndex : IDisposable
{
    /// <summary>The header's size; the index holds two copies of it, one after the other.</summary>
    public const int HeaderSize = 48;
    private const uint Version = 3007000;
    private const int ChecksummedBytes = 40;
    private const int Attempts = 3;

    private readonly object _gate = new();
    private SqliteConnection? _connection;
    private IntPtr _header;

    /// <summary>Opens a connection of its own to the WAL-mode database at <paramref name="databasePath"/>.</summary>
    public WalIndex(string databasePath)
    {
        _connection = SqliteConnections.OpenExisting(databasePath);
    }

    /// <summary>
    /// What a read transaction starting now would see, or null when the index cannot be trusted as it stands (not
    /// mapped yet, not initialised, or caught mid-update three times): SQLite then recovers the index from the WAL when
    /// a connection next reads, and the caller asks SQLite (a guard rotation) instead. Any thread.
    /// </summary>
    public WalVisibleEnd? ReadCommittedEnd()
    {
        Span<byte> copies = stackalloc byte[2 * HeaderSize];
        lock (_gate)
        {
            if (_connection is null) return null;
            if (_header == IntPtr.Zero)
            {
                try
                {
                    _header = NativeSqlite.MapWalIndex(_connection);
                }
                catch (Exception e) when (e is SqliteException or IOException)
                {
                    // The file is gone, replaced or busy being recovered: the caller asks SQLite instead.
                    return null;
                }
            }
            if (_header == IntPtr.Zero) return null;
            for (var attempt = 0; attempt < Attempts; attempt++)
            {
                unsafe
                {
                    new ReadOnlySpan<byte>((void*)_header, copies.Length).CopyTo(copies);
                }
                if (ParseCopies(copies) is { } end) return end;
            }
            return null;
        }
    }

    /// <summary>
    /// The committed end the two copies of a WAL-index header record; null when they differ (a writer updates the
    /// second copy, then the first: caught in between), when the header is not initialised, or when its checksum fails.
    /// </summary>
    public static WalVisibleEnd? ParseCopies(ReadOnlySpan<byte> copies)
    {
        var first = copies[..HeaderSize];
        if (!first.SequenceEqual(copies[HeaderSize..(2 * HeaderSize)])) return null;
        if (MemoryMarshal.Read<uint>(first) != Version || first[12] == 0) return null;
        var stored = new WalChecksum(MemoryMarshal.Read<uint>(first[ChecksummedBytes..]), MemoryMarshal.Read<uint>(first[(ChecksummedBytes + 4)..]));
        if (WalFormat.Checksum(first[..ChecksummedBytes], bigEndian: !BitConverter.IsLittleEndian, default) != stored) return null;
        return Parse(first);
    }

    /// <summary>
    /// The committed end a WAL-index header records: mxFrame, a native 32-bit integer at offset 16, and the salts at
    /// offset 32, copied byte for byte from the WAL header (big-endian). SQLite's snapshot handles
    /// (sqlite3_snapshot_get) hold the same header.
    /// </summary>
    public static WalVisibleEnd Parse(ReadOnlySpan<byte> header) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(header[32..]), BinaryPrimitives.ReadUInt32BigEndian(header[36..]),
            MemoryMarshal.Read<uint>(header[16..]));

    /// <summary>Closes the connection (SQLite unmaps the index); later reads return null. Any thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _header = IntPtr.Zero;
            _connection?.Dispose();
            _connection = null;
        }
    }
}

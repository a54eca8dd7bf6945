using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Litecast.Storage;

/// <summary>Sizes and magic numbers of SQLite's WAL file format (https://sqlite.org/fileformat2.html#walformat).</summary>
public static class WalFormat
{
    public const int HeaderSize = 32;
    public const int FrameHeaderSize = 24;
    public const uint MagicLittleEndian = 0x377f0682;
    public const uint MagicBigEndian = 0x377f0683;
    public const uint FormatVersion = 3007000;

    /// <summary>Path of the WAL file that SQLite keeps beside a database.</summary>
    public static string WalPath(string databasePath) => databasePath + "-wal";

    /// <summary>
    /// Continues SQLite's WAL checksum over <paramref name="data"/> (a multiple of 8 bytes), reading 32-bit words in
    /// the byte order the WAL magic selects.
    /// </summary>
    public static WalChecksum Checksum(ReadOnlySpan<byte> data, bool bigEndian, WalChecksum seed)
    {
        if (data.Length % 8 != 0) throw new ArgumentException("WAL checksums cover whole 8-byte words", nameof(data));
        uint s1 = seed.S1, s2 = seed.S2;
        var words = MemoryMarshal.Cast<byte, uint>(data);
        var swap = bigEndian == BitConverter.IsLittleEndian;
        if (!swap)
        {
            for (var i = 0; i < words.Length; i += 2)
            {
                s1 += words[i] + s2;
                s2 += words[i + 1] + s1;
            }
        }
        else
        {
            for (var i = 0; i < words.Length; i += 2)
            {
                s1 += BinaryPrimitives.ReverseEndianness(words[i]) + s2;
                s2 += BinaryPrimitives.ReverseEndianness(words[i + 1]) + s1;
            }
        }
        return new WalChecksum(s1, s2);
    }
}

/// <summary>The running pair of 32-bit checksums that chains every WAL frame to the header and the frames before it.</summary>
public readonly record struct WalChecksum(uint S1, uint S2)
{
    public override string ToString() => $"{S1:x8}{S2:x8}";
}

/// <summary>The 32-byte WAL header. All fields are big-endian on disk.</summary>
public readonly record struct WalHeader(
    uint Magic, uint FormatVersion, int PageSize, uint CheckpointSequence, uint Salt1, uint Salt2, WalChecksum Checksum)
{
    /// <summary>True when the checksums are computed over big-endian words (magic 0x377f0683).</summary>
    public bool BigEndianChecksums => Magic == WalFormat.MagicBigEndian;

    /// <summary>Parses and validates a header; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out WalHeader header, out string? error)
    {
        header = default;
        if (bytes.Length < WalFormat.HeaderSize)
        {
            error = $"WAL header is {bytes.Length} bytes, expected {WalFormat.HeaderSize}";
            return false;
        }
        var magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        if (magic != WalFormat.MagicLittleEndian && magic != WalFormat.MagicBigEndian)
        {
            error = $"WAL header has bad magic 0x{magic:x8} (expected 0x377f0682 or 0x377f0683)";
            return false;
        }
        var version = BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]);
        if (version != WalFormat.FormatVersion)
        {
            error = $"WAL header has unsupported format version {version} (expected {WalFormat.FormatVersion})";
            return false;
        }
        var rawPageSize = BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]);
        var pageSize = rawPageSize == 1 ? 65536 : (int)rawPageSize;
        if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) != 0)
        {
            error = $"WAL header has invalid page size {rawPageSize}";
            return false;
        }
        var stored = new WalChecksum(BinaryPrimitives.ReadUInt32BigEndian(bytes[24..]), BinaryPrimitives.ReadUInt32BigEndian(bytes[28..]));
        var computed = WalFormat.Checksum(bytes[..24], magic == WalFormat.MagicBigEndian, default);
        if (stored != computed)
        {
            error = $"WAL header checksum {stored} does not match its contents ({computed})";
            return false;
        }
        header = new WalHeader(magic, version, pageSize, BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt32BigEndian(bytes[20..]), stored);
        error = null;
        return true;
    }
}

/// <summary>
/// What one read transaction can see of the WAL: the WAL's salts and its last committed frame (mxFrame) when the
/// transaction began. Every frame up to it is committed and stays in place until the WAL restarts.
/// </summary>
public readonly record struct WalVisibleEnd(uint Salt1, uint Salt2, uint MaxFrame)
{
    /// <summary>A view of no frame: the database file alone.</summary>
    public static WalVisibleEnd NoFrames => default;

    /// <summary>The file offset just past the last visible frame.</summary>
    public long Offset(int pageSize) => WalFormat.HeaderSize + (long)MaxFrame * (WalFormat.FrameHeaderSize + pageSize);

    /// <summary>True when a reader at <paramref name="cursor"/> has read every frame of this view; a view of no frames
    /// (the database file alone) is read by any reader.</summary>
    public bool IsReadBy(WalCursor cursor, int pageSize) =>
        MaxFrame == 0 || cursor.Salt1 == Salt1 && cursor.Salt2 == Salt2 && cursor.Offset >= Offset(pageSize);
}

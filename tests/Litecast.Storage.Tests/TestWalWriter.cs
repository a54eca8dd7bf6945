using System.Buffers.Binary;

namespace Litecast.Storage.Tests;

/// <summary>
/// Builds SQLite WAL files byte by byte, computing the header and running frame checksums itself (independently of
/// Litecast's WalFormat), in either checksum byte order. Used to feed WalReader torn, corrupt and unusual WALs.
/// </summary>
public sealed class TestWalWriter
{
    public const uint MagicLittleEndian = 0x377f0682;
    public const uint MagicBigEndian = 0x377f0683;

    private readonly MemoryStream _bytes = new();
    private uint _s1, _s2;

    public TestWalWriter(int pageSize, uint salt1, uint salt2, bool bigEndian = false, uint checkpointSequence = 0,
        uint? magic = null)
    {
        PageSize = pageSize;
        BigEndian = bigEndian;
        Salt1 = salt1;
        Salt2 = salt2;
        var header = new byte[32];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic ?? (bigEndian ? MagicBigEndian : MagicLittleEndian));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), 3007000);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), pageSize == 65536 ? 1u : (uint)pageSize);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), checkpointSequence);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), salt1);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(20), salt2);
        (_s1, _s2) = Checksum(header.AsSpan(0, 24), bigEndian, 0, 0);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), _s1);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(28), _s2);
        _bytes.Write(header);
    }

    public int PageSize { get; }
    public bool BigEndian { get; }
    public uint Salt1 { get; }
    public uint Salt2 { get; }
    public int FrameSize => 24 + PageSize;
    public long Length => _bytes.Length;

    /// <summary>The running checksum after the last frame (or the header).</summary>
    public (uint S1, uint S2) RunningChecksum => (_s1, _s2);

    /// <summary>A page filled with a pattern derived from <paramref name="fill"/>, so pages differ.</summary>
    public byte[] Page(int fill)
    {
        var page = new byte[PageSize];
        var random = new Random(fill);
        random.NextBytes(page);
        return page;
    }

    /// <summary>Appends a frame; <paramref name="commitSize"/> non-zero makes it a commit frame. Returns its offset.</summary>
    public long Frame(uint pageNumber, byte[] page, uint commitSize = 0, uint? salt1 = null, uint? salt2 = null)
    {
        if (page.Length != PageSize) throw new ArgumentException("wrong page length");
        var offset = _bytes.Length;
        var header = new byte[24];
        BinaryPrimitives.WriteUInt32BigEndian(header, pageNumber);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), commitSize);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), salt1 ?? Salt1);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), salt2 ?? Salt2);
        (_s1, _s2) = Checksum(header.AsSpan(0, 8), BigEndian, _s1, _s2);
        (_s1, _s2) = Checksum(page, BigEndian, _s1, _s2);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), _s1);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(20), _s2);
        _bytes.Write(header);
        _bytes.Write(page);
        return offset;
    }

    public byte[] ToArray() => _bytes.ToArray();

    public void WriteTo(string path) => File.WriteAllBytes(path, ToArray());

    /// <summary>SQLite's WAL checksum (walChecksumBytes), written from the file-format description.</summary>
    public static (uint, uint) Checksum(ReadOnlySpan<byte> data, bool bigEndian, uint s1, uint s2)
    {
        for (var i = 0; i < data.Length; i += 8)
        {
            var x0 = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(data[i..]) : BinaryPrimitives.ReadUInt32LittleEndian(data[i..]);
            var x1 = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..]) : BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]);
            s1 += x0 + s2;
            s2 += x1 + s1;
        }
        return (s1, s2);
    }
}

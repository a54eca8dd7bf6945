using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;
using Litecast.Storage;

namespace Litecast.Messages;

/// <summary>
/// Little-endian reader that validates every read and every length against the bytes that remain, and reports any
/// problem as a <see cref="SerializationException"/> naming the manifest, the field and the offset.
/// Bytes left after the last known field are ignored (fields appended by a later writer).
/// </summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _manifest;
    private int _position;

    public WireReader(ReadOnlySpan<byte> data, string manifest)
    {
        _data = data;
        _manifest = manifest;
        _position = 0;
    }

    private readonly int Remaining => _data.Length - _position;

    /// <summary>True when every byte was read: a field appended by a later writer is absent.</summary>
    public readonly bool AtEnd => Remaining == 0;

    public readonly SerializationException Error(string what) =>
        new($"Litecast message with manifest '{_manifest}': {what} (offset {_position} of {_data.Length} bytes)");

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (count > Remaining)
            throw Error($"truncated payload: field '{field}' needs {count} bytes, {Remaining} left");
        ReadOnlySpan<byte> slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    public byte ReadByte(string field) => Take(1, field)[0];

    public bool ReadBool(string field)
    {
        byte value = Take(1, field)[0];
        return value switch
        {
            0 => false,
            1 => true,
            _ => throw Error($"field '{field}' holds {value}, not a boolean (0 or 1)"),
        };
    }

    public int ReadInt32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));

    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));

    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

    public Guid ReadGuid(string field) => new(Take(16, field));

    /// <summary>Reads a count or length and checks that <paramref name="minElementSize"/> bytes per element remain.</summary>
    private int ReadLength(string field, int minElementSize)
    {
        int length = ReadInt32(field + ".length");
        if (length < 0)
            throw Error($"field '{field}' has negative length {length}");
        if ((long)length * minElementSize > Remaining)
            throw Error($"truncated or corrupt payload: field '{field}' claims {length} elements of at least {minElementSize} bytes, {Remaining} bytes left");
        return length;
    }

    public string ReadString(string field)
    {
        int length = ReadLength(field, 1);
        ReadOnlySpan<byte> bytes = Take(length, field);
        try
        {
            return WireWriter.Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new SerializationException(Error($"field '{field}' is not valid UTF-8").Message, e);
        }
    }

    public byte[] ReadBytes(string field)
    {
        int length = ReadLength(field, 1);
        return Take(length, field).ToArray();
    }

    public PageImage[] ReadPages(string field)
    {
        // Each page image takes at least 8 bytes (page number + data length).
        int count = ReadLength(field, 8);
        var pages = count == 0 ? Array.Empty<PageImage>() : new PageImage[count];
        for (int i = 0; i < count; i++)
        {
            uint pageNumber = ReadUInt32(field + ".pageNumber");
            byte[] data = ReadBytes(field + ".data");
            pages[i] = new PageImage(pageNumber, data);
        }
        return pages;
    }

    public ulong[] ReadUInt64Array(string field)
    {
        int count = ReadLength(field, 8);
        if (count == 0) return Array.Empty<ulong>();
        ReadOnlySpan<byte> bytes = Take(count * 8, field);
        var values = new ulong[count];
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        else
        {
            for (int i = 0; i < count; i++)
                values[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(i * 8, 8));
        }
        return values;
    }

    public uint[] ReadUInt32Array(string field)
    {
        int count = ReadLength(field, 4);
        if (count == 0) return Array.Empty<uint>();
        ReadOnlySpan<byte> bytes = Take(count * 4, field);
        var values = new uint[count];
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        else
        {
            for (int i = 0; i < count; i++)
                values[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(i * 4, 4));
        }
        return values;
    }
}

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Litecast.Storage;

namespace Litecast.Messages;

/// <summary>
/// Little-endian writer over a buffer allocated at the exact payload size, so page bytes are copied once, straight
/// into the array Akka sends. Sizes are computed beforehand with the <c>Size*</c> helpers.
/// </summary>
internal ref struct WireWriter
{
    internal static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Span<byte> _buffer;
    private int _position;

    public WireWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public readonly int Position => _position;

    /// <summary>Bytes taken by a length-prefixed UTF-8 string.</summary>
    public static int SizeOfString(string value) => 4 + Utf8.GetByteCount(value);

    /// <summary>Bytes taken by a list of page images.</summary>
    public static long SizeOfPages(IReadOnlyList<PageImage> pages)
    {
        long size = 4;
        int count = pages.Count;
        for (int i = 0; i < count; i++)
            size += 8 + (long)pages[i].Data.Length;
        return size;
    }

    public void WriteByte(byte value) => _buffer[_position++] = value;

    public void WriteBool(bool value) => _buffer[_position++] = value ? (byte)1 : (byte)0;

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.Slice(_position, 4), value);
        _position += 4;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.Slice(_position, 4), value);
        _position += 4;
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.Slice(_position, 8), value);
        _position += 8;
    }

    public void WriteGuid(Guid value)
    {
        // Guid.TryWriteBytes writes the little-endian layout read back by new Guid(ReadOnlySpan<byte>).
        if (!value.TryWriteBytes(_buffer.Slice(_position, 16)))
            throw new InvalidOperationException("Guid did not fit");
        _position += 16;
    }

    public void WriteString(string value)
    {
        int length = Utf8.GetBytes(value, _buffer.Slice(_position + 4));
        WriteInt32(length);
        _position += length;
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteInt32(value.Length);
        value.CopyTo(_buffer.Slice(_position));
        _position += value.Length;
    }

    public void WritePages(IReadOnlyList<PageImage> pages)
    {
        int count = pages.Count;
        WriteInt32(count);
        for (int i = 0; i < count; i++)
        {
            PageImage page = pages[i];
            WriteUInt32(page.PageNumber);
            WriteBytes(page.Data);
        }
    }

    public void WriteUInt64Array(ulong[] values)
    {
        WriteInt32(values.Length);
        Span<byte> target = _buffer.Slice(_position, values.Length * 8);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(target);
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteUInt64LittleEndian(target.Slice(i * 8, 8), values[i]);
        }
        _position += target.Length;
    }

    public void WriteUInt32Array(uint[] values)
    {
        WriteInt32(values.Length);
        Span<byte> target = _buffer.Slice(_position, values.Length * 4);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(target);
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteUInt32LittleEndian(target.Slice(i * 4, 4), values[i]);
        }
        _position += target.Length;
    }
}

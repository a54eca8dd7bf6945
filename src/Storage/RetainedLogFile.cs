using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Storage;

/// <summary>Where one record of a <see cref="RetainedLogFile"/> lies, and the checksum its bytes must read back with.</summary>
/// <param name="Segment">Number of the segment file holding the record.</param>
/// <param name="Offset">Byte offset of the record in the segment.</param>
/// <param name="PageCount">Pages in the record.</param>
/// <param name="PageSize">Bytes of each page.</param>
/// <param name="Checksum">XxHash3 of the record's bytes as written.</param>
public readonly record struct RetainedRecord(long Segment, long Offset, int PageCount, int PageSize, ulong Checksum)
{
    /// <summary>The record's length on disk: the page numbers, then the pages.</summary>
    public long Length => (long)PageCount * (sizeof(uint) + PageSize);
}

/// <summary>
/// The page data of the primary's retained log, on disk: records appended to segment files
/// <c>segment-&lt;instance&gt;-&lt;n&gt;</c> in one directory, dropped a whole segment at a time. A record is the
/// pages of one batch part, as their page numbers (4 bytes each, little-endian) followed by the pages; everything else
/// (which batch, where, its checksum) stays in the owner's in-memory index, so a record is only ever read back through
/// the <see cref="RetainedRecord"/> its append returned, and the checksum there makes a truncated, overwritten or
/// foreign segment an error rather than wrong pages.
/// </summary>
/// <remarks>
/// A cache, not a durable log: nothing is fsynced, and every segment in the directory, of this instance or a previous
/// process, goes at <see cref="Clear"/>. The instance token in the names keeps a lingering older instance (an actor
/// system still shutting down) from writing into this one's files. Appends are one positional write each, into the OS
/// page cache; the process holds no page data. Thread-safe: one writer appends while readers read.
/// </remarks>
public sealed class RetainedLogFile : IDisposable
{
    private const string Prefix = "segment-";

    private readonly object _gate = new();
    private readonly string _instance = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.NextInt64()));
    // Open segments by number; numbers are handed out in order and dropped oldest first, from _oldest on.
    private readonly Dictionary<long, SafeFileHandle> _segments = new();
    private readonly XxHash3 _appendHash = new();
    private long _oldest;
    private long _current = -1;
    private long _currentLength;
    private long _nextSegment;
    private bool _disposed;

    /// <param name="directory">The directory the segments live in; created on the first append.</param>
    /// <param name="segmentBytes">A segment takes no new record once it holds this many bytes.</param>
    public RetainedLogFile(string directory, long segmentBytes)
    {
        if (segmentBytes <= 0) throw new ArgumentOutOfRangeException(nameof(segmentBytes), segmentBytes, "segments need a positive size");
        Directory = directory;
        SegmentBytes = segmentBytes;
    }

    public string Directory { get; }
    public long SegmentBytes { get; }

    /// <summary>Bytes in the segments this instance holds (evicted records included until their segment goes).</summary>
    public long DiskBytes
    {
        get
        {
            lock (_gate)
            {
                long total = 0;
                foreach (var (number, handle) in _segments) total += number == _current ? _currentLength : RandomAccess.GetLength(handle);
                return total;
            }
        }
    }

    private string PathOf(long segment) => Path.Combine(Directory, $"{Prefix}{_instance}-{segment}");

    /// <summary>
    /// Writes <paramref name="pages"/> (each <paramref name="pageSize"/> bytes) as one record, in a new segment when
    /// the current one is full. Throws <see cref="IOException"/> (disk full, directory gone, with the segment's path) or
    /// <see cref="UnauthorizedAccessException"/>, and <see cref="ArgumentException"/> for a page of another size; a
    /// failed record is never indexed, whatever it left in the file.
    /// </summary>
    public RetainedRecord Append(IReadOnlyList<PageImage> pages, int pageSize)
    {
        var numbers = new byte[sizeof(uint) * pages.Count];
        var buffers = new ReadOnlyMemory<byte>[pages.Count + 1];
        buffers[0] = numbers;
        for (var index = 0; index < pages.Count; index++)
        {
            var page = pages[index];
            if (page.Data.Length != pageSize)
                throw new ArgumentException($"page {page.PageNumber} has {page.Data.Length} bytes; the batch's page size is {pageSize}", nameof(pages));
            BinaryPrimitives.WriteUInt32LittleEndian(numbers.AsSpan(index * sizeof(uint)), page.PageNumber);
            buffers[index + 1] = page.Data;
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _appendHash.Reset();
            foreach (var buffer in buffers) _appendHash.Append(buffer.Span);
            var record = new RetainedRecord(0, 0, pages.Count, pageSize, _appendHash.GetCurrentHashAsUInt64());
            if (pages.Count == 0) return record with { Segment = _current };
            if (_current < 0 || _currentLength >= SegmentBytes) StartSegment();
            try
            {
                // One pwritev of the whole record into the page cache; no fsync, the log is a cache.
                RandomAccess.Write(_segments[_current], buffers, _currentLength);
            }
            catch (IOException e)
            {
                throw new IOException($"{PathOf(_current)}: cannot write {record.Length} bytes at offset {_currentLength}: {e.Message}", e);
            }
            record = record with { Segment = _current, Offset = _currentLength };
            _currentLength += record.Length;
            return record;
        }
    }

    private void StartSegment()
    {
        System.IO.Directory.CreateDirectory(Directory);
        var number = _nextSegment++;
        // CreateNew: a name is never reused, so no handle ever sees another record under an offset it indexed.
        _segments[number] = File.OpenHandle(PathOf(number), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        _current = number;
        _currentLength = 0;
    }

    /// <summary>
    /// Reads <paramref name="record"/> back, checked against its length and checksum. False when its segment was
    /// dropped meanwhile (evicted or cleared: not an error). Throws <see cref="InvalidDataException"/> when the bytes
    /// are short or differ from what was written, and <see cref="IOException"/> when the file cannot be read; both name
    /// the file and offset.
    /// </summary>
    public bool TryRead(RetainedRecord record, out PageImage[] pages)
    {
        pages = [];
        if (record.PageCount == 0) return true;
        SafeFileHandle? handle;
        lock (_gate)
            if (_disposed || !_segments.TryGetValue(record.Segment, out handle)) return false;
        var length = checked((int)record.Length);
        var bytes = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var read = 0;
            try
            {
                while (read < length)
                {
                    var got = RandomAccess.Read(handle, bytes.AsSpan(read, length - read), record.Offset + read);
                    if (got == 0) break;
                    read += got;
                }
            }
            catch (ObjectDisposedException)
            {
                return false; // dropped between the lookup and the read
            }
            catch (IOException e)
            {
                throw new IOException($"{PathOf(record.Segment)}: cannot read {length} bytes at offset {record.Offset}: {e.Message}", e);
            }
            var path = PathOf(record.Segment);
            if (read != length)
                throw new InvalidDataException($"{path}: the record at offset {record.Offset} is {read} of its {length} bytes; the segment was truncated");
            var data = bytes.AsSpan(0, length);
            if (XxHash3.HashToUInt64(data) != record.Checksum)
                throw new InvalidDataException($"{path}: the record at offset {record.Offset} ({length} bytes) does not match its checksum; the segment was overwritten or corrupted");
            pages = new PageImage[record.PageCount];
            var pageData = data[(sizeof(uint) * record.PageCount)..];
            for (var index = 0; index < pages.Length; index++)
                pages[index] = new PageImage(BinaryPrimitives.ReadUInt32LittleEndian(data[(index * sizeof(uint))..]),
                    pageData.Slice(index * record.PageSize, record.PageSize).ToArray());
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Closes and deletes the segments numbered below <paramref name="segment"/>, the current one excepted.</summary>
    public void DropBefore(long segment)
    {
        lock (_gate)
        {
            for (; _oldest < segment && _oldest < _current; _oldest++)
            {
                // A number whose file could not be created was never added.
                if (!_segments.Remove(_oldest, out var handle)) continue;
                handle.Dispose();
                Delete(PathOf(_oldest));
            }
        }
    }

    /// <summary>Closes this instance's segments and deletes every segment in the directory, a previous process's too.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            foreach (var handle in _segments.Values) handle.Dispose();
            _segments.Clear();
            _oldest = _nextSegment;
            _current = -1;
            _currentLength = 0;
            if (!System.IO.Directory.Exists(Directory)) return;
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*")) Delete(file);
        }
    }

    private static void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Removed under us: what it held is gone either way.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path}: cannot delete a retained log segment: {e.Message}", e);
        }
    }

    /// <summary>Closes and deletes the segments (see <see cref="Clear"/>); later appends throw, later reads find nothing.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        Clear();
    }
}

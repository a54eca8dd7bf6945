using System.Buffers.Binary;

namespace Litecast.Storage;

/// <summary>Where a WAL reader stands: the WAL's salts, the offset just past the last commit frame read, and the
/// running checksum at that offset. Persisted by the primary so a restarted Litecast can prove continuity.</summary>
public readonly record struct WalCursor(uint Salt1, uint Salt2, long Offset, WalChecksum Checksum);

/// <summary>The final frame of one page inside a committed WAL transaction.</summary>
public readonly record struct WalPageRef(uint PageNumber, long FrameOffset);

/// <summary>One committed transaction found in the WAL: the last frame of every page it changed (pages past the
/// database size after commit dropped), sorted by page number. Page bytes stay in the WAL until read.</summary>
public sealed record WalTransaction(uint Salt1, uint Salt2, int PageSize, uint PageCount, long StartOffset, long EndOffset,
    WalChecksum EndChecksum, IReadOnlyList<WalPageRef> Pages)
{
    /// <summary>The cursor just past this transaction's commit frame.</summary>
    public WalCursor EndCursor => new(Salt1, Salt2, EndOffset, EndChecksum);
}

/// <summary>What a call to <see cref="WalReader.Read"/> found.</summary>
public enum WalReadOutcome
{
    /// <summary>There is no WAL file, or it is shorter than a header: nothing to read.</summary>
    NoWal,
    /// <summary>The header is not a valid WAL header (SQLite treats such a WAL as empty); see the detail.</summary>
    InvalidHeader,
    /// <summary>The WAL restarted (new salts) since the last read; the reader now follows the new WAL.</summary>
    Restarted,
    /// <summary>The WAL is another file than the one read before (deleted and created again, or the database replaced
    /// with its WAL); the reader now follows the new file. Never continuous: SQLite deletes a WAL only when its last
    /// connection closes, so a WAL that disappeared under a held guard was removed by hand, with the frames in it.</summary>
    Replaced,
    /// <summary>Frames were read (possibly none new).</summary>
    Read,
}

/// <summary>Why reading stopped where it did.</summary>
public enum WalStop
{
    /// <summary>Every byte of the file was consumed.</summary>
    EndOfFile,
    /// <summary>The file ends inside a frame (a write in progress).</summary>
    PartialFrame,
    /// <summary>The next frame carries other salts: left over from before the last WAL restart. Normal.</summary>
    StaleFrame,
    /// <summary>The next frame has this WAL's salts but a wrong checksum: torn, in progress, or corrupt.</summary>
    ChecksumMismatch,
    /// <summary>The caller's transaction limit was reached.</summary>
    Limit,
    /// <summary>The end of what the caller's read transaction can see (<see cref="WalVisibleEnd"/>) was reached; frames
    /// past it were not looked at.</summary>
    VisibleEnd,
}

/// <summary>The result of one read: committed transactions in order, and what stopped the read.</summary>
public sealed record WalReadResult(WalReadOutcome Outcome, IReadOnlyList<WalTransaction> Transactions, WalStop Stop,
    long StopOffset, string? Detail, WalHeader? PreviousHeader, WalHeader? Header);

/// <summary>
/// Reads committed transactions out of a live SQLite WAL file with plain file I/O (SQLite holds no locks on the WAL
/// file, so reading it cannot disturb the application). Frames are validated by salts and the running checksum, and
/// only transactions ending in a commit frame are returned: frames after the last commit (a transaction in progress,
/// or pages spilled by a transaction that later rolled back) are never returned, and are read again from the last
/// commit on the next call.
/// </summary>
public sealed class WalReader : IDisposable
{
    private const int ReadChunkFrames = 64;

    private readonly string _walPath;
    private FileStream? _file;
    // The open file's identity, taken once: an open descriptor's inode never changes, so each read needs one stat of
    // the path only.
    private FileIdentity? _fileIdentity;
    private WalHeader? _header;
    private long _committedOffset;
    private WalChecksum _committedChecksum;
    private byte[] _buffer = [];
    private byte[] _frameBuffer = [];
    private bool _fileSwitched;

    public WalReader(string walPath) => _walPath = walPath;

    /// <summary>The WAL file this reader follows.</summary>
    public string WalPath => _walPath;

    /// <summary>The header of the WAL being followed, once one was read.</summary>
    public WalHeader? Header => _header;

    /// <summary>Where the next read starts: just past the last commit frame returned.</summary>
    public WalCursor Cursor => _header is { } h ? new WalCursor(h.Salt1, h.Salt2, _committedOffset, _committedChecksum) : default;

    /// <summary>Current length of the WAL file, 0 when it does not exist.</summary>
    public long FileLength()
    {
        try { return new FileInfo(_walPath).Length; }
        catch (IOException) { return 0; }
    }

    /// <summary>
    /// True when the reader stands at the end of <paramref name="visible"/>: the same WAL, and every frame it covers
    /// read. A view of no frames (null: SQLite saw no WAL; or a WAL restarted and not yet written) is the database file
    /// alone, which a reader that followed the WAL under a guard has read all of, whatever WAL it last saw (SQLite
    /// restarts a WAL only once every frame is backfilled, and a guard keeps it from backfilling unread frames).
    /// </summary>
    public bool IsAt(WalVisibleEnd? visible) =>
        visible is not { } v || v.MaxFrame == 0
        || _header is { } h && h.Salt1 == v.Salt1 && h.Salt2 == v.Salt2 && _committedOffset == v.Offset(h.PageSize);

    /// <summary>
    /// True when a frame of the WAL being followed (its salts) lies just past the cursor: a transaction being written,
    /// or one whose frames are written and which SQLite has not counted yet, or never will (its writer was killed and
    /// the next writer overwrites it). Frames left from before the WAL's last restart do not count.
    /// </summary>
    public bool HasFramesAfterCursor()
    {
        if (_file is null || _header is not { } header) return false;
        Span<byte> frameHeader = stackalloc byte[WalFormat.FrameHeaderSize];
        return _file.ReadAtMost(_committedOffset, frameHeader) == frameHeader.Length
               && BinaryPrimitives.ReadUInt32BigEndian(frameHeader[8..]) == header.Salt1
               && BinaryPrimitives.ReadUInt32BigEndian(frameHeader[12..]) == header.Salt2;
    }

    /// <summary>The identity of the WAL file the reader follows, once it opened one.</summary>
    public FileIdentity? WalFile => _fileIdentity;

    /// <summary>
    /// Positions the reader at a cursor saved earlier, but only if the WAL still proves it: same salts, and the commit
    /// frame just before the cursor carries the saved running checksum. Returns false (and reads nothing) otherwise.
    /// </summary>
    /// <param name="cursor">The saved cursor.</param>
    /// <param name="guardedWalFile">The WAL file the cursor was read from, given only when a guard has been held without
    /// a gap since the cursor was saved and sees no frame past it. If that file restarted since (other salts, or emptied
    /// by a TRUNCATE checkpoint), the reader follows it from its start, as <see cref="Read"/> does under a guard (see
    /// <see cref="WalReadOutcome.Restarted"/>): SQLite restarts a WAL only once every frame is backfilled, and the guard
    /// kept it from backfilling any frame past the cursor, so the restart lost nothing unread.</param>
    /// <param name="reason">Why the cursor was refused.</param>
    public bool TryResume(WalCursor cursor, FileIdentity? guardedWalFile, out string? reason)
    {
        var file = OpenFile();
        Span<byte> headerBytes = stackalloc byte[WalFormat.HeaderSize];
        if (file is null) { reason = "the WAL file is missing"; return false; }
        var restartedUnderGuard = guardedWalFile is { } guarded && _fileIdentity == guarded;
        if (file.ReadAtMost(0, headerBytes) < WalFormat.HeaderSize)
        {
            if (!restartedUnderGuard) { reason = "the WAL file is empty"; return false; }
            // Emptied under the guard: the next read takes the first header written as the WAL's start.
            reason = null;
            return true;
        }
        if (!WalHeader.TryParse(headerBytes, out var header, out var error)) { reason = error; return false; }
        if (header.Salt1 != cursor.Salt1 || header.Salt2 != cursor.Salt2)
        {
            if (!restartedUnderGuard)
            {
                reason = $"WAL salts changed from {cursor.Salt1:x8}/{cursor.Salt2:x8} to {header.Salt1:x8}/{header.Salt2:x8}";
                return false;
            }
            StandAt(header, WalFormat.HeaderSize, header.Checksum);
            reason = null;
            return true;
        }
        var frameSize = WalFormat.FrameHeaderSize + header.PageSize;
        if (cursor.Offset < WalFormat.HeaderSize || (cursor.Offset - WalFormat.HeaderSize) % frameSize != 0 || cursor.Offset > file.Length)
        {
            reason = $"saved WAL offset {cursor.Offset} is not a frame boundary inside the {file.Length}-byte WAL";
            return false;
        }
        if (cursor.Offset == WalFormat.HeaderSize)
        {
            if (header.Checksum != cursor.Checksum) { reason = "WAL header checksum differs from the saved one"; return false; }
        }
        else
        {
            Span<byte> frameHeader = stackalloc byte[WalFormat.FrameHeaderSize];
            if (file.ReadAtMost(cursor.Offset - frameSize, frameHeader) < WalFormat.FrameHeaderSize)
            {
                reason = $"the WAL was truncated below the saved offset {cursor.Offset}";
                return false;
            }
            var commitSize = BinaryPrimitives.ReadUInt32BigEndian(frameHeader[4..]);
            var checksum = new WalChecksum(BinaryPrimitives.ReadUInt32BigEndian(frameHeader[16..]), BinaryPrimitives.ReadUInt32BigEndian(frameHeader[20..]));
            if (commitSize == 0 || checksum != cursor.Checksum)
            {
                reason = $"the frame before WAL offset {cursor.Offset} is not the saved commit frame (checksum {checksum}, saved {cursor.Checksum})";
                return false;
            }
        }
        StandAt(header, cursor.Offset, cursor.Checksum);
        reason = null;
        return true;
    }

    /// <summary>
    /// Reads the committed transactions that follow the cursor, at most <paramref name="maxTransactions"/>, and no
    /// further than <paramref name="visible"/>: a view of another WAL (other salts) or of no frame shows none of this
    /// file's frames. Without a view the reader goes to the end of the file, which only a WAL no live SQLite writes
    /// allows: a commit's frames are in the file before SQLite counts them, and one it never counts (its writer killed
    /// first) is overwritten by the next writer. When the WAL restarted since the last read, returns
    /// <see cref="WalReadOutcome.Restarted"/> with no transactions; the caller decides about continuity and calls again
    /// to read the new WAL.
    /// </summary>
    public WalReadResult Read(int maxTransactions = int.MaxValue, WalVisibleEnd? visible = null)
    {
        var file = OpenFile();
        // One read, not a length check then a read: a TRUNCATE checkpoint (the application's, once Litecast's guard
        // reads the database file only) can empty the WAL in between, and that is a WAL with nothing to read.
        Span<byte> headerBytes = stackalloc byte[WalFormat.HeaderSize];
        if (file is null || file.ReadAtMost(0, headerBytes) < WalFormat.HeaderSize)
            return new WalReadResult(WalReadOutcome.NoWal, [], WalStop.EndOfFile, 0, null, _header, null);
        if (!WalHeader.TryParse(headerBytes, out var header, out var error))
            return new WalReadResult(WalReadOutcome.InvalidHeader, [], WalStop.EndOfFile, 0, $"{_walPath}: {error}", _header, null);

        var replaced = _fileSwitched;
        _fileSwitched = false;
        if (_header is not { } current || replaced || current.Salt1 != header.Salt1 || current.Salt2 != header.Salt2)
        {
            var previous = _header;
            StandAt(header, WalFormat.HeaderSize, header.Checksum);
            if (previous is not null)
                return new WalReadResult(replaced ? WalReadOutcome.Replaced : WalReadOutcome.Restarted, [], WalStop.EndOfFile,
                    WalFormat.HeaderSize, null, previous, header);
        }
        var end = visible switch
        {
            null => long.MaxValue,
            { MaxFrame: > 0 } v when v.Salt1 == header.Salt1 && v.Salt2 == header.Salt2 => v.Offset(header.PageSize),
            _ => WalFormat.HeaderSize,
        };
        return ReadFrames(file, header, maxTransactions, end);
    }

    /// <summary>Positions the reader in the WAL of <paramref name="header"/>: the next read starts at
    /// <paramref name="offset"/>, just past a commit frame (or the header) whose running checksum is
    /// <paramref name="checksum"/>.</summary>
    private void StandAt(WalHeader header, long offset, WalChecksum checksum)
    {
        _header = header;
        _committedOffset = offset;
        _committedChecksum = checksum;
    }

    private WalReadResult ReadFrames(FileStream file, WalHeader header, int maxTransactions, long end)
    {
        var frameSize = WalFormat.FrameHeaderSize + header.PageSize;
        var chunkBytes = frameSize * ReadChunkFrames;
        if (_buffer.Length < chunkBytes) _buffer = new byte[chunkBytes];

        var transactions = new List<WalTransaction>();
        var pending = new Dictionary<uint, long>();
        var offset = _committedOffset;
        var transactionStart = offset;
        var checksum = _committedChecksum;
        var length = Math.Min(file.Length, end);
        WalStop stop = WalStop.EndOfFile;
        string? detail = null;

        while (true)
        {
            if (transactions.Count >= maxTransactions) { stop = WalStop.Limit; break; }
            var available = length - offset;
            if (available < frameSize)
            {
                stop = offset >= end ? WalStop.VisibleEnd : available > 0 ? WalStop.PartialFrame : WalStop.EndOfFile;
                break;
            }
            var frames = (int)Math.Min(ReadChunkFrames, available / frameSize);
            var bytes = _buffer.AsSpan(0, frames * frameSize);
            var read = file.ReadAtMost(offset, bytes);
            frames = read / frameSize;
            if (frames == 0) { stop = WalStop.PartialFrame; break; }

            var chunkStop = false;
            for (var i = 0; i < frames && !chunkStop; i++)
            {
                var frame = bytes.Slice(i * frameSize, frameSize);
                var pageNumber = BinaryPrimitives.ReadUInt32BigEndian(frame);
                var commitSize = BinaryPrimitives.ReadUInt32BigEndian(frame[4..]);
                var salt1 = BinaryPrimitives.ReadUInt32BigEndian(frame[8..]);
                var salt2 = BinaryPrimitives.ReadUInt32BigEndian(frame[12..]);
                if (salt1 != header.Salt1 || salt2 != header.Salt2)
                {
                    stop = WalStop.StaleFrame;
                    chunkStop = true;
                    break;
                }
                var next = WalFormat.Checksum(frame[..8], header.BigEndianChecksums, checksum);
                next = WalFormat.Checksum(frame[WalFormat.FrameHeaderSize..], header.BigEndianChecksums, next);
                var stored = new WalChecksum(BinaryPrimitives.ReadUInt32BigEndian(frame[16..]), BinaryPrimitives.ReadUInt32BigEndian(frame[20..]));
                if (stored != next || pageNumber == 0)
                {
                    stop = WalStop.ChecksumMismatch;
                    detail = $"{_walPath}: frame at offset {offset} (page {pageNumber}) fails its checksum";
                    chunkStop = true;
                    break;
                }
                checksum = next;
                pending[pageNumber] = offset;
                offset += frameSize;
                if (commitSize != 0)
                {
                    transactions.Add(Commit(header, commitSize, transactionStart, offset, checksum, pending));
                    pending.Clear();
                    transactionStart = offset;
                    _committedOffset = offset;
                    _committedChecksum = checksum;
                    if (transactions.Count >= maxTransactions) { stop = WalStop.Limit; chunkStop = true; }
                }
            }
            if (chunkStop) break;
        }
        return new WalReadResult(WalReadOutcome.Read, transactions, stop, offset, detail, null, header);
    }

    private static WalTransaction Commit(WalHeader header, uint pageCount, long start, long end, WalChecksum checksum,
        Dictionary<uint, long> frames)
    {
        var pages = new List<WalPageRef>(frames.Count);
        foreach (var (pageNumber, frameOffset) in frames)
            if (pageNumber <= pageCount) pages.Add(new WalPageRef(pageNumber, frameOffset));
        pages.Sort(static (a, b) => a.PageNumber.CompareTo(b.PageNumber));
        return new WalTransaction(header.Salt1, header.Salt2, header.PageSize, pageCount, start, end, checksum, pages);
    }

    /// <summary>
    /// Reads every committed transaction up to <paramref name="visible"/> (the guard's view), collecting them if asked.
    /// False when the reader did not stop exactly there: the WAL restarted under a guard that read the database file
    /// only (its view is of the previous WAL). Throws when a frame SQLite counts as committed fails its checksum: no
    /// rotation gets past it.
    /// </summary>
    public bool ReadUpTo(WalVisibleEnd visible, List<WalTransaction>? collect)
    {
        while (true)
        {
            var result = Read(1024, visible);
            if (result.Outcome is WalReadOutcome.Restarted or WalReadOutcome.Replaced) return false;
            collect?.AddRange(result.Transactions);
            if (result.Stop == WalStop.Limit) continue;
            if (IsAt(visible)) return true;
            if (result.Stop == WalStop.ChecksumMismatch)
                throw new WalStalledException($"{_walPath}: the committed WAL cannot be read: {result.Detail}", result.Detail ?? "checksum mismatch");
            return false;
        }
    }

    /// <summary>
    /// Reads the bytes of one page from its frame, checking that the frame still belongs to the transaction's WAL
    /// (same salts, same page number): a WAL that restarted and overwrote it is an error, never wrong data.
    /// </summary>
    public byte[] ReadPage(WalTransaction transaction, WalPageRef page)
    {
        // The file opened by the last Read: its identity was checked there, and the salts below prove the frame.
        var file = _file ?? OpenFile() ?? throw new IOException($"{_walPath} disappeared while reading page {page.PageNumber}");
        var frameSize = WalFormat.FrameHeaderSize + transaction.PageSize;
        if (_frameBuffer.Length != frameSize) _frameBuffer = new byte[frameSize];
        var frame = _frameBuffer.AsSpan();
        file.ReadExactly(page.FrameOffset, frame);
        var pageNumber = BinaryPrimitives.ReadUInt32BigEndian(frame);
        var salt1 = BinaryPrimitives.ReadUInt32BigEndian(frame[8..]);
        var salt2 = BinaryPrimitives.ReadUInt32BigEndian(frame[12..]);
        if (pageNumber != page.PageNumber || salt1 != transaction.Salt1 || salt2 != transaction.Salt2)
            throw new WalOverwrittenException(
                $"{_walPath}: frame at offset {page.FrameOffset} no longer holds page {page.PageNumber} of WAL {transaction.Salt1:x8}/{transaction.Salt2:x8}");
        return frame[WalFormat.FrameHeaderSize..].ToArray();
    }

    /// <summary>Reads a transaction's pages in parts of at most <paramref name="maxPartBytes"/> bytes (at least one page).</summary>
    public IEnumerable<IReadOnlyList<PageImage>> ReadPageParts(WalTransaction transaction, int maxPartBytes)
    {
        var perPart = Math.Max(1, maxPartBytes / transaction.PageSize);
        for (var start = 0; start < transaction.Pages.Count; start += perPart)
        {
            var count = Math.Min(perPart, transaction.Pages.Count - start);
            var part = new PageImage[count];
            for (var i = 0; i < count; i++)
            {
                var page = transaction.Pages[start + i];
                part[i] = new PageImage(page.PageNumber, ReadPage(transaction, page));
            }
            yield return part;
        }
    }

    private FileStream? OpenFile()
    {
        if (_file is not null)
        {
            // The application may delete the WAL (last connection closed) and SQLite may create a new one: follow the
            // path, not an old inode.
            if (_fileIdentity is { } open && FileIdentity.Of(_walPath) == open) return _file;
            _file.Dispose();
            _file = null;
            _fileIdentity = null;
        }
        try
        {
            // A file opened after one was read is another WAL file, whatever its header says (see Replaced).
            _fileSwitched = _header is not null;
            _file = new FileStream(_walPath, new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete,
                Options = FileOptions.RandomAccess, BufferSize = 0,
            });
            _fileIdentity = FileIdentity.Of(_file);
            return _file;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public void Dispose()
    {
        _file?.Dispose();
        _file = null;
        _fileIdentity = null;
    }
}

/// <summary>A frame the reader needed was overwritten by a WAL restart: continuity is lost.</summary>
public sealed class WalOverwrittenException(string message) : IOException(message);

/// <summary>A frame SQLite counts as committed fails its checksum: the WAL cannot be read past it.</summary>
public sealed class WalStalledException(string message, string detail) : IOException(message)
{
    /// <summary>What the reader found, for the status.</summary>
    public string Detail { get; } = detail;
}

internal static class FileStreamExtensions
{
    public static void ReadExactly(this FileStream file, long offset, Span<byte> buffer)
    {
        var read = RandomAccess.Read(file.SafeFileHandle, buffer, offset);
        if (read != buffer.Length)
            throw new EndOfStreamException($"{file.Name}: wanted {buffer.Length} bytes at offset {offset}, file has {read}");
    }

    public static int ReadAtMost(this FileStream file, long offset, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(file.SafeFileHandle, buffer[total..], offset + total);
            if (read == 0) break;
            total += read;
        }
        return total;
    }
}

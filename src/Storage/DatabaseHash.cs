using System.IO.Hashing;
using Microsoft.Data.Sqlite;

namespace Litecast.Storage;

/// <summary>
/// Whole-database hash: XOR over pages of XxHash3(page, seed = page number). The page hash is non-linear, so two pages
/// that swapped contents change the total (an XOR of CRCs would not). Page 1's header bytes that each SQLite rewrites
/// on its own (change counter 24-27, version-valid-for 92-95, SQLite version 96-99) are hashed as zeros, and the
/// lock-byte page (never written by SQLite) is left out. Per-page hashes are kept (8 bytes a page) so an update costs
/// O(pages changed).
/// </summary>
public sealed class DatabaseHash
{
    // Invariant: every entry past PageCount is 0, so a page that extends the database starts from an empty slot.
    private ulong[] _pages = [];
    private byte[]? _zeroPage;

    public DatabaseHash(int pageSize)
    {
        if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "page size must be a power of two from 512 to 65536");
        PageSize = pageSize;
    }

    public int PageSize { get; }

    /// <summary>Number of pages in the database.</summary>
    public uint PageCount { get; private set; }

    /// <summary>The whole-database hash.</summary>
    public ulong Value { get; private set; }

    /// <summary>The page number of the lock-byte page for a page size (the page holding file offset 2^30).</summary>
    public static uint LockBytePage(int pageSize) => (uint)(0x40000000L / pageSize) + 1;

    /// <summary>Hash of one page, with page 1 normalised; 0 for the lock-byte page.</summary>
    public static ulong PageHash(uint pageNumber, ReadOnlySpan<byte> data)
    {
        if (pageNumber == LockBytePage(data.Length)) return 0;
        if (pageNumber != 1) return XxHash3.HashToUInt64(data, pageNumber);
        var normalised = data.ToArray();
        normalised.AsSpan(24, 4).Clear();
        normalised.AsSpan(92, 8).Clear();
        return XxHash3.HashToUInt64(normalised, pageNumber);
    }

    /// <summary>The hash of page <paramref name="pageNumber"/> as recorded; 0 past the end.</summary>
    public ulong PageHashAt(uint pageNumber) => pageNumber >= 1 && pageNumber <= PageCount ? _pages[pageNumber - 1] : 0;

    /// <summary>A copy of the per-page hashes of pages <paramref name="first"/>..first+count-1 (0 past the end).</summary>
    public ulong[] PageHashes(uint first, int count)
    {
        var result = new ulong[count];
        for (var i = 0; i < count; i++) result[i] = PageHashAt(first + (uint)i);
        return result;
    }

    /// <summary>An independent copy: the per-page hashes, the page count and the total.</summary>
    public DatabaseHash Clone()
    {
        var copy = new DatabaseHash(PageSize) { PageCount = PageCount, Value = Value };
        copy._pages = _pages[..(int)PageCount];
        return copy;
    }

    /// <summary>Records the new image of a page; the database grows to include it if needed.</summary>
    public void SetPage(uint pageNumber, ReadOnlySpan<byte> data)
    {
        if (pageNumber == 0) throw new ArgumentOutOfRangeException(nameof(pageNumber), "page numbers start at 1");
        if (data.Length != PageSize) throw new ArgumentException($"page {pageNumber} is {data.Length} bytes, page size is {PageSize}", nameof(data));
        SetPageHash(pageNumber, PageHash(pageNumber, data));
    }

    /// <summary>Records a page's hash already computed with <see cref="PageHash"/> (a caller that checked it first).</summary>
    public void SetPageHash(uint pageNumber, ulong hash)
    {
        if (pageNumber == 0) throw new ArgumentOutOfRangeException(nameof(pageNumber), "page numbers start at 1");
        // A page appended at the end needs no zero image first: only the pages between the old end and it do.
        if (pageNumber > PageCount) Grow(pageNumber, zeroPagesThrough: pageNumber - 1);
        Value ^= _pages[pageNumber - 1] ^ hash;
        _pages[pageNumber - 1] = hash;
    }

    /// <summary>Records consecutive pages from <paramref name="firstPage"/>, given as one span of whole pages.</summary>
    public void SetPages(uint firstPage, ReadOnlySpan<byte> pages)
    {
        if (pages.Length % PageSize != 0) throw new ArgumentException($"{pages.Length} bytes are not whole pages of {PageSize}", nameof(pages));
        for (var i = 0; i < pages.Length / PageSize; i++) SetPage(firstPage + (uint)i, pages.Slice(i * PageSize, PageSize));
    }

    /// <summary>Applies a committed batch: the pages, then the size after commit.</summary>
    public void Apply(IEnumerable<PageImage> pages, uint pageCount)
    {
        foreach (var page in pages) SetPage(page.PageNumber, page.Data);
        SetPageCount(pageCount);
    }

    /// <summary>Sets the database size: pages past it leave the hash; pages added without an image count as zeros.</summary>
    public void SetPageCount(uint pageCount)
    {
        if (pageCount > PageCount) { Grow(pageCount, zeroPagesThrough: pageCount); return; }
        for (var p = pageCount + 1; p <= PageCount; p++)
        {
            Value ^= _pages[p - 1];
            _pages[p - 1] = 0;
        }
        PageCount = pageCount;
    }

    /// <summary>Extends the database to <paramref name="pageCount"/> pages; the new ones up to
    /// <paramref name="zeroPagesThrough"/> count as zeros, any after it keep an empty slot for the caller to set.</summary>
    private void Grow(uint pageCount, uint zeroPagesThrough)
    {
        if (_pages.Length < pageCount) Array.Resize(ref _pages, (int)Math.Max(pageCount, Math.Min(int.MaxValue, (long)_pages.Length * 2)));
        if (zeroPagesThrough > PageCount)
        {
            var zero = _zeroPage ??= new byte[PageSize];
            for (var p = PageCount + 1; p <= zeroPagesThrough; p++)
            {
                var hash = PageHash(p, zero);
                _pages[p - 1] = hash;
                Value ^= hash;
            }
        }
        PageCount = pageCount;
    }

    /// <summary>
    /// Hashes every page of the main database as the connection's read transaction sees it: the one it has open, or
    /// one this starts and ends. The pages are read in large blocks (<see cref="SnapshotPages"/>), most of them
    /// straight from the database file; <paramref name="cancellation"/> stops it between two blocks.
    /// </summary>
    public static DatabaseHash Compute(SqliteConnection connection, CancellationToken cancellation = default)
    {
        var ownTransaction = SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) != 0;
        if (ownTransaction) connection.Execute("BEGIN");
        try
        {
            // The first read of the transaction fixes its snapshot; the page size cannot change within it.
            var pageCount = (uint)connection.Scalar<long>("PRAGMA page_count");
            var hash = new DatabaseHash(connection.Scalar<int>("PRAGMA page_size"));
            SnapshotPages.Read(connection, hash.PageSize, pageCount, hash.SetPages, cancellation);
            hash.SetPageCount(pageCount);
            return hash;
        }
        finally
        {
            if (ownTransaction) connection.Execute("ROLLBACK");
        }
    }

    public override string ToString() => $"{Value:x16}";
}

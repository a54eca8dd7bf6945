using System.Buffers;
using Litecast.Storage;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Actors.Replica;

/// <summary>
/// One range of a resync's snapshot fetched outside the cluster's messages and staged, on a thread-pool thread rather
/// than the applier's. Staged on the applier's thread, each 4 MiB range's write (10-30 ms into the page cache here)
/// held up the next range's demand, and so its fetch: the network and the disk took turns. The staging file is written
/// at distinct offsets only (one range per task), so the tasks of a session need no lock between them.
/// </summary>
internal static class FetchedRange
{
    /// <summary>
    /// Fetches the pages <paramref name="firstPage"/>.. (one per offered hash) into a pooled buffer, checks every page
    /// against the hash the primary offered, and only then writes them at their offsets in <paramref name="staging"/>
    /// and starts their writeback. Throws, with the page or the step that failed, when the range was not staged
    /// whole; the applier then asks for it through the cluster, whose pages overwrite whatever part of it was written.
    /// </summary>
    public static async Task StageAsync(ISnapshotFetcher fetcher, Guid session, uint firstPage, ulong[] offeredHashes, int pageSize,
        SafeFileHandle staging, CancellationToken cancellation)
    {
        var length = offeredHashes.Length * pageSize;
        var offset = (long)(firstPage - 1) * pageSize;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await fetcher.FetchAsync(session, offset, buffer.AsMemory(0, length), cancellation);
            for (var i = 0; i < offeredHashes.Length; i++)
            {
                var pageNumber = firstPage + (uint)i;
                if (DatabaseHash.PageHash(pageNumber, buffer.AsSpan(i * pageSize, pageSize)) != offeredHashes[i])
                    throw new InvalidDataException($"page {pageNumber} does not have the hash the primary offered for it");
            }
            cancellation.ThrowIfCancellationRequested();
            try
            {
                RandomAccess.Write(staging, buffer.AsSpan(0, length), offset);
            }
            catch (IOException e)
            {
                throw new IOException($"staging pages {firstPage}..{firstPage + offeredHashes.Length - 1}: {e.Message}");
            }
            FileWriteback.Start(staging, offset, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

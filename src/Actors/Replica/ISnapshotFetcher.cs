namespace Litecast.Actors.Replica;

/// <summary>
/// Reads byte ranges of a resync session's snapshot from the primary outside the cluster's messages (the host fetches
/// them from the primary's admin endpoint over HTTP). A full resync through 256 KiB cluster messages moved about
/// 110-170 MB/s on loopback here, a tenth of what the disk writes: the offers and demands stay on the cluster, where
/// they are flow control, and a range the replica needs whole is fetched this way instead.
/// </summary>
public interface ISnapshotFetcher
{
    /// <summary>Fills <paramref name="destination"/> with the snapshot's bytes from <paramref name="offset"/>, exactly
    /// its length. Throws when the primary does not serve them (no such session, an older primary, the network); the
    /// replica then asks for the pages through the cluster.</summary>
    Task FetchAsync(Guid session, long offset, Memory<byte> destination, CancellationToken cancellation);
}

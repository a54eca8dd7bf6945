namespace Litecast.Storage;

/// <summary>
/// The full content of one database page as it is after a commit: what the WAL reader reads, the page writer writes,
/// and the replication messages carry (PageBatch, ResyncPages).
/// </summary>
/// <param name="PageNumber">1-based SQLite page number.</param>
/// <param name="Data">The page's bytes; its length is the database page size.</param>
public sealed record PageImage(uint PageNumber, byte[] Data);

namespace Litecast.Messages;

/// <summary>
/// The full content of one database page as it is after a commit (a value carried inside
/// <see cref="PageBatch"/> and <see cref="ResyncPages"/>, never sent on its own).
/// </summary>
/// <param name="PageNumber">1-based SQLite page number.</param>
/// <param name="Data">The page's bytes; its length is the database page size.</param>
public sealed record PageImage(uint PageNumber, byte[] Data);

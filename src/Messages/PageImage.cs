namespace Litecast.Messages;

/// <summary>The full image of one database page: its 1-based page number and its bytes (one page size long).</summary>
public sealed record PageImage(uint PageNumber, byte[] Data);

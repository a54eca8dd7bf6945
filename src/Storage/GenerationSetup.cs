namespace Litecast.Storage;

/// <summary>What the primary's tailer finds when it starts (or starts over).</summary>
/// <param name="Snapshot">The database hashed at exactly where the reader stopped.</param>
/// <param name="Identity">The database file's identity at that moment.</param>
/// <param name="Resumed">When the saved generation continues: the transactions committed after the saved position
/// (while Litecast was down), read but not yet published.</param>
/// <param name="Discontinuity">Why the saved generation cannot continue (a new one starts); null when it continues.</param>
public sealed record GenerationStart(SnapshotInfo Snapshot, FileIdentity? Identity, IReadOnlyList<WalTransaction> Resumed, string? Discontinuity);

/// <summary>
/// Sets up the primary's generation: the guard's next view is fixed first, the reader goes exactly that far, and the
/// database is hashed at a snapshot that shares the view (without the write lock). The saved generation continues when
/// the WAL proves it (same salts, the saved commit frame with the saved checksum, the same database file, the hashes
/// agree, no VACUUM shrank the database meanwhile); otherwise a new one starts.
/// </summary>
public static class GenerationSetup
{
    /// <summary>
    /// One attempt with a fresh <paramref name="reader"/>; null when the snapshot could not be pinned where the reader
    /// stopped (the WAL restarted meanwhile), and the caller tries again with a new reader.
    /// </summary>
    public static GenerationStart? TryStart(string databasePath, WalReader reader, WalGuard guard, PrimaryPosition? saved)
    {
        var identity = FileIdentity.Of(databasePath);
        string? discontinuity = saved is null ? "no saved position" : null;
        var walEmpty = false;
        var resumed = new List<WalTransaction>();

        var visible = guard.BeginRotation();
        if (saved is not null)
        {
            var cursor = new WalCursor(saved.Salt1, saved.Salt2, saved.WalOffset, new WalChecksum(saved.Checksum1, saved.Checksum2));
            if (identity is not { } id || id.Device != saved.DatabaseDevice || id.Inode != saved.DatabaseInode)
                discontinuity = "the database file was replaced";
            else if (reader.FileLength() < WalFormat.HeaderSize)
                walEmpty = true;
            else if (!reader.TryResume(cursor, null, out var reason))
                discontinuity = reason;
        }
        var readAll = reader.ReadUpTo(visible, discontinuity is null ? resumed : null);
        guard.CompleteRotation();
        using var snapshot = readAll ? PrimarySnapshot.TryPin(databasePath, guard) : null;
        if (snapshot is null) return null;
        var info = snapshot.CopyTo(null);

        if (discontinuity is null && saved is not null)
        {
            if (walEmpty && info.Hash.Value != saved.Hash)
                discontinuity = $"the WAL is empty and the database hash {info.Hash} differs from the saved {saved.Hash:x16}";
            else if (resumed.Count == 0 && info.Hash.Value != saved.Hash)
                discontinuity = $"the database hash {info.Hash} differs from the saved {saved.Hash:x16}";
            else if (resumed.Count > 0 && ShrinksInside(resumed, saved.PageCount))
                discontinuity = "a VACUUM shrank the database while Litecast was down";
        }
        return new GenerationStart(info, identity, discontinuity is null ? resumed : [], discontinuity);
    }

    /// <summary>True when a transaction other than the last shrank the database: the run's final images alone would
    /// not reproduce the pages that later transactions grew back into.</summary>
    private static bool ShrinksInside(List<WalTransaction> transactions, uint startPageCount)
    {
        var before = startPageCount;
        for (var i = 0; i < transactions.Count - 1; i++)
        {
            if (!TransactionRun.MayContinueAfter(before, transactions[i].PageCount)) return true;
            before = transactions[i].PageCount;
        }
        return false;
    }
}

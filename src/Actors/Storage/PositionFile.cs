using System.Text.Json;
using System.Text.Json.Serialization;

namespace Litecast.Actors.Storage;

/// <summary>Where a replica stands: the primary's generation and txid it has applied, and the database hash there.</summary>
public sealed record ReplicaPosition(ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount);

/// <summary>Where a primary stands, saved so a restarted Litecast can prove the WAL continued (the continuity rule).</summary>
public sealed record PrimaryPosition(ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount,
    uint Salt1, uint Salt2, long WalOffset, uint Checksum1, uint Checksum2, ulong DatabaseDevice, ulong DatabaseInode);

/// <summary>
/// Litecast's small state files, kept in a directory beside the database (<c>.&lt;name&gt;-litecast/</c>). Written
/// atomically (temporary file, then rename), so a crash leaves the old or the new content, never a mix.
/// </summary>
public static class PositionFile
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.Strict,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>The state directory of a database: <c>&lt;dir&gt;/.&lt;file name&gt;-litecast</c>.</summary>
    public static string StateDirectory(string databasePath)
    {
        var full = Path.GetFullPath(databasePath);
        return Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "-litecast");
    }

    public static T? Read<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: unreadable position file ({e.Message}); delete it to start over", e);
        }
    }

    public static void Write<T>(string path, T value, bool durable)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(file, value, Options);
            if (durable) file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }
}

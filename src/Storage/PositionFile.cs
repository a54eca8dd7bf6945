using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Win32.SafeHandles;

namespace Litecast.Storage;

/// <summary>Where a replica stands: the primary's generation and txid it has applied, and the database hash there.</summary>
public sealed record ReplicaPosition(ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount);

/// <summary>Where a primary stands, saved so a restarted Litecast can prove the WAL continued (the continuity rule).</summary>
public sealed record PrimaryPosition(ulong Generation, ulong Txid, ulong Hash, int PageSize, uint PageCount,
    uint Salt1, uint Salt2, long WalOffset, uint Checksum1, uint Checksum2, ulong DatabaseDevice, ulong DatabaseInode);

/// <summary>
/// The primary's txid reservation, saved durably before any txid above the previous ceiling is published. The position
/// itself is saved lazily, so after a crash it can lag what replicas already hold; a new generation starts above the
/// ceiling, so txids keep growing across generations and an old generation never looks as if it reached a new bookmark.
/// </summary>
public sealed record TxidCeiling(ulong Ceiling);

/// <summary>
/// Litecast's small state files, kept in a directory beside the database (<c>.&lt;name&gt;-litecast/</c>).
/// <see cref="Write{T}"/> replaces a file atomically (temporary file, then rename), so a crash leaves the old or the new
/// content, never a mix; <see cref="PositionFileWriter"/> rewrites one in place, for positions saved on every commit.
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

    internal static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

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

/// <summary>
/// Rewrites one position file in place (one positioned write of a few hundred bytes at offset 0, padded with spaces to
/// the file's length so no truncation is needed). A replica saves its position after every applied batch; replacing
/// the file by rename each time costs milliseconds on ext4, which flushes the new file's data at the rename.
/// </summary>
/// <remarks>
/// Safe because a replica's saved position is only a claim: at startup it is checked against the hash of the file
/// itself, and a position that is stale, ahead of the data or unreadable (a write torn by a power loss) leads to a
/// resync from the primary, never to serving a wrong state.
/// </remarks>
public sealed class PositionFileWriter(string path) : IDisposable
{
    private SafeFileHandle? _file;
    private long _length;

    public void Write<T>(T value, bool durable)
    {
        if (_file is null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
            _length = RandomAccess.GetLength(_file);
        }
        var json = PositionFile.Serialize(value);
        var content = json;
        if (json.Length < _length)
        {
            content = new byte[_length];
            json.CopyTo(content, 0);
            content.AsSpan(json.Length).Fill((byte)' ');
        }
        RandomAccess.Write(_file, content, 0);
        _length = Math.Max(_length, content.Length);
        if (durable) RandomAccess.FlushToDisk(_file);
    }

    public void Dispose()
    {
        _file?.Dispose();
        _file = null;
    }
}

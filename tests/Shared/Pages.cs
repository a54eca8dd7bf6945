using Litecast.Storage;

namespace Litecast.Tests.Shared;

/// <summary>Shared by the cluster and end-to-end tests and the chaos harness (linked into each). Page-by-page comparison
/// of two databases through SQLite, page 1's per-library header bytes normalised. This half needs no test framework;
/// the assertions are in Pages.Assert.cs.</summary>
public static partial class Pages
{
    /// <summary>Every page, in order. Page 1's bytes 24-27 (file change counter) and 92-99 (version-valid-for, the
    /// writing library's version number) are cleared: SQLite stamps them per library and per file, so they are not
    /// replicated content.</summary>
    public static List<byte[]> Read(string path)
    {
        var pages = ReadRaw(path);
        if (pages.Count > 0)
        {
            pages[0].AsSpan(24, 4).Clear();
            pages[0].AsSpan(92, 8).Clear();
        }
        return pages;
    }

    /// <summary>Every page exactly as stored, in order, page 1 included as it is.</summary>
    public static List<byte[]> ReadRaw(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT data FROM sqlite_dbpage ORDER BY pgno";
        using var reader = command.ExecuteReader();
        var pages = new List<byte[]>();
        while (reader.Read()) pages.Add(reader.GetFieldValue<byte[]>(0));
        return pages;
    }
}

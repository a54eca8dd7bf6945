using Litecast.Actors.Storage;

namespace Litecast.Tests.Shared;

/// <summary>Shared by the cluster and end-to-end tests (linked into both). Page-by-page comparison of two databases through SQLite, page 1's per-library header bytes normalised.</summary>
public static class Pages
{
    public static List<byte[]> Read(string path)
    {
        using var connection = SqliteConnections.OpenReadOnly(path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT data FROM sqlite_dbpage ORDER BY pgno";
        using var reader = command.ExecuteReader();
        var pages = new List<byte[]>();
        while (reader.Read()) pages.Add(reader.GetFieldValue<byte[]>(0));
        if (pages.Count > 0)
        {
            pages[0].AsSpan(24, 4).Clear();
            pages[0].AsSpan(92, 8).Clear();
        }
        return pages;
    }

    public static void AssertIdentical(string primary, string replica)
    {
        var expected = Read(primary);
        var actual = Read(replica);
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"page {i + 1} of {replica} differs from the primary");
        using var check = SqliteConnections.OpenReadOnly(replica);
        Assert.Equal("ok", check.Scalar<string>("PRAGMA integrity_check"));
        using var source = SqliteConnections.OpenReadOnly(primary);
        Assert.Equal(DatabaseHash.Compute(source).Value, DatabaseHash.Compute(check).Value);
    }
}

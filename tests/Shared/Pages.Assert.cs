using Litecast.Storage;

namespace Litecast.Tests.Shared;

public static partial class Pages
{
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

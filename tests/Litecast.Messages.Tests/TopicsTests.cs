namespace Litecast.Messages.Tests;

public sealed class TopicsTests
{
    [Fact]
    public void Topic_is_keyed_by_primary_and_database()
    {
        Assert.Equal("litecast/node-1/main.db", Topics.ForDatabase("node-1", "main.db"));
        Assert.NotEqual(Topics.ForDatabase("node-1", "db"), Topics.ForDatabase("node-2", "db"));
    }

    [Fact]
    public void Separators_inside_parts_are_escaped_so_topics_stay_unambiguous()
    {
        string a = Topics.ForDatabase("akka.tcp://litecast@10.0.0.1:4053", "/data/db");
        Assert.Equal("litecast/akka.tcp%3A%2F%2Flitecast%4010.0.0.1%3A4053/%2Fdata%2Fdb", a);
        Assert.NotEqual(Topics.ForDatabase("a/b", "c"), Topics.ForDatabase("a", "b/c"));
    }

    [Theory]
    [InlineData(null, "db")]
    [InlineData("", "db")]
    [InlineData(" ", "db")]
    [InlineData("node", null)]
    [InlineData("node", "")]
    [InlineData("node", "\t")]
    public void Empty_parts_are_rejected(string? node, string? database)
    {
        Assert.ThrowsAny<ArgumentException>(() => Topics.ForDatabase(node!, database!));
    }
}

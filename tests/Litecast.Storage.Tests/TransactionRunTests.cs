using Litecast.Storage;

namespace Litecast.Storage.Tests;

public class TransactionRunTests
{
    [Fact]
    public void FinalPagesKeepsEachPagesLastImageInPageOrderAndDropsPagesPastTheFinalSize()
    {
        PageImage Page(uint number, byte version) => new(number, [version]);
        var run = new[]
        {
            new[] { Page(3, 1), Page(1, 1), Page(5, 1) },
            new[] { Page(1, 2) },
            new[] { Page(3, 3), Page(2, 3) },
        };

        var final = TransactionRun.FinalPages(run, p => p.PageNumber, finalPageCount: 4);

        Assert.Equal([1u, 2u, 3u], final.Select(p => p.PageNumber));
        Assert.Equal([(byte)2, (byte)3, (byte)3], final.Select(p => p.Data[0]));
    }

    [Theory]
    [InlineData(10u, 10u, true)]
    [InlineData(10u, 12u, true)]
    [InlineData(10u, 9u, false)]
    public void ARunGoesOnOnlyPastATransactionThatDidNotShrinkTheDatabase(uint before, uint after, bool mayContinue) =>
        Assert.Equal(mayContinue, TransactionRun.MayContinueAfter(before, after));
}

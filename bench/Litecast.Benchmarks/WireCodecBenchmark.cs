using Akka.Actor;
using Akka.Configuration;
using Google.Protobuf;
using Litecast.Benchmarks.Wire;
using Litecast.Messages;
using Litecast.Storage;

/// <summary>
/// The question for the wire format: would a protobuf schema (Google.Protobuf, the page_batch.proto beside this
/// file) encode and decode the page path as fast as the hand codec? One 256 KiB batch (64 pages of 4 KiB: the largest
/// part when this was measured; parts are at most 64 KiB since) goes through each codec's full round trip, bytes to
/// the record the replica applies, and the result is checked against the original.
/// </summary>
internal static class WireCodecBenchmark
{
    /// <summary>Round trips per second through the hand codec (LitecastSerializer) and through protobuf.</summary>
    public static (List<double> Hand, List<double> Proto) Run(IReadOnlyList<PageImage> pages, int runs, int roundTrips)
    {
        using var system = ActorSystem.Create("wire-bench", ConfigurationFactory.ParseString(LitecastSerialization.Hocon));
        var serializer = (LitecastSerializer)system.Serialization.FindSerializerForType(typeof(PageBatch));
        var batch = new PageBatch("app.db", 0x1234_5678_9abc_def0, 1001, 1064, 4096, 100_000, 0xfeed, 0xbeef, 0, 1, pages.Take(64).ToList());
        var manifest = serializer.Manifest(batch);

        PageBatch HandRoundTrip() => (PageBatch)serializer.FromBinary(serializer.ToBinary(batch), manifest);

        PageBatch ProtoRoundTrip()
        {
            var message = new PageBatchProto
            {
                Database = batch.Database, Generation = batch.Generation, FirstTxid = batch.FirstTxid, LastTxid = batch.LastTxid,
                PageSize = batch.PageSize, PageCount = batch.PageCount, PreHash = batch.PreHash, PostHash = batch.PostHash,
                Part = batch.Part, PartCount = batch.PartCount,
            };
            // Zero-copy on the way out: the page arrays are wrapped, not copied.
            foreach (var page in batch.Pages)
                message.Pages.Add(new PageImageProto { PageNumber = page.PageNumber, Data = UnsafeByteOperations.UnsafeWrap(page.Data) });
            var decoded = PageBatchProto.Parser.ParseFrom(message.ToByteArray());
            return new PageBatch(decoded.Database, decoded.Generation, decoded.FirstTxid, decoded.LastTxid, decoded.PageSize,
                decoded.PageCount, decoded.PreHash, decoded.PostHash, decoded.Part, decoded.PartCount,
                decoded.Pages.Select(p => new PageImage(p.PageNumber, p.Data.ToByteArray())).ToList());
        }

        Check(batch, HandRoundTrip());
        Check(batch, ProtoRoundTrip());
        var hand = new List<double>();
        var proto = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            // Alternating, so both codecs see the same machine state.
            hand.Add(Rate(HandRoundTrip, roundTrips));
            proto.Add(Rate(ProtoRoundTrip, roundTrips));
        }
        return (hand, proto);
    }

    private static double Rate(Func<PageBatch> roundTrip, int count)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < count; i++) GC.KeepAlive(roundTrip());
        return count / clock.Elapsed.TotalSeconds;
    }

    private static void Check(PageBatch expected, PageBatch actual)
    {
        var same = (expected.Database, expected.Generation, expected.FirstTxid, expected.LastTxid, expected.PageSize, expected.PageCount,
                       expected.PreHash, expected.PostHash, expected.Part, expected.PartCount)
                   == (actual.Database, actual.Generation, actual.FirstTxid, actual.LastTxid, actual.PageSize, actual.PageCount,
                       actual.PreHash, actual.PostHash, actual.Part, actual.PartCount)
                   && expected.Pages.Count == actual.Pages.Count
                   && expected.Pages.Zip(actual.Pages).All(p => p.First.PageNumber == p.Second.PageNumber && p.First.Data.AsSpan().SequenceEqual(p.Second.Data));
        if (!same) throw new InvalidOperationException("a codec round trip changed the batch");
    }
}

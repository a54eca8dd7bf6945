using Akka.Actor;
using Litecast.Storage;

namespace Litecast.Messages.Tests;

/// <summary>Messages with non-trivial values, and small ones for exhaustive corruption tests.</summary>
public sealed class Samples
{
    public const string Unicode = "données/数据/🚀 é\u0000z";

    public Samples(IActorRef replica) => Replica = replica;

    public IActorRef Replica { get; }

    public static byte[] Page(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static PageImage[] Pages(int count, int size) =>
        Enumerable.Range(1, count).Select(i => new PageImage((uint)i * 3, Page(size, i))).ToArray();

    /// <summary>Every message type, several shapes each.</summary>
    public IEnumerable<object> All()
    {
        yield return new PageBatch("main.db", 7, 100, 100, 4096, 12, 0x1234_5678_9abc_def0, 0xfedc_ba98_7654_3210, 0, 1,
            new[] { new PageImage(1, Page(4096, 1)), new PageImage(12, Page(4096, 2)) });
        yield return new PageBatch(Unicode, ulong.MaxValue, ulong.MaxValue - 1, ulong.MaxValue, int.MaxValue, uint.MaxValue,
            ulong.MaxValue, ulong.MaxValue, int.MaxValue - 1, int.MaxValue, new[] { new PageImage(uint.MaxValue, Page(65536, 3)) });
        yield return new PageBatch("", 0, 0, 0, 0, 0, 0, 0, 0, 0, Array.Empty<PageImage>());
        yield return new PageBatch("many", 1, 2, 50, 1024, 2000, 3, 4, 2, 5, Pages(1000, 1024));
        yield return new PageBatch("empty-page", 1, 1, 1, 512, 1, 0, 0, 0, 1, new[] { new PageImage(1, Array.Empty<byte>()) });

        yield return new Heartbeat("main.db", "akka.tcp://litecast@10.0.0.1:4053", 3, 999, 0xdead_beef, 4096, 77, "3.50.4");
        yield return new Heartbeat(Unicode, Unicode, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, int.MinValue, uint.MaxValue, "");

        yield return new CatchUpRequest("main.db", "akka.tcp://litecast@10.0.0.2:4053", 3, 42, Replica);
        yield return new CatchUpRequest(Unicode, "", ulong.MaxValue, ulong.MaxValue, Replica);

        yield return new CatchUpUnavailable("main.db", 3, 1000, "retained log starts at 1000");
        yield return new CatchUpUnavailable(Unicode, ulong.MaxValue, 0, "");

        yield return new ReplicaPositionReport("main.db", "replica-1", 3, 42, 0xabcdef, false, Replica);
        yield return new ReplicaPositionReport(Unicode, Unicode, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, true, Replica);
        yield return new ReplicaPositionReport("main.db", "replica-1", 3, 42, 0xabcdef, false, Replica, TimeSpan.FromMicroseconds(1234));
        yield return new ReplicaPositionReport("main.db", "replica-1", 3, 42, 0xabcdef, false, Replica, TimeSpan.Zero);
        yield return new ReplicaPositionReport("main.db", "replica-1", 3, 42, 0xabcdef, true, Replica, TimeSpan.Zero, long.MaxValue);

        yield return new ResyncRequest("main.db", "replica-1", Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), Replica);
        yield return new ResyncRequest(Unicode, "", Guid.Empty, Replica);
        yield return new ResyncRequest("db", "node", Guid.Empty, Replica, RangesInFlight: 4);

        yield return new ResyncOffer(Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), 3, 42, 4096, 100_000, 0x55aa,
            1, Enumerable.Range(0, 4096).Select(i => (ulong)i * 0x9e37_79b9_7f4a_7c15UL).ToArray());
        yield return new ResyncOffer(Guid.Empty, ulong.MaxValue, ulong.MaxValue, int.MaxValue, uint.MaxValue, ulong.MaxValue,
            uint.MaxValue, Array.Empty<ulong>());

        yield return new ResyncDemand(Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), 1, new uint[] { 1, 2, 3, 4095, uint.MaxValue });
        yield return new ResyncDemand(Guid.NewGuid(), uint.MaxValue, Array.Empty<uint>());

        yield return new ResyncPages(Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), 1, Pages(64, 4096), false);
        yield return new ResyncPages(Guid.NewGuid(), uint.MaxValue, Array.Empty<PageImage>(), true);
        yield return new ResyncPages(Guid.NewGuid(), 5, new[] { new PageImage(5, Page(65536, 9)) }, true);

        yield return new ResyncFailed(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), "snapshot lost: " + Unicode);
        yield return new ResyncFailed(Guid.Empty, "");

        yield return new ReplicaReportWanted("app.db " + Unicode, 1234);
        yield return new ReplicaReportWanted("", ulong.MaxValue);
    }

    /// <summary>One small instance of each type: every field present, cheap enough to corrupt byte by byte.</summary>
    public IEnumerable<object> Small()
    {
        var session = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        yield return new PageBatch("db", 1, 2, 3, 16, 2, 4, 5, 0, 1, new[] { new PageImage(1, Page(16, 1)), new PageImage(2, Page(16, 2)) });
        yield return new Heartbeat("db", "node-é", 1, 2, 3, 16, 2, "3.50.4");
        yield return new CatchUpRequest("db", "node", 1, 2, Replica);
        yield return new CatchUpUnavailable("db", 1, 2, "gone");
        yield return new ReplicaPositionReport("db", "node", 1, 2, 3, true, Replica, TimeSpan.FromMilliseconds(7), 2);
        yield return new ResyncRequest("db", "node", session, Replica);
        yield return new ResyncOffer(session, 1, 2, 16, 3, 4, 1, new ulong[] { 10, 20, 30 });
        yield return new ResyncDemand(session, 1, new uint[] { 1, 3 });
        yield return new ResyncPages(session, 1, new[] { new PageImage(1, Page(16, 1)), new PageImage(3, Page(16, 3)) }, true);
        yield return new ResyncFailed(session, "timeout");
        yield return new ReplicaReportWanted("db", 7);
    }
}

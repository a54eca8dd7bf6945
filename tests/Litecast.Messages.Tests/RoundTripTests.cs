using System.Buffers.Binary;
using Akka.Actor;
using Litecast.Storage;

namespace Litecast.Messages.Tests;

[Collection(ActorSystemCollection.Name)]
public sealed class RoundTripTests
{
    private readonly ActorSystemFixture _fixture;

    public RoundTripTests(ActorSystemFixture fixture) => _fixture = fixture;

    [Fact]
    public void Every_sample_message_round_trips_field_by_field()
    {
        int count = 0;
        foreach (object message in _fixture.Samples.All())
        {
            var (bytes, _, result) = _fixture.RoundTrip(message);
            Assert.Equal(LitecastSerializer.FormatVersion, bytes[0]);
            MessageAssert.Equal(message, result);
            count++;
        }
        Assert.Equal(30, count);
    }

    [Fact]
    public void Every_message_type_has_a_sample()
    {
        var sampled = _fixture.Samples.All().Select(m => m.GetType()).ToHashSet();
        foreach (Type type in BindingTests.MessageTypes())
            Assert.Contains(type, sampled);
    }

    [Fact]
    public void Page_bytes_travel_raw_and_the_payload_has_its_exact_size()
    {
        // 256 KiB batch: 64 pages of 4 KiB.
        var pages = Samples.Pages(64, 4096);
        var batch = new PageBatch("db", 1, 1, 1, 4096, 64, 2, 3, 0, 1, pages);
        byte[] bytes = _fixture.Serializer.ToBinary(batch);

        const int header = 1 + (4 + 2) + 8 * 3 + 4 + 4 + 8 * 2 + 4 + 4 + 4;
        Assert.Equal(header + 64 * (4 + 4 + 4096), bytes.Length);

        int offset = header;
        for (int i = 0; i < pages.Length; i++)
        {
            Assert.Equal(pages[i].PageNumber, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)));
            Assert.Equal(4096, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4)));
            Assert.True(bytes.AsSpan(offset + 8, 4096).SequenceEqual(pages[i].Data));
            offset += 8 + 4096;
        }
    }

    [Fact]
    public void Serializing_a_256_KiB_batch_allocates_only_the_payload()
    {
        var batch = new PageBatch("db", 1, 1, 1, 4096, 64, 2, 3, 0, 1, Samples.Pages(64, 4096));
        LitecastSerializer serializer = _fixture.Serializer;
        byte[] warmup = serializer.ToBinary(batch);

        long before = GC.GetAllocatedBytesForCurrentThread();
        byte[] bytes = serializer.ToBinary(batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(warmup.Length, bytes.Length);
        // The payload array itself plus a little overhead: no intermediate buffer, no second copy of the pages.
        Assert.InRange(allocated, bytes.Length, bytes.Length + 1024);
    }

    [Fact]
    public void Pages_deserialize_into_independent_arrays()
    {
        var batch = new PageBatch("db", 1, 1, 1, 16, 1, 0, 0, 0, 1, new[] { new PageImage(1, Samples.Page(16, 5)) });
        byte[] bytes = _fixture.Serializer.ToBinary(batch);
        var result = (PageBatch)_fixture.Serializer.FromBinary(bytes, "PB");
        Array.Clear(bytes);
        Assert.True(result.Pages[0].Data.AsSpan().SequenceEqual(batch.Pages[0].Data));
    }

    [Fact]
    public void Actor_ref_round_trip_resolves_to_the_same_actor()
    {
        var request = new CatchUpRequest("db", "node", 1, 2, _fixture.Replica);
        var result = (CatchUpRequest)_fixture.RoundTrip(request).Result;

        Assert.Equal(_fixture.Replica.Path, result.ReplyTo.Path);
        Assert.Equal(_fixture.Replica.Path.Uid, result.ReplyTo.Path.Uid);
        Assert.Equal(_fixture.Replica, result.ReplyTo);
        Assert.Same(_fixture.Replica, result.ReplyTo);
    }

    [Fact]
    public async Task A_stopped_actor_still_resolves_to_its_path_without_an_error()
    {
        IActorRef gone = _fixture.System.ActorOf(Props.Create(() => new Sink()), "short-lived");
        Assert.True(await gone.GracefulStop(TimeSpan.FromSeconds(5)));
        var report = new ReplicaPositionReport("db", "node", 1, 2, 3, false, gone);

        var result = (ReplicaPositionReport)_fixture.RoundTrip(report).Result;

        Assert.Equal(gone.Path.ToStringWithoutAddress(), result.Replica.Path.ToStringWithoutAddress());
        // Whether Akka hands back the terminated ref or an empty one depends on when the parent forgets the child.
        result.Replica.Tell("goes to dead letters"); // must not throw
    }

    private sealed class Sink : ReceiveActor
    {
        public Sink() => ReceiveAny(_ => { });
    }

    [Fact]
    public void No_sender_round_trips_as_nobody()
    {
        var request = new ResyncRequest("db", "node", Guid.NewGuid(), ActorRefs.NoSender!);
        var result = (ResyncRequest)_fixture.RoundTrip(request).Result;
        Assert.True(result.ReplyTo.IsNobody());
    }

    [Fact]
    public void A_resync_request_of_an_older_replica_without_ranges_in_flight_reads_as_one_range_at_a_time()
    {
        var request = new ResyncRequest("db", "node", Guid.NewGuid(), ActorRefs.Nobody, RangesInFlight: 3);
        var bytes = _fixture.Serializer.ToBinary(request);
        // The older layout is this one without the appended int32.
        var older = (ResyncRequest)_fixture.Serializer.FromBinary(bytes[..^4], _fixture.Serializer.Manifest(request));
        Assert.Equal(request.SessionId, older.SessionId);
        Assert.Equal(1, older.RangesInFlight);
        Assert.Equal(3, ((ResyncRequest)_fixture.Serializer.FromBinary(bytes, _fixture.Serializer.Manifest(request))).RangesInFlight);
    }

    [Fact]
    public void Strings_that_are_not_valid_utf16_are_rejected_with_a_serialization_exception()
    {
        var failed = new ResyncFailed(Guid.NewGuid(), "lone \ud800 surrogate");
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => _fixture.Serializer.ToBinary(failed));
        Assert.Contains("ResyncFailed", e.Message);
    }
}

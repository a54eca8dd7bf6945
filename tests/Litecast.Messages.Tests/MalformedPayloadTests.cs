using System.Buffers.Binary;
using System.Runtime.Serialization;
using Litecast.Storage;

namespace Litecast.Messages.Tests;

[Collection(ActorSystemCollection.Name)]
public sealed class MalformedPayloadTests
{
    private readonly ActorSystemFixture _fixture;

    public MalformedPayloadTests(ActorSystemFixture fixture) => _fixture = fixture;

    private LitecastSerializer Serializer => _fixture.Serializer;

    private static SerializationException Rejects(LitecastSerializer serializer, byte[] bytes, string manifest)
    {
        var e = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, manifest));
        Assert.Contains($"'{manifest}'", e.Message);
        return e;
    }

    /// <summary>Deserialization of hostile input may fail only with SerializationException, and never yields another type.</summary>
    private static void FailsCleanlyOrYields(LitecastSerializer serializer, byte[] bytes, string manifest, Type expectedType)
    {
        try
        {
            object result = serializer.FromBinary(bytes, manifest);
            Assert.IsType(expectedType, result);
        }
        catch (SerializationException e)
        {
            Assert.Contains($"'{manifest}'", e.Message);
        }
    }

    [Fact]
    public void Unknown_manifest_is_rejected()
    {
        byte[] bytes = Serializer.ToBinary(new ResyncFailed(Guid.NewGuid(), "x"));
        var e = Assert.Throws<SerializationException>(() => Serializer.FromBinary(bytes, "NOPE"));
        Assert.Contains("unknown manifest 'NOPE'", e.Message);
        Assert.Throws<SerializationException>(() => Serializer.FromBinary(bytes, ""));
    }

    [Fact]
    public void Non_litecast_objects_are_refused()
    {
        Assert.Throws<SerializationException>(() => Serializer.ToBinary("a string"));
        Assert.Throws<SerializationException>(() => Serializer.Manifest(new PageImage(1, new byte[1])));
    }

    /// <summary>The payloads an older sender of <paramref name="message"/> writes: cut before the fields appended in each
    /// later version (how many bytes shorter), with what each must be read as.</summary>
    private static (int Cut, object ReadsAs)[] OlderLayouts(object message) => message switch
    {
        ReplicaPositionReport report =>
        [
            (8, report with { Resyncs = null }), // Resyncs, a count
            (16, report with { SinceApplied = null, Resyncs = null }), // and SinceApplied, microseconds
        ],
        ResyncRequest request => [(4, request with { RangesInFlight = 1 })], // RangesInFlight, an int32
        _ => [],
    };

    /// <summary>What a prefix of <paramref name="length"/> bytes reads as when it is a complete payload of an older
    /// writer (the fields appended later absent, not cut); null for any other prefix.</summary>
    private static object? OlderLayout(object message, byte[] bytes, int length) =>
        OlderLayouts(message).Where(l => length == bytes.Length - l.Cut).Select(l => l.ReadsAs).FirstOrDefault();

    [Fact]
    public void Every_truncated_prefix_is_rejected()
    {
        foreach (object message in _fixture.Samples.Small())
        {
            byte[] bytes = Serializer.ToBinary(message);
            string manifest = Serializer.Manifest(message);
            for (int length = 0; length < bytes.Length; length++)
            {
                if (OlderLayout(message, bytes, length) is { } older)
                {
                    MessageAssert.Equal(older, Serializer.FromBinary(bytes.AsSpan(0, length).ToArray(), manifest));
                    continue;
                }
                SerializationException e = Rejects(Serializer, bytes.AsSpan(0, length).ToArray(), manifest);
                Assert.Contains(length == 0 ? "formatVersion" : "truncated", e.Message);
            }
        }
    }

    [Fact]
    public void Truncated_large_payloads_are_rejected()
    {
        foreach (object message in _fixture.Samples.All())
        {
            byte[] bytes = Serializer.ToBinary(message);
            string manifest = Serializer.Manifest(message);
            int step = Math.Max(1, bytes.Length / 97);
            for (int length = bytes.Length - 1; length >= 0; length -= step)
                if (OlderLayout(message, bytes, length) is null)
                    Rejects(Serializer, bytes.AsSpan(0, length).ToArray(), manifest);
        }
    }

    [Fact]
    public void A_position_report_from_an_older_sender_has_no_apply_time()
    {
        var report = new ReplicaPositionReport("db", "node", 1, 2, 3, false, _fixture.Replica, TimeSpan.FromMilliseconds(3));
        byte[] bytes = Serializer.ToBinary(report);
        var older = (ReplicaPositionReport)Serializer.FromBinary(bytes.AsSpan(0, bytes.Length - 16).ToArray(), Serializer.Manifest(report));
        Assert.Null(older.SinceApplied);
        Assert.Equal(2UL, older.Txid);
        Assert.Equal(TimeSpan.FromMilliseconds(3), ((ReplicaPositionReport)Serializer.FromBinary(bytes, Serializer.Manifest(report))).SinceApplied);
    }

    [Fact]
    public void A_duration_no_TimeSpan_can_hold_is_rejected()
    {
        var report = new ReplicaPositionReport("db", "node", 1, 2, 3, false, _fixture.Replica, TimeSpan.Zero);
        byte[] bytes = Serializer.ToBinary(report);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(bytes.Length - 16), ulong.MaxValue - 1);
        SerializationException e = Rejects(Serializer, bytes, Serializer.Manifest(report));
        Assert.Contains("SinceApplied", e.Message);
    }

    [Fact]
    public void A_resync_count_past_a_signed_count_is_rejected_and_an_older_sender_has_none()
    {
        var report = new ReplicaPositionReport("db", "node", 1, 2, 3, false, _fixture.Replica, TimeSpan.Zero, Resyncs: 4);
        byte[] bytes = Serializer.ToBinary(report);
        Assert.Equal(4, ((ReplicaPositionReport)Serializer.FromBinary(bytes, Serializer.Manifest(report))).Resyncs);
        var older = (ReplicaPositionReport)Serializer.FromBinary(bytes.AsSpan(0, bytes.Length - 8).ToArray(), Serializer.Manifest(report));
        Assert.Null(older.Resyncs);
        Assert.Equal(TimeSpan.Zero, older.SinceApplied);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8), (ulong)long.MaxValue + 1);
        SerializationException e = Rejects(Serializer, bytes, Serializer.Manifest(report));
        Assert.Contains("Resyncs", e.Message);
    }

    [Fact]
    public void Extra_trailing_bytes_are_ignored()
    {
        foreach (object message in _fixture.Samples.All())
        {
            byte[] bytes = Serializer.ToBinary(message);
            string manifest = Serializer.Manifest(message);
            foreach (int extra in new[] { 1, 7, 300 })
            {
                byte[] longer = new byte[bytes.Length + extra];
                bytes.CopyTo(longer, 0);
                longer.AsSpan(bytes.Length).Fill(0xAB);
                MessageAssert.Equal(message, Serializer.FromBinary(longer, manifest));
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(255)]
    public void Wrong_version_byte_is_rejected(byte version)
    {
        foreach (object message in _fixture.Samples.Small())
        {
            byte[] bytes = Serializer.ToBinary(message);
            bytes[0] = version;
            SerializationException e = Rejects(Serializer, bytes, Serializer.Manifest(message));
            Assert.Contains($"unsupported format version {version}", e.Message);
        }
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(1 << 20)]
    public void Corrupt_lengths_are_rejected_without_allocating(int corrupt)
    {
        var batch = new PageBatch("db", 1, 2, 3, 16, 2, 4, 5, 0, 1, new[] { new PageImage(1, Samples.Page(16, 1)) });
        byte[] good = Serializer.ToBinary(batch);
        const int databaseLength = 1;
        const int pageCount = 1 + (4 + 2) + 8 * 3 + 4 + 4 + 8 * 2 + 4 + 4;
        const int pageDataLength = pageCount + 4 + 4;

        foreach (int offset in new[] { databaseLength, pageCount, pageDataLength })
        {
            byte[] bytes = (byte[])good.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), corrupt);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Rejects(Serializer, bytes, "PB");
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024, "a corrupt length caused a large allocation");
        }

        var offer = new ResyncOffer(Guid.NewGuid(), 1, 2, 16, 3, 4, 1, new ulong[] { 1, 2 });
        byte[] offerBytes = Serializer.ToBinary(offer);
        BinaryPrimitives.WriteInt32LittleEndian(offerBytes.AsSpan(1 + 16 + 8 + 8 + 4 + 4 + 8 + 4), corrupt);
        Rejects(Serializer, offerBytes, "RSO");

        var demand = new ResyncDemand(Guid.NewGuid(), 1, new uint[] { 1, 2 });
        byte[] demandBytes = Serializer.ToBinary(demand);
        BinaryPrimitives.WriteInt32LittleEndian(demandBytes.AsSpan(1 + 16 + 4), corrupt);
        Rejects(Serializer, demandBytes, "RSD");
    }

    [Fact]
    public void A_huge_length_at_every_offset_fails_cleanly()
    {
        foreach (object message in _fixture.Samples.Small())
        {
            byte[] good = Serializer.ToBinary(message);
            string manifest = Serializer.Manifest(message);
            for (int offset = 1; offset + 4 <= good.Length; offset++)
            {
                byte[] bytes = (byte[])good.Clone();
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), int.MaxValue);
                FailsCleanlyOrYields(Serializer, bytes, manifest, message.GetType());
            }
        }
    }

    [Fact]
    public void Flipping_any_byte_fails_cleanly_or_yields_the_same_type()
    {
        foreach (object message in _fixture.Samples.Small())
        {
            byte[] good = Serializer.ToBinary(message);
            string manifest = Serializer.Manifest(message);
            for (int offset = 0; offset < good.Length; offset++)
            {
                foreach (byte mask in new byte[] { 0x01, 0x80, 0xFF })
                {
                    byte[] bytes = (byte[])good.Clone();
                    bytes[offset] ^= mask;
                    FailsCleanlyOrYields(Serializer, bytes, manifest, message.GetType());
                }
            }
        }
    }

    [Fact]
    public void Garbage_bytes_are_rejected()
    {
        string[] manifests = { "PB", "HB", "CUQ", "CUU", "RPR", "RSQ", "RSO", "RSD", "RSP", "RSF", "RRW" };
        var random = new Random(20240611);
        foreach (string manifest in manifests)
        {
            Rejects(Serializer, Array.Empty<byte>(), manifest);
            Rejects(Serializer, Enumerable.Repeat((byte)0xFF, 64).ToArray(), manifest);
            for (int i = 0; i < 50; i++)
            {
                byte[] bytes = new byte[random.Next(1, 200)];
                random.NextBytes(bytes);
                Rejects(Serializer, bytes, manifest); // random first byte: almost never the version

                bytes[0] = LitecastSerializer.FormatVersion;
                bytes.AsSpan(1).Fill(0xEE); // every length reads as negative
                Rejects(Serializer, bytes, manifest);
            }
        }
    }

    [Fact]
    public void Random_payloads_behind_a_valid_version_fail_cleanly()
    {
        string[] manifests = { "PB", "HB", "CUQ", "CUU", "RPR", "RSQ", "RSO", "RSD", "RSP", "RSF", "RRW" };
        var random = new Random(42);
        foreach (string manifest in manifests)
        {
            for (int i = 0; i < 500; i++)
            {
                byte[] bytes = new byte[random.Next(1, 120)];
                random.NextBytes(bytes);
                bytes[0] = LitecastSerializer.FormatVersion;
                try
                {
                    object result = Serializer.FromBinary(bytes, manifest);
                    Assert.Equal(manifest, Serializer.Manifest(result));
                }
                catch (SerializationException e)
                {
                    Assert.Contains($"'{manifest}'", e.Message);
                }
            }
        }
    }

    [Fact]
    public void Invalid_booleans_and_utf8_are_rejected()
    {
        var report = new ReplicaPositionReport("db", "node", 1, 2, 3, true, _fixture.Replica);
        byte[] bytes = Serializer.ToBinary(report);
        int resyncing = 1 + (4 + 2) + (4 + 4) + 8 * 3;
        Assert.Equal(1, bytes[resyncing]);
        bytes[resyncing] = 2;
        Assert.Contains("boolean", Rejects(Serializer, bytes, "RPR").Message);

        var failed = new ResyncFailed(Guid.NewGuid(), "ab");
        byte[] failedBytes = Serializer.ToBinary(failed);
        failedBytes[^1] = 0xFF; // not valid UTF-8
        Assert.Contains("UTF-8", Rejects(Serializer, failedBytes, "RSF").Message);
    }
}

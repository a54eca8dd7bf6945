using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Litecast.Storage;

namespace Litecast.Messages;

/// <summary>
/// Binary serializer for every Litecast wire message (bound in <c>hocon/serialization.conf</c>, see
/// <see cref="LitecastSerialization.Hocon"/>).
/// </summary>
/// <remarks>
/// <para>Format: little-endian fixed-width integers; a one-byte <see cref="FormatVersion"/> first; strings as an int32
/// byte length + UTF-8; byte arrays and lists as an int32 count + elements; page bytes copied as-is; actor refs as
/// their serialized path string. The payload is allocated at its exact size, so each page is copied once.</para>
/// <para>Compatibility: a later version may append fields at the end of a payload without changing
/// <see cref="FormatVersion"/>; readers ignore bytes after the fields they know. <see cref="FormatVersion"/> changes
/// only for an incompatible layout, which this reader rejects. Manifests are part of the contract and never change.</para>
/// <para>Malformed input (truncated, corrupt lengths, bad booleans, invalid UTF-8, wrong version, unknown manifest)
/// raises a <see cref="SerializationException"/> naming the manifest and the problem.</para>
/// </remarks>
public sealed class LitecastSerializer : SerializerWithStringManifest
{
    /// <summary>Serializer identifier (also declared in <c>serialization-identifiers</c>).</summary>
    public const int SerializerId = 8117;

    /// <summary>Layout version written as the first byte of every payload.</summary>
    public const byte FormatVersion = 1;

    internal const string PageBatchManifest = "PB";
    internal const string HeartbeatManifest = "HB";
    internal const string CatchUpRequestManifest = "CUQ";
    internal const string CatchUpUnavailableManifest = "CUU";
    internal const string ReplicaPositionReportManifest = "RPR";
    internal const string ResyncRequestManifest = "RSQ";
    internal const string ResyncOfferManifest = "RSO";
    internal const string ResyncDemandManifest = "RSD";
    internal const string ResyncPagesManifest = "RSP";
    internal const string ResyncFailedManifest = "RSF";
    internal const string ReplicaReportWantedManifest = "RRW";

    /// <summary>Creates the serializer; Akka calls this with the actor system it serves.</summary>
    public LitecastSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <inheritdoc />
    public override string Manifest(object o) => o switch
    {
        PageBatch => PageBatchManifest,
        Heartbeat => HeartbeatManifest,
        CatchUpRequest => CatchUpRequestManifest,
        CatchUpUnavailable => CatchUpUnavailableManifest,
        ReplicaPositionReport => ReplicaPositionReportManifest,
        ResyncRequest => ResyncRequestManifest,
        ResyncOffer => ResyncOfferManifest,
        ResyncDemand => ResyncDemandManifest,
        ResyncPages => ResyncPagesManifest,
        ResyncFailed => ResyncFailedManifest,
        ReplicaReportWanted => ReplicaReportWantedManifest,
        _ => throw new SerializationException($"{nameof(LitecastSerializer)} cannot serialize {o?.GetType().FullName ?? "null"}"),
    };

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        try
        {
            return Serialize(obj);
        }
        catch (System.Text.EncoderFallbackException e)
        {
            throw new SerializationException(
                $"{nameof(LitecastSerializer)}: {obj.GetType().Name} holds a string that is not valid UTF-16 (lone surrogate)", e);
        }
    }

    private static byte[] Serialize(object obj) => obj switch
    {
        PageBatch m => Write(m),
        Heartbeat m => Write(m),
        CatchUpRequest m => Write(m),
        CatchUpUnavailable m => Write(m),
        ReplicaPositionReport m => Write(m),
        ResyncRequest m => Write(m),
        ResyncOffer m => Write(m),
        ResyncDemand m => Write(m),
        ResyncPages m => Write(m),
        ResyncFailed m => Write(m),
        ReplicaReportWanted m => Write(m),
        _ => throw new SerializationException($"{nameof(LitecastSerializer)} cannot serialize {obj?.GetType().FullName ?? "null"}"),
    };

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var reader = new WireReader(bytes, manifest);
        switch (manifest)
        {
            case PageBatchManifest: return ReadPageBatch(ref reader);
            case HeartbeatManifest: return ReadHeartbeat(ref reader);
            case CatchUpRequestManifest: return ReadCatchUpRequest(ref reader);
            case CatchUpUnavailableManifest: return ReadCatchUpUnavailable(ref reader);
            case ReplicaPositionReportManifest: return ReadReplicaPositionReport(ref reader);
            case ResyncRequestManifest: return ReadResyncRequest(ref reader);
            case ResyncOfferManifest: return ReadResyncOffer(ref reader);
            case ResyncDemandManifest: return ReadResyncDemand(ref reader);
            case ResyncPagesManifest: return ReadResyncPages(ref reader);
            case ResyncFailedManifest: return ReadResyncFailed(ref reader);
            case ReplicaReportWantedManifest: return ReadReplicaReportWanted(ref reader);
            default: throw new SerializationException($"{nameof(LitecastSerializer)}: unknown manifest '{manifest}'");
        }
    }

    // ---- writing -------------------------------------------------------------------------------------------------

    private static byte[] Allocate(long size, string manifest)
    {
        if (size > Array.MaxLength)
            throw new SerializationException($"Litecast message with manifest '{manifest}' is too large to serialize ({size} bytes)");
        return new byte[size];
    }

    private static WireWriter Start(byte[] buffer)
    {
        var writer = new WireWriter(buffer);
        writer.WriteByte(FormatVersion);
        return writer;
    }

    private static byte[] Finish(byte[] buffer, in WireWriter writer)
    {
        if (writer.Position != buffer.Length)
            throw new InvalidOperationException($"Litecast serializer sized {buffer.Length} bytes but wrote {writer.Position}");
        return buffer;
    }

    private static string PathOf(IActorRef actorRef) => Serialization.SerializedActorPath(actorRef);

    private static byte[] Write(PageBatch m)
    {
        long size = 1 + WireWriter.SizeOfString(m.Database) + 8 * 3 + 4 + 4 + 8 * 2 + 4 + 4 + WireWriter.SizeOfPages(m.Pages);
        byte[] buffer = Allocate(size, PageBatchManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.FirstTxid);
        w.WriteUInt64(m.LastTxid);
        w.WriteInt32(m.PageSize);
        w.WriteUInt32(m.PageCount);
        w.WriteUInt64(m.PreHash);
        w.WriteUInt64(m.PostHash);
        w.WriteInt32(m.Part);
        w.WriteInt32(m.PartCount);
        w.WritePages(m.Pages);
        return Finish(buffer, w);
    }

    private static byte[] Write(Heartbeat m)
    {
        long size = 1 + WireWriter.SizeOfString(m.Database) + WireWriter.SizeOfString(m.PrimaryNode) + 8 * 3 + 4 + 4
                    + WireWriter.SizeOfString(m.SqliteVersion);
        byte[] buffer = Allocate(size, HeartbeatManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteString(m.PrimaryNode);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.Txid);
        w.WriteUInt64(m.Hash);
        w.WriteInt32(m.PageSize);
        w.WriteUInt32(m.PageCount);
        w.WriteString(m.SqliteVersion);
        return Finish(buffer, w);
    }

    private static byte[] Write(CatchUpRequest m)
    {
        string replyTo = PathOf(m.ReplyTo);
        long size = 1 + WireWriter.SizeOfString(m.Database) + WireWriter.SizeOfString(m.ReplicaNode) + 8 * 2
                    + WireWriter.SizeOfString(replyTo);
        byte[] buffer = Allocate(size, CatchUpRequestManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteString(m.ReplicaNode);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.AfterTxid);
        w.WriteString(replyTo);
        return Finish(buffer, w);
    }

    private static byte[] Write(CatchUpUnavailable m)
    {
        long size = 1 + WireWriter.SizeOfString(m.Database) + 8 * 2 + WireWriter.SizeOfString(m.Reason);
        byte[] buffer = Allocate(size, CatchUpUnavailableManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.OldestRetainedTxid);
        w.WriteString(m.Reason);
        return Finish(buffer, w);
    }

    private static byte[] Write(ReplicaPositionReport m)
    {
        string replica = PathOf(m.Replica);
        long size = 1 + WireWriter.SizeOfString(m.Database) + WireWriter.SizeOfString(m.ReplicaNode) + 8 * 3 + 1
                    + WireWriter.SizeOfString(replica) + 8 + 8;
        byte[] buffer = Allocate(size, ReplicaPositionReportManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteString(m.ReplicaNode);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.Txid);
        w.WriteUInt64(m.Hash);
        w.WriteBool(m.Resyncing);
        w.WriteString(replica);
        w.WriteUInt64(m.SinceApplied is { } since ? (ulong)Math.Max(0, since.Ticks / TimeSpan.TicksPerMicrosecond) : UnknownDuration);
        w.WriteUInt64(m.Resyncs is { } resyncs ? (ulong)Math.Max(0, resyncs) : UnknownCount);
        return Finish(buffer, w);
    }

    private static byte[] Write(ResyncRequest m)
    {
        string replyTo = PathOf(m.ReplyTo);
        long size = 1 + WireWriter.SizeOfString(m.Database) + WireWriter.SizeOfString(m.ReplicaNode) + 16
                    + WireWriter.SizeOfString(replyTo) + 4;
        byte[] buffer = Allocate(size, ResyncRequestManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteString(m.ReplicaNode);
        w.WriteGuid(m.SessionId);
        w.WriteString(replyTo);
        w.WriteInt32(m.RangesInFlight);
        return Finish(buffer, w);
    }

    private static byte[] Write(ResyncOffer m)
    {
        long size = 1 + 16 + 8 * 2 + 4 + 4 + 8 + 4 + 4 + 8L * m.PageHashes.Length;
        byte[] buffer = Allocate(size, ResyncOfferManifest);
        var w = Start(buffer);
        w.WriteGuid(m.SessionId);
        w.WriteUInt64(m.Generation);
        w.WriteUInt64(m.Txid);
        w.WriteInt32(m.PageSize);
        w.WriteUInt32(m.PageCount);
        w.WriteUInt64(m.Hash);
        w.WriteUInt32(m.FirstPage);
        w.WriteUInt64Array(m.PageHashes);
        return Finish(buffer, w);
    }

    private static byte[] Write(ResyncDemand m)
    {
        long size = 1 + 16 + 4 + 4 + 4L * m.PageNumbers.Length;
        byte[] buffer = Allocate(size, ResyncDemandManifest);
        var w = Start(buffer);
        w.WriteGuid(m.SessionId);
        w.WriteUInt32(m.FirstPage);
        w.WriteUInt32Array(m.PageNumbers);
        return Finish(buffer, w);
    }

    private static byte[] Write(ResyncPages m)
    {
        long size = 1 + 16 + 4 + WireWriter.SizeOfPages(m.Pages) + 1;
        byte[] buffer = Allocate(size, ResyncPagesManifest);
        var w = Start(buffer);
        w.WriteGuid(m.SessionId);
        w.WriteUInt32(m.FirstPage);
        w.WritePages(m.Pages);
        w.WriteBool(m.LastRange);
        return Finish(buffer, w);
    }

    private static byte[] Write(ResyncFailed m)
    {
        long size = 1 + 16 + WireWriter.SizeOfString(m.Reason);
        byte[] buffer = Allocate(size, ResyncFailedManifest);
        var w = Start(buffer);
        w.WriteGuid(m.SessionId);
        w.WriteString(m.Reason);
        return Finish(buffer, w);
    }

    private static byte[] Write(ReplicaReportWanted m)
    {
        long size = 1 + WireWriter.SizeOfString(m.Database) + 8;
        byte[] buffer = Allocate(size, ReplicaReportWantedManifest);
        var w = Start(buffer);
        w.WriteString(m.Database);
        w.WriteUInt64(m.Txid);
        return Finish(buffer, w);
    }

    // ---- reading -------------------------------------------------------------------------------------------------

    private static void ReadVersion(ref WireReader r)
    {
        byte version = r.ReadByte("formatVersion");
        if (version != FormatVersion)
            throw r.Error($"unsupported format version {version} (this reader understands version {FormatVersion})");
    }

    private IActorRef ReadActorRef(ref WireReader r, string field)
    {
        string path = r.ReadString(field);
        if (path.Length == 0)
            return ActorRefs.Nobody;
        try
        {
            return system.Provider.ResolveActorRef(path);
        }
        catch (Exception e) when (e is not SerializationException)
        {
            throw new SerializationException(r.Error($"cannot resolve actor path '{path}' of field '{field}'").Message, e);
        }
    }

    private static PageBatch ReadPageBatch(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        ulong generation = r.ReadUInt64("Generation");
        ulong firstTxid = r.ReadUInt64("FirstTxid");
        ulong lastTxid = r.ReadUInt64("LastTxid");
        int pageSize = r.ReadInt32("PageSize");
        uint pageCount = r.ReadUInt32("PageCount");
        ulong preHash = r.ReadUInt64("PreHash");
        ulong postHash = r.ReadUInt64("PostHash");
        int part = r.ReadInt32("Part");
        int partCount = r.ReadInt32("PartCount");
        PageImage[] pages = r.ReadPages("Pages");
        return new PageBatch(database, generation, firstTxid, lastTxid, pageSize, pageCount, preHash, postHash, part,
            partCount, pages);
    }

    private static Heartbeat ReadHeartbeat(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        string primaryNode = r.ReadString("PrimaryNode");
        ulong generation = r.ReadUInt64("Generation");
        ulong txid = r.ReadUInt64("Txid");
        ulong hash = r.ReadUInt64("Hash");
        int pageSize = r.ReadInt32("PageSize");
        uint pageCount = r.ReadUInt32("PageCount");
        string sqliteVersion = r.ReadString("SqliteVersion");
        return new Heartbeat(database, primaryNode, generation, txid, hash, pageSize, pageCount, sqliteVersion);
    }

    private CatchUpRequest ReadCatchUpRequest(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        string replicaNode = r.ReadString("ReplicaNode");
        ulong generation = r.ReadUInt64("Generation");
        ulong afterTxid = r.ReadUInt64("AfterTxid");
        IActorRef replyTo = ReadActorRef(ref r, "ReplyTo");
        return new CatchUpRequest(database, replicaNode, generation, afterTxid, replyTo);
    }

    private static CatchUpUnavailable ReadCatchUpUnavailable(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        ulong generation = r.ReadUInt64("Generation");
        ulong oldest = r.ReadUInt64("OldestRetainedTxid");
        string reason = r.ReadString("Reason");
        return new CatchUpUnavailable(database, generation, oldest, reason);
    }

    private ReplicaPositionReport ReadReplicaPositionReport(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        string replicaNode = r.ReadString("ReplicaNode");
        ulong generation = r.ReadUInt64("Generation");
        ulong txid = r.ReadUInt64("Txid");
        ulong hash = r.ReadUInt64("Hash");
        bool resyncing = r.ReadBool("Resyncing");
        IActorRef replica = ReadActorRef(ref r, "Replica");
        // Appended in a later version: absent from an older sender's reports.
        TimeSpan? sinceApplied = r.AtEnd ? null : ReadDuration(ref r, "SinceApplied");
        long? resyncs = r.AtEnd ? null : ReadCount(ref r, "Resyncs");
        return new ReplicaPositionReport(database, replicaNode, generation, txid, hash, resyncing, replica, sinceApplied, resyncs);
    }

    /// <summary>Marks a duration field as unknown.</summary>
    private const ulong UnknownDuration = ulong.MaxValue;

    /// <summary>A duration in microseconds, or <see cref="UnknownDuration"/>; any other value a TimeSpan cannot hold is refused.</summary>
    private static TimeSpan? ReadDuration(ref WireReader r, string field)
    {
        ulong micros = r.ReadUInt64(field);
        if (micros == UnknownDuration) return null;
        if (micros > (ulong)(TimeSpan.MaxValue.Ticks / TimeSpan.TicksPerMicrosecond))
            throw r.Error($"field '{field}' holds {micros} microseconds, more than a duration can be");
        return TimeSpan.FromMicroseconds(micros);
    }

    /// <summary>Marks a count field as unknown.</summary>
    private const ulong UnknownCount = ulong.MaxValue;

    /// <summary>A count, or <see cref="UnknownCount"/>; a count past <see cref="long.MaxValue"/> is refused.</summary>
    private static long? ReadCount(ref WireReader r, string field)
    {
        ulong count = r.ReadUInt64(field);
        if (count == UnknownCount) return null;
        if (count > long.MaxValue) throw r.Error($"field '{field}' holds {count}, more than a count can be");
        return (long)count;
    }

    private ResyncRequest ReadResyncRequest(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        string replicaNode = r.ReadString("ReplicaNode");
        Guid sessionId = r.ReadGuid("SessionId");
        IActorRef replyTo = ReadActorRef(ref r, "ReplyTo");
        // Appended field: an older replica's request ends before it and asks for one range at a time.
        int rangesInFlight = r.AtEnd ? 1 : r.ReadInt32("RangesInFlight");
        if (rangesInFlight < 1) throw r.Error($"RangesInFlight {rangesInFlight} is below 1");
        return new ResyncRequest(database, replicaNode, sessionId, replyTo, rangesInFlight);
    }

    private static ResyncOffer ReadResyncOffer(ref WireReader r)
    {
        ReadVersion(ref r);
        Guid sessionId = r.ReadGuid("SessionId");
        ulong generation = r.ReadUInt64("Generation");
        ulong txid = r.ReadUInt64("Txid");
        int pageSize = r.ReadInt32("PageSize");
        uint pageCount = r.ReadUInt32("PageCount");
        ulong hash = r.ReadUInt64("Hash");
        uint firstPage = r.ReadUInt32("FirstPage");
        ulong[] pageHashes = r.ReadUInt64Array("PageHashes");
        return new ResyncOffer(sessionId, generation, txid, pageSize, pageCount, hash, firstPage, pageHashes);
    }

    private static ResyncDemand ReadResyncDemand(ref WireReader r)
    {
        ReadVersion(ref r);
        Guid sessionId = r.ReadGuid("SessionId");
        uint firstPage = r.ReadUInt32("FirstPage");
        uint[] pageNumbers = r.ReadUInt32Array("PageNumbers");
        return new ResyncDemand(sessionId, firstPage, pageNumbers);
    }

    private static ResyncPages ReadResyncPages(ref WireReader r)
    {
        ReadVersion(ref r);
        Guid sessionId = r.ReadGuid("SessionId");
        uint firstPage = r.ReadUInt32("FirstPage");
        PageImage[] pages = r.ReadPages("Pages");
        bool lastRange = r.ReadBool("LastRange");
        return new ResyncPages(sessionId, firstPage, pages, lastRange);
    }

    private static ResyncFailed ReadResyncFailed(ref WireReader r)
    {
        ReadVersion(ref r);
        Guid sessionId = r.ReadGuid("SessionId");
        string reason = r.ReadString("Reason");
        return new ResyncFailed(sessionId, reason);
    }

    private static ReplicaReportWanted ReadReplicaReportWanted(ref WireReader r)
    {
        ReadVersion(ref r);
        string database = r.ReadString("Database");
        ulong txid = r.ReadUInt64("Txid");
        return new ReplicaReportWanted(database, txid);
    }
}

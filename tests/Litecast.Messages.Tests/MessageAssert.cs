using Akka.Actor;
using Litecast.Storage;

namespace Litecast.Messages.Tests;

/// <summary>Field-by-field comparison of messages (records holding arrays do not compare them structurally).</summary>
public static class MessageAssert
{
    public static void Equal(object expected, object actual)
    {
        Assert.NotNull(actual);
        Assert.IsType(expected.GetType(), actual);
        switch (expected)
        {
            case PageBatch e:
            {
                var a = (PageBatch)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.FirstTxid, a.FirstTxid);
                Assert.Equal(e.LastTxid, a.LastTxid);
                Assert.Equal(e.PageSize, a.PageSize);
                Assert.Equal(e.PageCount, a.PageCount);
                Assert.Equal(e.PreHash, a.PreHash);
                Assert.Equal(e.PostHash, a.PostHash);
                Assert.Equal(e.Part, a.Part);
                Assert.Equal(e.PartCount, a.PartCount);
                PagesEqual(e.Pages, a.Pages);
                break;
            }
            case Heartbeat e:
            {
                var a = (Heartbeat)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.PrimaryNode, a.PrimaryNode);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.Txid, a.Txid);
                Assert.Equal(e.Hash, a.Hash);
                Assert.Equal(e.PageSize, a.PageSize);
                Assert.Equal(e.PageCount, a.PageCount);
                Assert.Equal(e.SqliteVersion, a.SqliteVersion);
                Assert.Equal(e, a); // no arrays: record equality holds too
                break;
            }
            case CatchUpRequest e:
            {
                var a = (CatchUpRequest)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.ReplicaNode, a.ReplicaNode);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.AfterTxid, a.AfterTxid);
                ActorRefEqual(e.ReplyTo, a.ReplyTo);
                break;
            }
            case CatchUpUnavailable e:
            {
                var a = (CatchUpUnavailable)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.OldestRetainedTxid, a.OldestRetainedTxid);
                Assert.Equal(e.Reason, a.Reason);
                break;
            }
            case ReplicaPositionReport e:
            {
                var a = (ReplicaPositionReport)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.ReplicaNode, a.ReplicaNode);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.Txid, a.Txid);
                Assert.Equal(e.Hash, a.Hash);
                Assert.Equal(e.Resyncing, a.Resyncing);
                ActorRefEqual(e.Replica, a.Replica);
                Assert.Equal(e.SinceApplied, a.SinceApplied);
                Assert.Equal(e.Resyncs, a.Resyncs);
                break;
            }
            case ResyncRequest e:
            {
                var a = (ResyncRequest)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.ReplicaNode, a.ReplicaNode);
                Assert.Equal(e.SessionId, a.SessionId);
                ActorRefEqual(e.ReplyTo, a.ReplyTo);
                Assert.Equal(e.RangesInFlight, a.RangesInFlight);
                break;
            }
            case ResyncOffer e:
            {
                var a = (ResyncOffer)actual;
                Assert.Equal(e.SessionId, a.SessionId);
                Assert.Equal(e.Generation, a.Generation);
                Assert.Equal(e.Txid, a.Txid);
                Assert.Equal(e.PageSize, a.PageSize);
                Assert.Equal(e.PageCount, a.PageCount);
                Assert.Equal(e.Hash, a.Hash);
                Assert.Equal(e.FirstPage, a.FirstPage);
                Assert.Equal(e.PageHashes, a.PageHashes);
                break;
            }
            case ResyncDemand e:
            {
                var a = (ResyncDemand)actual;
                Assert.Equal(e.SessionId, a.SessionId);
                Assert.Equal(e.FirstPage, a.FirstPage);
                Assert.Equal(e.PageNumbers, a.PageNumbers);
                break;
            }
            case ResyncPages e:
            {
                var a = (ResyncPages)actual;
                Assert.Equal(e.SessionId, a.SessionId);
                Assert.Equal(e.FirstPage, a.FirstPage);
                Assert.Equal(e.LastRange, a.LastRange);
                PagesEqual(e.Pages, a.Pages);
                break;
            }
            case ResyncFailed e:
            {
                var a = (ResyncFailed)actual;
                Assert.Equal(e.SessionId, a.SessionId);
                Assert.Equal(e.Reason, a.Reason);
                Assert.Equal(e, a);
                break;
            }
            case ReplicaReportWanted e:
            {
                var a = (ReplicaReportWanted)actual;
                Assert.Equal(e.Database, a.Database);
                Assert.Equal(e.Txid, a.Txid);
                Assert.Equal(e, a);
                break;
            }
            default:
                throw new InvalidOperationException($"no comparer for {expected.GetType()}");
        }
    }

    public static void ActorRefEqual(IActorRef expected, IActorRef actual)
    {
        Assert.Equal(expected.Path.ToString(), actual.Path.ToString());
        Assert.Equal(expected.Path.Uid, actual.Path.Uid);
        Assert.Equal(expected, actual);
    }

    private static void PagesEqual(IReadOnlyList<PageImage> expected, IReadOnlyList<PageImage> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].PageNumber, actual[i].PageNumber);
            Assert.Equal(expected[i].Data.Length, actual[i].Data.Length);
            Assert.True(expected[i].Data.AsSpan().SequenceEqual(actual[i].Data), $"page {i} bytes differ");
        }
    }
}

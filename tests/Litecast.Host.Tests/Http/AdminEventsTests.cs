using System.Net;
using System.Text.Json;
using Litecast.Actors;
using Litecast.Host.Configuration;
using Litecast.Host.Http;
using Litecast.Host.Node;

namespace Litecast.Host.Tests.Http;

/// <summary><c>GET /events</c> and the dashboard page, against a real Kestrel server and a fake node whose state the
/// test changes.</summary>
public sealed class AdminEventsTests() : FakeNodeServer(new AdminSecurity(null, "tok", ProtectReads: true))
{
    /// <summary>Reads events from the stream until <paramref name="until"/> holds for one, or 10 s pass.</summary>
    private static async Task<List<JsonElement>> ReadUntil(StreamReader stream, Func<JsonElement, bool> until)
    {
        var events = new List<JsonElement>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var line = await stream.ReadLineAsync(timeout.Token);
            Assert.NotNull(line);
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var e = JsonDocument.Parse(line[6..]).RootElement.Clone();
            events.Add(e);
            if (until(e)) return events;
        }
    }

    private static string Type(JsonElement e) => e.GetProperty("type").GetString()!;

    /// <summary>Opens <c>/events</c> with the token and reads its first event, the snapshot; disposing the reader
    /// closes the stream.</summary>
    private async Task<StreamReader> OpenPastTheSnapshotAsync()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "tok");
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("snapshot", Type((await ReadUntil(stream, _ => true))[0]));
        return stream;
    }

    [Fact]
    public async Task TheStreamStartsWithASnapshotAndReportsWhatChanges()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "tok");
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var stream = new StreamReader(await response.Content.ReadAsStreamAsync());

        var first = (await ReadUntil(stream, _ => true))[0];
        Assert.Equal("snapshot", Type(first));
        Assert.Equal(2, first.GetProperty("status").GetProperty("dbs").GetArrayLength());

        // The replica advances, a resync starts and progresses, a node becomes unreachable, a problem is raised.
        var progress = new ResyncProgressView(10, 100, 40960, 409600, 40960, DateTimeOffset.UtcNow, 1e6, 0.4);
        Node.Statuses[FakeNode.Replica.Name] = FakeNode.ReplicaStatus(healthy: false) with { Txid = 95, Resync = progress };
        Node.Members = [.. Node.Members, new ClusterMember("akka.tcp://litecast@r1:4053", [], "up", Reachable: false)];
        var events = await ReadUntil(stream, e => Type(e) == "problem-raised");
        var types = events.Select(Type).ToList();
        Assert.Contains("node-joined", types);
        var position = events.Single(e => Type(e) == "position");
        Assert.Equal("other.db", position.GetProperty("db").GetString());
        Assert.Equal(95ul, position.GetProperty("txid").GetUInt64());
        Assert.True(types.IndexOf("resync-started") < types.IndexOf("resync-progress"), string.Join(", ", types));
        var progressEvent = events.Single(e => Type(e) == "resync-progress");
        Assert.Equal(10u, progressEvent.GetProperty("pagesDone").GetUInt32());
        Assert.Equal(100u, progressEvent.GetProperty("pagesTotal").GetUInt32());

        // The resync ends, the node is reachable again, the problem clears.
        Node.Statuses[FakeNode.Replica.Name] = FakeNode.ReplicaStatus() with { Txid = 100 };
        Node.Members = [Node.Members[0], new ClusterMember("akka.tcp://litecast@r1:4053", [], "up", Reachable: true)];
        types = (await ReadUntil(stream, e => Type(e) == "problem-cleared")).Select(Type).ToList();
        Assert.Contains("resync-finished", types);
        Assert.Contains("node-reachable", types);
    }

    /// <summary>A quiet node's stream carries a comment line every 15 s: proxies close a stream silent for a minute
    /// (nginx's default), and the dashboard then lost its live view.</summary>
    [Fact]
    public async Task AQuietStreamIsKeptOpenByCommentLines()
    {
        using var stream = await OpenPastTheSnapshotAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string? line;
        while ((line = await stream.ReadLineAsync()) is not null && !line.StartsWith(':')) { }
        Assert.Equal(": keepalive", line);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(25));
    }

    [Fact]
    public async Task ADatabaseThatFailsToAnswerDoesNotStopTheStream()
    {
        using var stream = await OpenPastTheSnapshotAsync();

        Node.StatusFailures[FakeNode.Replica.Name] = "the replica's actor is gone";
        Node.Statuses[FakeNode.Primary.Name] = FakeNode.PrimaryStatus() with { Txid = 150 };
        var position = (await ReadUntil(stream, e => Type(e) == "position"))[^1];
        Assert.Equal("app", position.GetProperty("db").GetString());
        Assert.Equal(150ul, position.GetProperty("txid").GetUInt64());

        Node.StatusFailures.Clear();
        Node.Statuses[FakeNode.Primary.Name] = FakeNode.PrimaryStatus() with { Txid = 160 };
        position = (await ReadUntil(stream, e => Type(e) == "position" && e.GetProperty("db").GetString() == "app"))[^1];
        Assert.Equal(160ul, position.GetProperty("txid").GetUInt64());
    }

    [Fact]
    public void ChangesNameEveryKindOfEvent()
    {
        var before = new[] { FakeNode.PrimaryStatus() };
        var replicas = FakeNode.PrimaryStatus().Replicas.Select(r => r with { Resyncing = !r.Resyncing, Txid = r.Txid + 1 }).ToList();
        var after = new[] { FakeNode.PrimaryStatus() with { Replicas = replicas } };
        ClusterMember a = new("akka.tcp://litecast@a:1", ["primary"], "up", true), b = new("akka.tcp://litecast@b:1", [], "up", true);
        var types = AdminEvents.Changes([a, b], [a with { Reachable = false }], before, after)
            .Select(e => (string)e["type"]!).ToList();
        Assert.Equal(["node-left", "node-unreachable", "position", "resync-started", "resync-finished"], types);
        Assert.Empty(AdminEvents.Changes([a], [a], before, before));

        // A scrub that ended: its verdict, once.
        var scrubbed = new[] { FakeNode.PrimaryStatus() with { LastScrub = new ScrubView(FakeNode.LastSeen, 100, 7, Sound: false) } };
        var scrub = Assert.Single(AdminEvents.Changes([a], [a], before, scrubbed));
        Assert.Equal("scrub", (string)scrub["type"]!);
        Assert.Equal((ulong)100, (ulong)scrub["txid"]!);
        Assert.Equal((uint)7, (uint)scrub["pages"]!);
        Assert.False((bool)scrub["sound"]!);
        Assert.Empty(AdminEvents.Changes([a], [a], scrubbed, scrubbed));
    }

    /// <summary>A local write repaired by a resync that both began and ended between two looks (a small replica's usual
    /// case) showed in neither, and the stream said nothing (a black-box review): the counters tell it.</summary>
    [Fact]
    public void ALocalWriteAndAResyncWhollyBetweenTwoLooksAreTold()
    {
        var before = FakeNode.ReplicaStatus();
        var after = before with
        {
            Txid = before.Txid + 1,
            Counters = before.Counters with { LocalWritesDetected = before.Counters.LocalWritesDetected + 1, Resyncs = before.Counters.Resyncs + 1 },
        };
        ClusterMember a = new("akka.tcp://litecast@a:1", [], "up", true);

        var events = AdminEvents.Changes([a], [a], [before], [after]).ToList();

        Assert.Equal(["position", "problem-raised", "problem-cleared", "resync-started", "resync-finished"], events.Select(e => (string)e["type"]!));
        Assert.Equal("a local write changed the replica", (string)events[1]["problem"]!);
        Assert.All(events.Skip(1), e => Assert.Equal(before.Name, (string)e["db"]!));
        // A resync seen under way is told by its progress, not again by the counter; a problem seen is told as it read.
        var seen = after with { Resync = new ResyncProgressView(1, 10, 4096, 40960, 4096, DateTimeOffset.UtcNow, 1e6, 0.1), Problem = "resyncing (a local write changed the replica)" };
        Assert.Equal(["position", "resync-started", "resync-progress", "problem-raised"],
            AdminEvents.Changes([a], [a], [before], [seen]).Select(e => (string)e["type"]!));
        // A primary counts the sessions it serves: its replicas tell those, with their names.
        var primary = FakeNode.PrimaryStatus();
        var served = primary with { Counters = primary.Counters with { Resyncs = primary.Counters.Resyncs + 1 } };
        Assert.Empty(AdminEvents.Changes([a], [a], [primary], [served]));
    }

    /// <summary>The primary sees a replica's resync through the replica's reports; one over within 100 ms showed in
    /// none of them as resyncing, and the primary's stream said nothing of it. The replica's count of sessions tells
    /// it.</summary>
    [Theory]
    [InlineData(false, 3, false, 3, "")]
    [InlineData(false, 3, true, 4, "started")]
    [InlineData(true, 4, false, 4, "finished")]
    [InlineData(false, 3, false, 4, "started finished")]
    [InlineData(false, 3, false, 5, "started finished started finished")]
    [InlineData(true, 4, true, 5, "finished started")]
    [InlineData(true, 4, false, 5, "finished started finished")]
    [InlineData(false, 3, true, 5, "started finished started")]
    public void AReplicasResyncsBetweenTwoLooksAreToldOnThePrimary(bool wasResyncing, long was, bool isResyncing, long now, string told)
    {
        var replica = new ReplicaView("akka.tcp://litecast@r1:4053", FakeNode.Generation, 98, 12.5, wasResyncing, FakeNode.LastSeen, Resyncs: was);
        var after = replica with { Resyncing = isResyncing, Resyncs = now };

        var changes = AdminEvents.ReplicaResyncChanges(replica, after).Select(started => started ? "started" : "finished");

        Assert.Equal(told, string.Join(" ", changes));
    }

    /// <summary>A replica that does not count its sessions (an older one) or whose count went back (it restarted) is
    /// judged on its resyncing flag, as before the count existed.</summary>
    [Fact]
    public void AReplicaWithoutACountIsJudgedOnItsFlag()
    {
        var replica = new ReplicaView("akka.tcp://litecast@r1:4053", FakeNode.Generation, 98, 12.5, false, FakeNode.LastSeen);
        Assert.Empty(AdminEvents.ReplicaResyncChanges(replica, replica));
        Assert.Equal([true], AdminEvents.ReplicaResyncChanges(replica, replica with { Resyncing = true }));
        Assert.Equal([false], AdminEvents.ReplicaResyncChanges(replica with { Resyncing = true }, replica));
        Assert.Empty(AdminEvents.ReplicaResyncChanges(replica with { Resyncs = 7 }, replica with { Resyncs = 0 }));

        // Through Changes: the event names the replica and the database.
        var before = FakeNode.PrimaryStatus();
        var counted = before with { Replicas = before.Replicas.Select(r => r with { Resyncs = 1 }).ToList() };
        var after = before with { Replicas = before.Replicas.Select(r => r with { Resyncs = r.Resyncing ? 1 : 2 }).ToList() };
        ClusterMember a = new("akka.tcp://litecast@a:1", [], "up", true);
        var events = AdminEvents.Changes([a], [a], [counted], [after]).ToList();
        Assert.Equal(["resync-started", "resync-finished"], events.Select(e => (string)e["type"]!));
        Assert.All(events, e => Assert.Equal(before.Replicas[0].Node, (string)e["replica"]!));
        Assert.All(events, e => Assert.Equal(before.Name, (string)e["db"]!));
    }

    [Fact]
    public async Task TheDashboardPageNeedsNoTokenButItsDataDoes()
    {
        using var page = await Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("fetch(\"events\"", html);
        Assert.DoesNotContain(FakeNode.Primary.Path, html);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.GetAsync("/events")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.GetAsync("/status")).StatusCode);
    }
}

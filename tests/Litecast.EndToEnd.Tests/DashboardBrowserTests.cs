using System.Diagnostics;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Litecast.EndToEnd.Tests;

/// <summary>
/// Issue 16's dashboard in a real browser: Debian's <c>chromium</c> (scripts/install-prereqs.sh installs it), headless,
/// driven by Playwright's bundled driver pointed at <c>/usr/bin/chromium</c> (Playwright's own browser download is not
/// used). A three-node cluster on loopback; the primary's page shows every node and the database with both replicas,
/// a replica's txid advancing while an application writes and, once replica 2 is killed, that node unreachable; replica
/// 1's own page shows its forced resync's progress bar move and go away. Every check reads the page's DOM (the
/// <c>data-*</c> marks dashboard.html puts there for tests), with bounded waits. An uncaught error in the page's
/// script, or an error on its console, fails the test. The primary's page is saved as <c>dashboard.png</c> beside
/// the test assembly (docs/dashboard.png is a copy of one).
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";
    private const int BigRows = 10_000; // of 4000 random bytes: a ~40 MB database
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Resync = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Unreachable = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task TheDashboardShowsTheClusterLiveInChromium()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run scripts/install-prereqs.sh (Debian's chromium package)");
        var clock = Stopwatch.StartNew();
        using var cluster = new EndToEndCluster();
        await cluster.StartAsync($"""
            db.execute('CREATE TABLE events(id INTEGER PRIMARY KEY, at TEXT NOT NULL)')
            db.execute('CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB NOT NULL)')
            db.execute('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BigRows}) INSERT INTO big(b) SELECT randomblob(4000) FROM n')
            """, replicas: 2, Start);
        output.WriteLine($"cluster up with a {new FileInfo(cluster.PrimaryDb).Length / 1e6:F1} MB database after {clock.Elapsed.TotalSeconds:F1} s");

        // Who is who, as the nodes themselves say: the page must show these addresses.
        var primaryNode = await NodeAsync(cluster, cluster.PrimaryUrl);
        var replicaNodes = new[] { await NodeAsync(cluster, cluster.ReplicaUrl(0)), await NodeAsync(cluster, cluster.ReplicaUrl(1)) };

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        output.WriteLine($"chromium {browser.Version}");
        var errors = new List<string>();
        var primaryPage = await OpenAsync(browser, cluster.PrimaryUrl, errors);

        // Every node, reachable, this node marked; the database as primary with both replicas.
        await primaryPage.WaitForFunctionAsync("n => document.querySelectorAll('tr[data-node]').length === n", 3,
            new PageWaitForFunctionOptions { Timeout = Ms(Short) });
        var members = await primaryPage.Locator("tr[data-node]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.node)");
        Assert.Equal(new[] { primaryNode }.Concat(replicaNodes).Order(), members.Order());
        foreach (var node in members)
            Assert.Equal("true", await primaryPage.Locator(Row(node)).GetAttributeAsync("data-reachable"));
        Assert.Contains("(this node)", await primaryPage.Locator(Row(primaryNode)).InnerTextAsync());
        var db = primaryPage.Locator("section[data-db=\"db\"]");
        Assert.Equal("primary", await db.GetAttributeAsync("data-role"));
        await primaryPage.WaitForFunctionAsync("n => document.querySelectorAll('section[data-db=\"db\"] tr[data-replica]').length === n", 2,
            new PageWaitForFunctionOptions { Timeout = Ms(Short) });
        var replicaRows = await db.Locator("tr[data-replica]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.replica)");
        Assert.Equal(replicaNodes.Order(), replicaRows.Order());
        output.WriteLine($"page shows 3 nodes and db with 2 replicas after {clock.Elapsed.TotalSeconds:F1} s");

        // While the application writes, replica 1's txid on the primary's page moves.
        // The application: one small insert every 20 ms.
        using var writer = PythonWriter.Start(cluster.PrimaryDb, "", "db.execute(\"INSERT INTO events(at) VALUES (datetime('now'))\")\ntime.sleep(0.02)");
        var replicaTxid = $"section[data-db=\"db\"] tr[data-replica=\"{replicaNodes[0]}\"] td.txid";
        var before = long.Parse(await primaryPage.Locator(replicaTxid).InnerTextAsync());
        await primaryPage.WaitForFunctionAsync("([selector, before]) => Number(document.querySelector(selector)?.textContent) > before",
            new object[] { replicaTxid, before }, new PageWaitForFunctionOptions { Timeout = Ms(Short) });
        var after = long.Parse(await primaryPage.Locator(replicaTxid).InnerTextAsync());
        Assert.True(after > before, $"replica 1's txid on the page went from {before} to {after}");
        output.WriteLine($"replica 1's txid on the page: {before} -> {after}");

        // Replica 1's own page shows its resync: a progress line whose bar moves, then goes away. A forced resync of
        // an intact replica only compares page hashes (well under a second for 40 MB); to make it fetch pages, as it
        // does for a damaged replica, most of replica 1's file is overwritten with zeros behind Litecast's back first
        // (raw writes: SQLite's change counter does not move, so nothing notices until the resync hashes the file; the
        // replica checkpoints its WAL every second, so those pages are read from the main file). Both pages are
        // watched from inside (a MutationObserver keeps every value shown), as nothing polled from outside could
        // promise to see each step of a two-second bar.
        var replicaPage = await OpenAsync(browser, cluster.ReplicaUrl(0), errors);
        Assert.Equal("replica", await replicaPage.Locator("section[data-db=\"db\"]").GetAttributeAsync("data-role"));
        await Watch(replicaPage, "p[data-resync=\"db\"]", "e => e.dataset.percent + ' ' + e.querySelector('.bar > span')?.style.width");
        var replicaState = $"tr[data-replica=\"{replicaNodes[0]}\"] td:nth-child(3)";
        await Watch(primaryPage, replicaState, "e => e.textContent.trim()");
        var damaged = Damage(cluster.ReplicaDb(0));
        output.WriteLine($"zeroed {damaged / 1e6:F1} MB of replica 1's file");
        var resync = await cluster.Http.PostAsync($"{cluster.ReplicaUrl(0)}/dbs/db/resync", null);
        Assert.True(resync.IsSuccessStatusCode, $"resync: {(int)resync.StatusCode} {await resync.Content.ReadAsStringAsync()}");
        var resyncClock = Stopwatch.StartNew();
        var progressLine = replicaPage.Locator("p[data-resync=\"db\"]");
        await progressLine.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = Ms(Short) });
        output.WriteLine($"progress line shown {resyncClock.Elapsed.TotalSeconds:F1} s after the resync was asked for");
        // Meanwhile the primary's page shows replica 1 resyncing: the screenshot (docs/dashboard.png) is taken then.
        await primaryPage.WaitForFunctionAsync("() => window.seen.includes('resyncing')", null, new PageWaitForFunctionOptions { Timeout = Ms(Short) });
        await primaryPage.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "dashboard.png"), FullPage = true });
        await progressLine.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached, Timeout = Ms(Resync) });
        output.WriteLine($"progress line gone {resyncClock.Elapsed.TotalSeconds:F1} s after the resync was asked for");

        var shown = await replicaPage.EvaluateAsync<string[]>("() => window.seen");
        var lastLine = await replicaPage.EvaluateAsync<string>("() => window.lastText");
        output.WriteLine($"progress shown (percent, bar width): {string.Join(" | ", shown)}\nlast progress line: {lastLine}");
        var percents = new List<double>();
        foreach (var value in shown.Where(v => !v.StartsWith("undefined"))) // "resync starting…" has no percent yet
        {
            var (percent, width) = (Number(value.Split(' ')[0]), value.Split(' ')[1]);
            Assert.True(width.EndsWith('%') && Math.Abs(Number(width.TrimEnd('%')) - percent) < 0.05, $"the bar is {width} wide at {percent}%");
            percents.Add(percent);
        }
        Assert.True(percents.Distinct().Count() >= 2, $"the progress bar did not move: {string.Join(" | ", shown)} (did the resync fetch no pages?)");
        Assert.Equal(percents.Order(), percents);
        Assert.Matches(@"\d+ of \d+ pages", lastLine);
        var fetched = System.Text.RegularExpressions.Regex.Match(lastLine, @"([\d.]+) MB fetched");
        Assert.True(fetched.Success && Number(fetched.Groups[1].Value) > 0, $"no bytes fetched: {lastLine}");
        var states = await primaryPage.EvaluateAsync<string[]>("() => window.seen");
        output.WriteLine($"replica 1's state on the primary's page: {string.Join(" -> ", states)}");
        // Done, the replica follows again, on both pages.
        await replicaPage.Locator("section[data-db=\"db\"] b:text-is(\"following\")").WaitForAsync(new LocatorWaitForOptions { Timeout = Ms(Short) });
        await primaryPage.Locator($"{replicaState}:text-is(\"following\")").WaitForAsync(new LocatorWaitForOptions { Timeout = Ms(Short) });

        // Replica 2 dies: the primary's page shows its node unreachable, the others still reachable.
        cluster.Replicas[1]!.Kill();
        var killClock = Stopwatch.StartNew();
        await primaryPage.Locator($"{Row(replicaNodes[1])}[data-reachable=\"false\"]").WaitForAsync(new LocatorWaitForOptions { Timeout = Ms(Unreachable) });
        output.WriteLine($"replica 2 shown unreachable {killClock.Elapsed.TotalSeconds:F1} s after kill -9");
        Assert.Contains("UNREACHABLE", await primaryPage.Locator(Row(replicaNodes[1])).InnerTextAsync());
        Assert.Equal("true", await primaryPage.Locator(Row(primaryNode)).GetAttributeAsync("data-reachable"));
        Assert.Equal("true", await primaryPage.Locator(Row(replicaNodes[0])).GetAttributeAsync("data-reachable"));
        Assert.Equal("live", await primaryPage.Locator("#connection").InnerTextAsync());

        output.WriteLine($"the application committed {writer.Stop()} transactions");
        Assert.True(errors.Count == 0, "the page reported errors:\n" + string.Join("\n", errors));
        output.WriteLine($"done in {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Zeroes the pages from a tenth to nine tenths of a database file, in place; returns the bytes zeroed.</summary>
    private static long Damage(string path)
    {
        const int pageSize = 4096;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        var pages = file.Length / pageSize;
        long first = pages / 10, last = pages * 9 / 10;
        var zeros = new byte[pageSize * 256];
        for (var page = first; page < last; page += 256)
        {
            file.Position = page * pageSize;
            file.Write(zeros, 0, (int)(Math.Min(256, last - page) * pageSize));
        }
        file.Flush(flushToDisk: true);
        return (last - first) * pageSize;
    }

    private static double Number(string text) => double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static float Ms(TimeSpan span) => (float)span.TotalMilliseconds;

    private static string Row(string node) => $"tr[data-node=\"{node}\"]";

    private static async Task<string> NodeAsync(EndToEndCluster cluster, string url) =>
        (await cluster.GetJsonAsync($"{url}/status")).GetProperty("node").GetString()!;

    /// <summary>
    /// Opens a node's dashboard and waits until its event stream is live; page errors go to <paramref name="errors"/>.
    /// Each page has a context (a window) of its own: two pages of one context are tabs, and Chromium runs a background
    /// tab's animation frames, which the page renders in, at a few a second.
    /// </summary>
    private static async Task<IPage> OpenAsync(IBrowser browser, string url, List<string> errors)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 800 } });
        var page = await context.NewPageAsync();
        page.PageError += (_, error) => { lock (errors) errors.Add($"{url}: uncaught: {error}"); };
        page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning") lock (errors) errors.Add($"{url}: console.{message.Type}: {message.Text}");
        };
        var response = await page.GotoAsync(url + "/");
        Assert.True(response is { Ok: true }, $"GET {url}/: {response?.Status}");
        await page.Locator("#connection:text-is(\"live\")").WaitForAsync(new LocatorWaitForOptions { Timeout = Ms(Short) });
        return page;
    }

    /// <summary>
    /// Keeps, in <c>window.seen</c>, every value the element at <paramref name="selector"/> showed from now on, as
    /// <paramref name="read"/> (a JavaScript function of the element) reads it, and its last text in
    /// <c>window.lastText</c>. The page re-renders by replacing its HTML, so the document is observed and the element
    /// looked up again at each change.
    /// </summary>
    private static Task Watch(IPage page, string selector, string read) => page.EvaluateAsync($$"""
        selector => {
          const read = {{read}};
          window.seen = [];
          const look = () => {
            const element = document.querySelector(selector);
            if (!element) return;
            window.lastText = element.textContent.replace(/\s+/g, " ").trim();
            const value = read(element);
            if (window.seen[window.seen.length - 1] !== value) window.seen.push(value);
          };
          new MutationObserver(look).observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
          look();
        }
        """, selector);
}

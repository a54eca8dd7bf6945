using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Litecast.Messages;
using Litecast.Storage;

// Storage benchmark: a plain Stopwatch harness (repeated runs, median/min/max) over files in a temp directory.
//   dotnet run -c Release --project bench/Litecast.Benchmarks -- storage [--runs N] [--pages N]
//   dotnet run -c Release --project bench/Litecast.Benchmarks -- storage --smoke     (tiny sizes, one run: for CI)

internal static class StorageBenchmark
{
    /// <summary>Runs the storage benchmark, printing its table; adds its performance-issue targets (page apply with the
    /// checkpoint deferred, vs raw) to <paramref name="targets"/> when given.</summary>
    public static int Run(List<string> arguments, TextWriter output, List<Figure>? targets = null)
    {
        var smoke = arguments.Contains("--smoke");
        int Option(string name, int fallback)
        {
            var i = arguments.IndexOf(name);
            return i >= 0 && i + 1 < arguments.Count ? int.Parse(arguments[i + 1], CultureInfo.InvariantCulture) : fallback;
        }
        var runs = Option("--runs", smoke ? 1 : 5);
        var applyPages = Option("--pages", smoke ? 1000 : 100_000);
        var walFrames = smoke ? 256 : 100_000;
        var checksumBytes = smoke ? 1 << 20 : 256 << 20;
        var hashPages = smoke ? 1000 : 100_000;
        const int pageSize = 4096;

        var directory = Path.Combine(Path.GetTempPath(), "litecast-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var rows = new List<Row>();
        try
        {
            NativeSqlite.EnsureLoaded();
            output.WriteLine($"Litecast storage benchmark: {runs} run(s), page size {pageSize}, apply {applyPages} pages, " +
                              $"WAL {walFrames} frames, {Environment.ProcessorCount} cores, temp dir {directory}");

            // Real database pages: a primary built through SQLite, read back through sqlite_dbpage.
            var pages = BuildPages(directory, applyPages);

            // 1. WAL parsing: WalReader.Read over a WAL of walFrames frames (commit every 100 frames).
            var walPath = Path.Combine(directory, "bench.db-wal");
            WriteWal(walPath, pages, walFrames);
            rows.Add(Measure($"WAL parse ({walFrames} frames)", "pages/s", runs, () =>
            {
                using var reader = new WalReader(walPath);
                var result = reader.Read();
                var parsed = result.Transactions.Sum(t => t.Pages.Count);
                if (result.Stop != WalStop.EndOfFile || parsed == 0) throw new InvalidOperationException($"WAL parse stopped at {result.Stop}: {result.Detail}");
                return walFrames;
            }));

            // 2. WAL checksum over checksumBytes, in page-sized steps like the reader.
            var checksumBuffer = new byte[checksumBytes];
            new Random(1).NextBytes(checksumBuffer);
            rows.Add(Measure($"WAL checksum ({checksumBytes >> 20} MiB)", "MB/s", runs, () =>
            {
                var sum = default(WalChecksum);
                for (var offset = 0; offset < checksumBuffer.Length; offset += pageSize)
                    sum = WalFormat.Checksum(checksumBuffer.AsSpan(offset, pageSize), false, sum);
                GC.KeepAlive(sum);
                return checksumBytes / 1e6;
            }));

            // 3. DatabaseHash: SetPage of hashPages pages (XxHash3 per page, XOR into the total).
            rows.Add(Measure($"DatabaseHash update ({hashPages} pages)", "pages/s", runs, () =>
            {
                var hash = new DatabaseHash(pageSize);
                for (var i = 0; i < hashPages; i++) hash.SetPage((uint)(i + 1), pages[i % pages.Count].Data);
                GC.KeepAlive(hash.Value);
                return hashPages;
            }));

            // 4. Page apply of one applyPages-page transaction through ReplicaPageWriter into a new replica, against a raw
            //    sequential write + fsync of the same bytes, alternating so both see the same machine state.
            var replicaPath = Path.Combine(directory, "replica.db");
            var rawPath = Path.Combine(directory, "raw.bin");
            var applyTimes = new List<double>();
            var rawTimes = new List<double>();
            var deferredTimes = new List<double>();
            var checkpointTimes = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(replicaPath + suffix);
                File.Delete(rawPath);
                using (var applier = ReplicaPageWriter.Open(replicaPath, pageSize))
                {
                    var clock = Stopwatch.StartNew();
                    applier.Apply(pages, (uint)pages.Count);
                    applyTimes.Add(clock.Elapsed.TotalSeconds);
                }
                VerifyReplica(replicaPath, pages);

                // The same with SQLite's in-commit checkpoint off; the checkpoint (copy into the database file + fsync) is
                // timed on its own, as the applier would run it between batches.
                foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(replicaPath + suffix);
                using (var applier = ReplicaPageWriter.Open(replicaPath, pageSize, checkpointOnCommit: false))
                {
                    var clock = Stopwatch.StartNew();
                    applier.Apply(pages, (uint)pages.Count);
                    deferredTimes.Add(clock.Elapsed.TotalSeconds);
                    clock.Restart();
                    applier.Checkpoint(truncate: true);
                    checkpointTimes.Add(clock.Elapsed.TotalSeconds);
                }
                VerifyReplica(replicaPath, pages);

                var watch = Stopwatch.StartNew();
                using (var rawFile = new FileStream(rawPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                {
                    foreach (var page in pages) rawFile.Write(page.Data);
                    rawFile.Flush(flushToDisk: true);
                }
                rawTimes.Add(watch.Elapsed.TotalSeconds);
            }
            var apply = Row.From($"Page apply ({pages.Count} pages, 1 tx)", "pages/s", applyTimes.Select(t => pages.Count / t));
            var raw = Row.From($"Raw write+fsync ({pages.Count} pages)", "pages/s", rawTimes.Select(t => pages.Count / t));
            var deferred = Row.From("Page apply, checkpoint deferred", "pages/s", deferredTimes.Select(t => pages.Count / t));
            var checkpoint = Row.From("  then checkpoint(TRUNCATE) alone", "pages/s", checkpointTimes.Select(t => pages.Count / t));
            rows.Add(apply);
            rows.Add(deferred);
            rows.Add(checkpoint);
            rows.Add(raw);

            // 5. DatabaseHash.Compute of the replica file just written, from the page cache: a replica's startup check,
            //    a resync's rehash and a scrub each hash the whole file this way. Its baseline is the way it used to
            //    read the file, one sqlite_dbpage row per page, and the two must give the same hash.
            ulong blockHash = 0, rowHash = 0;
            var compute = Measure($"DatabaseHash.Compute ({pages.Count} pages)", "pages/s", runs, () =>
            {
                using var connection = SqliteConnections.OpenReadOnly(replicaPath);
                var hash = DatabaseHash.Compute(connection);
                if (hash.PageCount != pages.Count) throw new InvalidOperationException($"hashed {hash.PageCount} pages of {pages.Count}");
                blockHash = hash.Value;
                return hash.PageCount;
            });
            var pageByPage = Measure("  page by page through sqlite_dbpage", "pages/s", runs, () =>
            {
                using var connection = SqliteConnections.OpenReadOnly(replicaPath);
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT pgno, data FROM sqlite_dbpage";
                using var reader = command.ExecuteReader();
                var count = 0;
                rowHash = 0;
                for (; reader.Read(); count++) rowHash ^= DatabaseHash.PageHash((uint)reader.GetInt64(0), reader.GetFieldValue<byte[]>(1));
                return count;
            });
            if (blockHash != rowHash) throw new InvalidOperationException($"DatabaseHash.Compute gave {blockHash:x16}, page by page {rowHash:x16}");
            rows.Add(compute);
            rows.Add(pageByPage);

            // 6. Wire codec: one 256 KiB part of a batch, encoded and decoded by the hand codec and by protobuf.
            var (handRates, protoRates) = WireCodecBenchmark.Run(pages, runs, smoke ? 50 : 2000);
            var hand = Row.From("Wire round trip, hand codec (64 pages)", "parts/s", handRates);
            var proto = Row.From("Wire round trip, protobuf (64 pages)", "parts/s", protoRates);
            rows.Add(hand);
            rows.Add(proto);

            output.WriteLine();
            output.WriteLine($"{"measurement",-42} {"unit",-8} {"median",14} {"min",14} {"max",14}");
            output.WriteLine(new string('-', 96));
            foreach (var row in rows)
                output.WriteLine($"{row.Name,-42} {row.Unit,-8} {row.Median,14:N0} {row.Min,14:N0} {row.Max,14:N0}");
            output.WriteLine(new string('-', 96));
            output.WriteLine($"apply MB/s (median): {apply.Median * pageSize / 1e6:N0}   raw MB/s (median): {raw.Median * pageSize / 1e6:N0}");
            var ratio = apply.Median / raw.Median;
            output.WriteLine($"apply / raw (medians), checkpoint in commit (default): {ratio:F2}   (target >= 0.50: {(ratio >= 0.5 ? "met" : "NOT met")})");
            var deferredRatio = deferred.Median / raw.Median;
            output.WriteLine($"apply / raw (medians), checkpoint deferred:            {deferredRatio:F2}   (target >= 0.60: {(deferredRatio >= 0.6 ? "met" : "NOT met")})");
            targets?.Add(new Figure("storage", "page apply, checkpoint deferred (storage benchmark), vs raw write+fsync", "ratio", [deferredRatio], "",
                new Target($"ratio {deferredRatio:F2} vs raw write+fsync", "target ≥ 0.6", deferredRatio >= 0.6, Issue: true)));
            output.WriteLine($"protobuf / hand codec round trips (medians):           {proto.Median / hand.Median:F2}");
            output.WriteLine($"DatabaseHash.Compute / page by page (medians):         {compute.Median / pageByPage.Median:F2}");
            return 0;
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }

        static Row Measure(string name, string unit, int runs, Func<double> body)
        {
            body(); // warm-up (JIT, page cache)
            var rates = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var clock = Stopwatch.StartNew();
                var work = body();
                rates.Add(work / clock.Elapsed.TotalSeconds);
            }
            return Row.From(name, unit, rates);
        }

        static List<PageImage> BuildPages(string directory, int count)
        {
            var path = Path.Combine(directory, "primary.db");
            using var app = SqliteConnections.OpenOrCreate(path);
            app.Execute($"PRAGMA page_size = {pageSize}; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF");
            app.Execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
            // ~0.95 page per row of 3900 bytes; add rows until the page count is reached.
            var id = 0;
            while (app.Scalar<long>("PRAGMA page_count") < count)
            {
                var batch = Math.Max(1, (count - (int)app.Scalar<long>("PRAGMA page_count")) * 9 / 10);
                app.Execute($"BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {batch}) " +
                            $"INSERT INTO t SELECT {id} + i, randomblob(3900) FROM n; COMMIT");
                id += batch;
            }
            var pages = new List<PageImage>(count);
            using var command = app.CreateCommand();
            command.CommandText = $"SELECT pgno, data FROM sqlite_dbpage WHERE pgno <= {count}";
            using var reader = command.ExecuteReader();
            while (reader.Read()) pages.Add(new PageImage((uint)reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
            // The apply writes the first `count` pages and sets the size to `count`: page 1 must say so.
            // (It may cut the last b-tree pages off: the benchmark checks bytes and hashes, not the schema.) And it says WAL, as
            // a primary's page 1 does.
            BinaryPrimitives.WriteUInt32BigEndian(pages[0].Data.AsSpan(28), (uint)count);
            pages[0].Data[18] = 2;
            pages[0].Data[19] = 2;
            return pages;
        }

        static void WriteWal(string path, List<PageImage> pages, int frames)
        {
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20);
            var header = new byte[WalFormat.HeaderSize];
            BinaryPrimitives.WriteUInt32BigEndian(header, WalFormat.MagicLittleEndian);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), WalFormat.FormatVersion);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), pageSize);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), 0x1234);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(20), 0x5678);
            var sum = WalFormat.Checksum(header.AsSpan(0, 24), false, default);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), sum.S1);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(28), sum.S2);
            file.Write(header);
            var frameHeader = new byte[WalFormat.FrameHeaderSize];
            for (var i = 0; i < frames; i++)
            {
                var page = pages[i % pages.Count];
                var commit = i % 100 == 99 || i == frames - 1 ? (uint)pages.Count : 0u;
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader, page.PageNumber);
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader.AsSpan(4), commit);
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader.AsSpan(8), 0x1234);
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader.AsSpan(12), 0x5678);
                sum = WalFormat.Checksum(frameHeader.AsSpan(0, 8), false, sum);
                sum = WalFormat.Checksum(page.Data, false, sum);
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader.AsSpan(16), sum.S1);
                BinaryPrimitives.WriteUInt32BigEndian(frameHeader.AsSpan(20), sum.S2);
                file.Write(frameHeader);
                file.Write(page.Data);
            }
        }

        static void VerifyReplica(string path, List<PageImage> pages)
        {
            using var connection = SqliteConnections.OpenReadOnly(path);
            var count = connection.Scalar<long>("PRAGMA page_count");
            if (count != pages.Count) throw new InvalidOperationException($"replica has {count} pages, expected {pages.Count}");
            var expected = new DatabaseHash(pageSize);
            foreach (var page in pages) expected.SetPage(page.PageNumber, page.Data);
            var actual = DatabaseHash.Compute(connection);
            if (actual.Value != expected.Value) throw new InvalidOperationException("the replica's hash differs from the applied pages");
        }
    }
}

internal sealed record Row(string Name, string Unit, double Median, double Min, double Max)
{
    public static Row From(string name, string unit, IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new Row(name, unit, median, sorted[0], sorted[^1]);
    }
}

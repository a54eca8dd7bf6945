#!/usr/bin/env python3
"""A plain Python application for the replication benchmark (section 10).

The writer commits one marker row every --interval-ms to the primary through the standard library's sqlite3 with its
default settings (its own connection, WAL mode, SQLite's default synchronous and autocheckpoint; the implicit
transaction committed by commit()). A poller thread in the same process opens each --replica file read-only and
reads max(id) with a fresh read transaction per poll, every ~0.2 ms. Both stamp time.monotonic_ns() (one clock):
lag = first seen on the replica - commit() returned. Prints one JSON object of numbers as its last line, with the
benchmark's workload names (committed, rate, r{i}LagP50Ms, r{i}LagP99Ms, r{i}LagMaxMs, r{i}Missing).
"""
import argparse
import json
import math
import sqlite3
import sys
import threading
import time


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    index = max(0, min(len(sorted_values) - 1, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[index]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--replica", action="append", default=[])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--interval-ms", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    # Measurement, not the application: hand the GIL over within 0.1 ms (default 5 ms), so neither thread's stamp
    # waits for the other's Python code.
    sys.setswitchinterval(0.0001)

    app = sqlite3.connect(args.db, timeout=10)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("CREATE TABLE IF NOT EXISTS marker(id INTEGER PRIMARY KEY, at INTEGER)")
    app.commit()
    start_id = app.execute("SELECT coalesce(max(id), 0) FROM marker").fetchone()[0] + 1

    committed_at = []  # committed_at[i]: when id start_id + i's commit returned
    seen_at = [dict() for _ in args.replica]
    done = threading.Event()

    def poll():
        readers = [sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10) for path in args.replica]
        seen = [start_id - 1] * len(readers)
        done_at = None
        while True:
            target = start_id + len(committed_at) - 1
            finished = done.is_set()
            caught_up = True
            for r, reader in enumerate(readers):
                try:
                    current = reader.execute("SELECT coalesce(max(id), 0) FROM marker").fetchone()[0]
                except sqlite3.OperationalError:  # the table not replicated yet, or busy
                    caught_up = False
                    continue
                now = time.monotonic_ns()
                for marker in range(seen[r] + 1, current + 1):
                    seen_at[r][marker] = now
                seen[r] = max(seen[r], current)
                if seen[r] < target:
                    caught_up = False
            if finished:
                if caught_up:
                    break
                done_at = done_at or time.monotonic()
                if time.monotonic() - done_at > args.timeout:
                    break
            time.sleep(0.0002)
        for reader in readers:
            reader.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    interval = args.interval_ms / 1000
    t0 = time.monotonic()
    i = 0
    while True:
        due = t0 + i * interval
        if due >= t0 + args.seconds:
            break
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        app.execute("INSERT INTO marker(id, at) VALUES (?, ?)", (start_id + i, time.time_ns()))
        app.commit()
        committed_at.append(time.monotonic_ns())
        i += 1
    seconds = time.monotonic() - t0
    done.set()
    poller.join()
    app.close()

    result = {"committed": len(committed_at), "seconds": seconds, "rate": len(committed_at) / seconds}
    for r in range(len(args.replica)):
        lags = sorted(max(0, seen_at[r][start_id + k] - at) / 1e6 for k, at in enumerate(committed_at) if start_id + k in seen_at[r])
        result[f"r{r}Missing"] = len(committed_at) - len(lags)
        result[f"r{r}LagP50Ms"] = percentile(lags, 0.50)
        result[f"r{r}LagP99Ms"] = percentile(lags, 0.99)
        result[f"r{r}LagMaxMs"] = lags[-1] if lags else float("nan")
    # NaN as the string "NaN" (bare NaN is not JSON; the benchmark reads named literals in strings).
    print(json.dumps({k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()

"""A reader on a replica, read-only as the README asks, checking the bank's invariants on every read.

argv: db_path accounts expected_total
Each read is one statement, so one snapshot: the total of every balance, the number of accounts and the version.
The total must equal expected_total, the ledger's newest entry must be the version, and the version must never go back. The connection is reopened every 2 s so
that a file replaced by a resync is seen as a new reader would see it; the version must not go back across that either.
A replica file that SQLite finds malformed (or not a database) is a violation too, never a retried error: readers must
see the old copy or the new one, whatever happened (issue 11.1). "unable to open" (the file deleted, issue 11.4) and
"no such table" (an empty file a resync is filling) are retried errors.
Prints "violation <text>" at once, "progress <checks> <version>" every 0.5 s and "errors <json>" (read errors by
message; before the replica's first resync, "no such table" is expected).
"""
import json, os, sqlite3, sys, threading, time

path, accounts, expected_total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
parent = os.getppid()


def watch_parent():
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def read_stdin():
    sys.stdin.read()  # closed by the harness: stop
    os._exit(0)


threading.Thread(target=watch_parent, daemon=True).start()
threading.Thread(target=read_stdin, daemon=True).start()

QUERY = ("SELECT (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM accounts), (SELECT v FROM version), "
         "(SELECT coalesce(max(id), 0) FROM ledger)")
checks = 0
last_version = -1
errors = {}
conn = None
opened = 0.0
reported = 0.0
while True:
    now = time.monotonic()
    try:
        if conn is None or now - opened > 2:
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            opened = now
        total, count, version, ledger = conn.execute(QUERY).fetchone()
        if total != expected_total or count != accounts:
            print(f"violation total {total} over {count} accounts, expected {expected_total} over {accounts} (version {version})", flush=True)
        if ledger != version:
            print(f"violation the ledger's newest entry is {ledger} at version {version}", flush=True)
        if version < last_version:
            print(f"violation version went back from {last_version} to {version}", flush=True)
        last_version = max(last_version, version)
        checks += 1
    except sqlite3.Error as e:
        # Before the first read the replica's file may not exist yet (its first resync creates it).
        key = str(e) if checks > 0 else "before the first read: " + str(e)
        if "malformed" in str(e) or "not a database" in str(e):
            print(f"violation read failed: {e} (after {checks} good reads, last version {last_version})", flush=True)
        errors[key] = errors.get(key, 0) + 1
        if conn is not None:
            conn.close()
        conn = None
        time.sleep(0.05)
    if now - reported >= 0.5:
        print(f"progress {checks} {last_version}", flush=True)
        print("errors " + json.dumps(errors), flush=True)
        reported = now
    time.sleep(0.004)

"""The application: bank transfers on the primary with Python's own SQLite, as a real user's app would write it.

argv: db_path seed accounts commits_per_second
Each transaction is BEGIN IMMEDIATE, 1-25 transfers (2-50 account updates, so the total never changes), one ledger
entry whose id is the new version, and one increment of the version row. Commands on stdin, run between transactions on the same connection (the application's
own maintenance): TRUNCATE, RESTART (wal_checkpoint modes), VACUUM, REPLACE (the database file replaced by a copy
of itself: VACUUM INTO a new file, renamed over the path, old -wal/-shm removed, a fresh connection), BLOB <bytes>
(one transaction replacing the bulk table's rows by that many bytes of random blobs: growth a full disk cannot take),
stop.
Prints "progress <commits> <errors> <version>" every 0.5 s, "done <cmd> <result> <ms>" / "failed <cmd> <error>"
per command, and "error <message>" for a failed transaction (retried with the next one).
"""
import os, queue, random, sqlite3, sys, threading, time

path, seed, accounts, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(seed)
LEDGER_KEPT = 5000  # as in BankWriter.cs
DOCUMENTS = 500
parent = os.getppid()
commands = queue.Queue()


def read_commands():
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("stop")  # the harness went away: stop writing


def watch_parent():
    # If the harness dies without cleaning up (kill -9), do not keep writing forever.
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


threading.Thread(target=read_commands, daemon=True).start()
threading.Thread(target=watch_parent, daemon=True).start()


def connect():
    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


db = connect()
version = db.execute("SELECT v FROM version").fetchone()[0]
commits = errors = 0
interval = 1.0 / rate
next_at = time.monotonic()
reported = 0.0


def replace_file():
    # The application replaces its database by a copy of itself while Litecast runs (issue 11.1): same accounts,
    # version and ledger, a new file (new inode) at the same path, the old WAL and shared memory removed.
    global db
    new = path + ".replacement"
    for leftover in (new, new + "-wal", new + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    db.execute("VACUUM INTO ?", (new,))
    copy = sqlite3.connect(new, isolation_level=None)
    copy.execute("PRAGMA journal_mode = WAL")
    copy.close()
    db.close()
    os.rename(new, path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = connect()
    return db.execute("SELECT v FROM version").fetchone()[0]


def run_command(cmd):
    started = time.monotonic()
    try:
        if cmd == "VACUUM":
            db.execute("VACUUM")
            result = "ok"
        elif cmd == "REPLACE":
            copied = replace_file()
            if copied != version:
                raise sqlite3.Error(f"the copy holds version {copied}, the application wrote {version}")
            result = f"version {copied}"
        elif cmd.startswith("BLOB "):
            size = int(cmd.split()[1])
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM bulk")
            db.executemany("INSERT INTO bulk(body) VALUES (randomblob(100000))", [()] * max(1, size // 100000))
            db.execute("COMMIT")
            result = f"{size // 1000000} MB"
        else:
            result = ",".join(str(x) for x in db.execute(f"PRAGMA wal_checkpoint({cmd})").fetchone())
        print(f"done {cmd} {result} {(time.monotonic() - started) * 1000:.0f}", flush=True)
    except (sqlite3.Error, OSError) as e:
        print(f"failed {cmd} {e}", flush=True)
        if db.in_transaction:
            db.execute("ROLLBACK")


while True:
    try:
        cmd = commands.get_nowait()
    except queue.Empty:
        cmd = None
    if cmd == "stop":
        break
    if cmd:
        run_command(cmd)
    try:
        db.execute("BEGIN IMMEDIATE")
        for _ in range(rng.randint(1, 25)):
            a, b, amount = rng.randrange(accounts), rng.randrange(accounts), rng.randint(1, 100)
            db.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, a))
            db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, b))
        # The ledger's newest entry is always the version (a second invariant), and the oldest entries are deleted,
        # so the file has free pages and VACUUM has work to do; now and then a 4 KB document is rewritten, so pages
        # beyond the hot accounts change too.
        db.execute("INSERT INTO ledger VALUES (?, ?, randomblob(200))", (version + 1, amount))
        db.execute("DELETE FROM ledger WHERE id = ?", (version + 1 - LEDGER_KEPT,))
        if rng.random() < 0.1:
            db.execute("UPDATE documents SET body = randomblob(4000) WHERE id = ?", (rng.randrange(DOCUMENTS),))
        db.execute("UPDATE version SET v = v + 1")
        db.execute("COMMIT")
        commits += 1
        version += 1
    except sqlite3.Error as e:
        errors += 1
        print(f"error {e}", flush=True)
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
    now = time.monotonic()
    if now - reported >= 0.5:
        print(f"progress {commits} {errors} {version}", flush=True)
        reported = now
    # Paced, not back-to-back: a steady few hundred commits/s leaves the 2 shared cores to Litecast too.
    next_at += interval
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    elif delay < -1:
        next_at = time.monotonic()

print(f"progress {commits} {errors} {version}", flush=True)
print("stopped", flush=True)
db.close()

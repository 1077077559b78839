"""Shared helpers for the fault-injection tests (tests/integration/test_faults_*.py).

    from faults import LONG, csv_rows, wait_until, cpu_seconds, Pg, sanitizer_report

LONG is true when INGESTD_LONG=1 (`make check-long`): the tests then scale up (longer outages,
more kills, more files). Every helper asserts on what the database and the queues hold; log
text is used only to count rate-limited messages, never as the proof of a load.
"""

import os
import re
import threading
import time

LONG = os.environ.get("INGESTD_LONG", "") not in ("", "0")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def csv_rows(start, n, width=40):
    """A CSV object with a header and ids start..start+n-1 (unique across objects when the
    callers give disjoint ranges)."""
    pad = "x" * width
    return "id,payload\n" + "".join(f"{i},row {i} {pad}\n" for i in range(start, start + n))


def wait_until(pred, timeout, what, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sanitizer_report(text):
    """The first sanitizer finding in a log (ASan, LSan, UBSan), or None."""
    m = re.search(r"(ERROR: (AddressSanitizer|LeakSanitizer)[^\n]*|runtime error:[^\n]*)", text)
    return m.group(1) if m else None


class Pg:
    """Counting queries on a table with columns (id, payload) and on the ledger."""

    name = "PostgreSQL"
    quote = '"'

    def __init__(self, st, table):
        self.st = st
        self.table = table

    def sql(self, text):
        return self.st.psql(text)

    def loading(self):
        """True while a bulk load (COPY) runs."""
        return self.st.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'ingest' "
                            "AND state = 'active' AND query LIKE 'COPY%'",
                            superuser=True) != [("0",)]

    def restart(self):
        """A crash-like stop (immediate: no checkpoint, recovery at start), then a start."""
        self.st.pg_stop("immediate")
        time.sleep(0.5)
        self.st.pg_start()

    def create(self, key=False):
        self.sql(f"DROP TABLE IF EXISTS {self.table}")
        self.sql(f"CREATE TABLE {self.table} (id bigint{' PRIMARY KEY' if key else ''}, "
                 "payload text)")

    def count(self):
        return int(self.sql(f"SELECT count(*) FROM {self.table}")[0][0])

    def distinct(self):
        return int(self.sql(f"SELECT count(DISTINCT id) FROM {self.table}")[0][0])

    def ledger(self, prefix):
        """Ledger rows per key under prefix: {key: count} (a correct run has 1 each)."""
        try:
            k = f"{self.quote}key{self.quote}"    # a reserved word in MariaDB
            rows = self.sql(f"SELECT {k}, count(*) FROM ingestd_ledger "
                            f"WHERE {k} LIKE '{prefix}%' GROUP BY {k}")
        except Exception:  # noqa: BLE001 - no ledger yet: nothing was loaded
            return {}
        return {k: int(n) for k, n in rows}

    def exactly_once(self, expected):
        """Asserts every row is there once: count == distinct == expected."""
        n, d = self.count(), self.distinct()
        assert n == d == expected, f"{self.table}: {n} rows, {d} distinct, expected {expected}"


class My(Pg):
    """The same queries on MariaDB."""

    name = "MariaDB"
    quote = "`"

    def sql(self, text):
        return self.st.mysql(text)

    def loading(self):
        return self.st.mysql("SELECT count(*) FROM information_schema.processlist "
                             "WHERE info LIKE 'LOAD DATA%'", root=True) != [("0",)]

    def restart(self):
        """SIGKILL (InnoDB recovers at start), then a start."""
        self.st.mysql_stop(kill=True)
        time.sleep(0.5)
        self.st.mysql_start()


def dlq_reports(st, dlq):
    """Every DLQ message that is an ingestd error report, as parsed dicts."""
    return [m["body"] for m in st.receive_all(dlq, wait=1.0)
            if isinstance(m["body"], dict) and m["body"].get("ingestd_error") == 1]


def log_count(text, pattern):
    return len(re.findall(pattern, text))


def set_keys(conf_path, section, **kv):
    """Adds or replaces `key = value` lines in [section] of an ingestd configuration file."""
    with open(conf_path) as f:
        lines = f.read().split("\n")
    start = lines.index(f"[{section}]") + 1
    end = start
    while end < len(lines) and not lines[end].startswith("["):
        end += 1
    body = [ln for ln in lines[start:end]
            if ln.split("=", 1)[0].strip() not in kv or "=" not in ln]
    body[0:0] = [f"{k} = {v}" for k, v in kv.items()]
    lines[start:end] = body
    with open(conf_path, "w") as f:
        f.write("\n".join(lines))
    return conf_path


def stop_cleanly(d, timeout=60):
    """SIGTERM; asserts exit status 0 and no sanitizer finding (leaks are reported at exit)."""
    rc = d.stop(timeout)
    report = sanitizer_report(d.log_text())
    assert report is None, f"sanitizer: {report}"
    assert rc == 0, f"exit status {rc}"


def crash_restarts(st, d, db, q, dlq, prefix, files, rows, restarts):
    """Crash-restarts db `restarts` times, each while a bulk load runs, as `files` objects of
    `rows` rows under prefix are uploaded to bucket "inbox" (S3 events to queue q) and loaded
    by the running daemon d. Asserts every row once, one ledger row per object, main queue
    empty, no report on dlq, and that loads were really interrupted."""
    db.create()
    log_before = len(d.log_text())
    expected = files * rows
    st.client("s3")     # made here: clients are made in the main thread
    # Upload from a thread: the loads start while the uploads go on, and the restarts stay in
    # this thread (the servers' death signal follows the thread that starts them).
    uploader = threading.Thread(target=lambda: [
        st.put_object("inbox", f"{prefix}{f:03d}.csv", csv_rows(f * 100_000, rows))
        for f in range(files)])
    uploader.start()

    def load_running():
        """Waits for a bulk load in progress; False when nothing is left to load."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.loading():
                return True
            if not uploader.is_alive() and st.queue_count(q) == 0:
                return False
            time.sleep(0.02)
        return False

    done = 0
    for _ in range(restarts):
        # Crash while a bulk load runs: its transaction is open, nothing committed.
        if not load_running():
            break
        db.restart()
        done += 1
    uploader.join()
    try:
        wait_until(lambda: st.queue_count(q) == 0 and db.count() >= expected, 240,
                   f"{expected} rows and an empty queue")
    except AssertionError as e:
        div = "DIV" if db.quote == "`" else "/"
        per_file = dict(db.sql(f"SELECT id {div} 100000, count(*) FROM {db.table} GROUP BY 1"))
        missing = [f"{prefix}{f:03d}.csv" for f in range(files)
                   if int(per_file.get(str(f), 0)) != rows]
        raise AssertionError(f"{e}: queue {st.queue_count(q)}, {db.count()} rows; files not "
                             f"loaded once: {missing}; ledger: {db.ledger(prefix)}") from None
    time.sleep(1)
    db.exactly_once(expected)
    ledger = db.ledger(prefix)
    assert len(ledger) == files and set(ledger.values()) == {1}, ledger
    reports = dlq_reports(st, dlq)
    assert reports == [], f"DLQ reports: {reports}"
    log = d.log_text()[log_before:]
    interrupted = len(re.findall(r"transient failure loading s3://inbox/" + prefix, log))
    print(f"# {db.name}: {done} crash-restarts, {interrupted} loads failed as transient and "
          f"were retried, {files} files, {expected} rows", flush=True)
    assert done >= 1 and interrupted >= 1, "no load was interrupted"
    assert "permanent failure" not in log, log[-3000:]
    assert d.alive()

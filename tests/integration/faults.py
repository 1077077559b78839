"""Shared helpers for the fault-injection tests (tests/integration/test_faults_*.py).

    from faults import LONG, csv_rows, wait_until, cpu_seconds, Pg, sanitizer_report

LONG is true when INGESTD_LONG=1 (`make check-long`): the tests then scale up (longer outages,
more kills, more files). Every helper asserts on what the database and the queues hold; log
text is used only to count rate-limited messages, never as the proof of a load.
"""

import os
import re
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

    def __init__(self, st, table):
        self.st = st
        self.table = table

    def create(self, key=False):
        self.st.psql(f"DROP TABLE IF EXISTS {self.table}")
        self.st.psql(f"CREATE TABLE {self.table} (id bigint{' PRIMARY KEY' if key else ''}, "
                     "payload text)")

    def count(self):
        return int(self.st.psql(f"SELECT count(*) FROM {self.table}")[0][0])

    def distinct(self):
        return int(self.st.psql(f"SELECT count(DISTINCT id) FROM {self.table}")[0][0])

    def ledger(self, prefix):
        """Ledger rows per key under prefix: {key: count} (a correct run has 1 each)."""
        try:
            rows = self.st.psql("SELECT key, count(*) FROM ingestd_ledger "
                                f"WHERE key LIKE '{prefix}%' GROUP BY key")
        except Exception:  # noqa: BLE001 - no ledger yet: nothing was loaded
            return {}
        return {k: int(n) for k, n in rows}

    def exactly_once(self, expected):
        """Asserts every row is there once: count == distinct == expected."""
        n, d = self.count(), self.distinct()
        assert n == d == expected, f"{self.table}: {n} rows, {d} distinct, expected {expected}"


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

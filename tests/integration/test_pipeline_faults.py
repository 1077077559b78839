#!/usr/bin/env python3
"""Exactly-once under failure: two daemons on one queue, kill -9 mid-load, PostgreSQL down.

Every check asserts on the database and the queues: each row exactly once, no message lost.
"""

import os
import random
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route rows]
sink = pg
match_prefix = rows/
table = items
"""


def csv_rows(start, n):
    return "id,payload\n" + "".join(f"{i},row {i} {'x' * 40}\n" for i in range(start, start + n))


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_copy(st, timeout):
    """Waits until a COPY runs in the ingest database. One psql session polls every 20 ms
    (\\watch): a COPY of a fraction of a second is seen even when starting a psql per poll
    would take longer than the COPY on a busy machine."""
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = 'ingest' "
           "AND state = 'active' AND query LIKE 'COPY%' \\watch 0.02\n")
    p = subprocess.Popen(["psql", "-h", st.pg_socket_dir, "-p", str(st.pg_port), "-U", "postgres",
                          "-d", "ingest", "-X", "-q", "-t", "-A", "-f", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ, LC_ALL="C"))
    try:
        p.stdin.write(sql.encode())
        p.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([p.stdout], [], [], 1)[0]:
                continue
            line = p.stdout.readline()
            if not line:
                raise AssertionError("psql \\watch ended")
            if line.strip() not in (b"", b"0"):
                return
        raise AssertionError("timed out waiting for the load to start")
    finally:
        p.kill()
        p.wait()


def count(st):
    return int(st.psql("SELECT count(*) FROM items")[0][0])


def distinct(st):
    return int(st.psql("SELECT count(DISTINCT id) FROM items")[0][0])


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE items (id bigint, payload text)")   # no key: duplicates would show
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=10,
                                 log_level="info")

        def two_daemons_100_files():
            st.psql("TRUNCATE items")
            d1 = Ingestd(conf, st.env(), st.path("d1.log"))
            d2 = Ingestd(conf, st.env(), st.path("d2.log"))
            try:
                expected = 0
                for f in range(100):
                    n = 50 + (f * 37) % 200
                    st.put_object("inbox", f"rows/two/{f:03d}.csv", csv_rows(f * 1000, n))
                    expected += n
                # Duplicate deliveries of some events on top of S3's own.
                for f in range(0, 100, 10):
                    st.send(q, {"Records": [{"eventName": "ObjectCreated:Put",
                                             "eventSource": "aws:s3",
                                             "s3": {"bucket": {"name": "inbox"},
                                                    "object": {"key": f"rows/two/{f:03d}.csv"}}}]})
                wait_until(lambda: count(st) >= expected and st.queue_count(q) == 0, 180,
                           f"{expected} rows")
                time.sleep(2)
                assert count(st) == expected == distinct(st), (count(st), expected, distinct(st))
                loaded = [d1.log_text().count("loaded s3://"), d2.log_text().count("loaded s3://")]
                assert sum(loaded) == 100, loaded
                assert min(loaded) > 0, f"one daemon did all the work: {loaded}"
            finally:
                d1.stop()
                d2.stop()

        def kill9_mid_load_then_restart():
            st.psql("TRUNCATE items")
            big = 400_000
            st.put_object("inbox", "rows/big.csv", csv_rows(10_000_000, big))
            d = Ingestd(conf, st.env(), st.path("k1.log"))
            try:
                # Kill while the COPY is running: the transaction has started, nothing committed.
                wait_for_copy(st, 60)
                time.sleep(random.uniform(0, 0.2))
                d.proc.send_signal(signal.SIGKILL)
                d.wait(10)
            finally:
                d.kill()
            assert count(st) in (0, big), count(st)
            d = Ingestd(conf, st.env(), st.path("k2.log"))
            try:
                wait_until(lambda: count(st) == big and st.queue_count(q) == 0, 180,
                           "the load after restart")
                time.sleep(1)
                assert count(st) == big == distinct(st), (count(st), distinct(st))
            finally:
                d.stop()

        def postgres_down_during_load_is_retried():
            st.psql("TRUNCATE items")
            d = Ingestd(conf, st.env(), st.path("pg.log"))
            try:
                st.pg_stop()
                st.put_object("inbox", "rows/while-down.csv", csv_rows(20_000_000, 1000))
                d.wait_for_log("transient failure", timeout=60)
                st.pg_start()
                wait_until(lambda: count(st) == 1000, 120, "the retried load")
                wait_until(lambda: st.queue_count(q) == 0, 60, "the message to be deleted")
                assert distinct(st) == 1000
                assert d.alive()
            finally:
                d.stop()
                if c.failed:
                    print(d.log_text()[-5000:], file=sys.stderr)

        def term_during_load_hands_back():
            st.psql("TRUNCATE items")
            slow = st.ingestd_config(ROUTES, name="slow.conf", workers=1, wait_time_seconds=1,
                                     visibility_timeout=10,
                                     extra="").replace("shutdown_timeout = 30", "")
            st.put_object("inbox", "rows/term.csv", csv_rows(30_000_000, 300_000))
            d = Ingestd(slow, st.env(), st.path("term.log"))
            try:
                d.wait_for_log("ready", timeout=30)
                time.sleep(0.3)
                d.signal(signal.SIGTERM)
                rc = d.wait(60)
                assert rc == 0, rc
            finally:
                d.kill()
            n = count(st)
            assert n in (0, 300_000), n
            if n == 0:
                d = Ingestd(conf, st.env(), st.path("term2.log"))
                try:
                    wait_until(lambda: count(st) == 300_000, 120, "the handed-back load")
                finally:
                    d.stop()
            assert distinct(st) == 300_000

        only = os.environ.get("ONLY")
        if not only or only == "two":
            c.check("two daemons, 100 files, duplicate events: every row exactly once",
                    two_daemons_100_files)
        c.check("kill -9 in the middle of a large load, restart: every row exactly once",
                kill9_mid_load_then_restart)
        c.check("PostgreSQL stopped during a load: retried, loaded once when back",
                postgres_down_during_load_is_retried)
        c.check("SIGTERM during a load: finished or handed back, loaded once", term_during_load_hands_back)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""S3 failing under a running daemon: every object is retried or resumed and loaded exactly once.

Only S3 goes through the fault injectors (`[aws] s3_endpoint`): ingestd -> tests/fault_proxy.py
-> tests/cut_proxy.py -> moto. The fault proxy acts on object GETs only (match "GET /inbox/"):
  500 and 503 SlowDown a few times (retried inside one load), 503 more times than the S3
  client's attempts (the load fails as transient, the message comes back after its backoff),
  a connection reset before the answer, bodies cut mid-way twice (the next requests must ask
  for the rest with Range and If-Match), a body that stalls for 5 s and then is cut, and an
  answer that never comes (curl's low-speed limit gives up after 30 s; the request is retried).
Each check asserts on the table (rows == distinct ids == expected), the ledger (one row for
the object), the main queue (empty) and the proxies' request logs (the fault really happened).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from cut_proxy import CutProxy  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from faults import Pg, csv_rows, set_keys, stop_cleanly, wait_until  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route rows]
sink = pg
match_prefix = rows/
table = items
"""

BIG_ROWS = 50_000          # about 3 MB of CSV


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        pg = Pg(st, "items")
        pg.create()
        cp = CutProxy(st.moto_port)
        fp = FaultProxy(cp.url, match="GET /inbox/")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=10,
                                 log_level="info")
        set_keys(conf, "aws", s3_endpoint=fp.url)
        d = Ingestd(conf, st.env(), st.path("s3.log"))
        state = {"expected": 0, "objects": 0}

        def load_one(name, rows, plan="", cut_plan=(), timeout=90):
            """Sets the faults, uploads one object, waits until it is loaded, checks once."""
            key = f"rows/{name}.csv"
            fp.reset()
            fp.set_plan(plan)
            cp.set_plan(cut_plan)
            log_before = len(d.log_text())
            start = state["objects"] * 1_000_000
            st.put_object("inbox", key, csv_rows(start, rows))
            state["objects"] += 1
            state["expected"] += rows
            wait_until(lambda: pg.count() >= state["expected"] and st.queue_count(q) == 0,
                       timeout, f"{key} to be loaded and its message deleted")
            time.sleep(0.5)
            pg.exactly_once(state["expected"])
            ledger = pg.ledger(key)
            assert ledger == {key: 1}, f"ledger for {key}: {ledger}"
            gets = [e["head"] for e in fp.log if e["head"].startswith(f"GET /inbox/{key}")]
            return gets, d.log_text()[log_before:]

        def retried_500():
            gets, _ = load_one("s500", 1000, "status:500*2")
            assert fp.count(action="status") == 2 and len(gets) == 3, fp.log

        def retried_slowdown():
            gets, _ = load_one("slowdown", 1000, "status:503:SlowDown*3")
            assert fp.count(action="status") == 3 and len(gets) == 4, fp.log

        def slowdown_beyond_attempts():
            gets, log = load_one("slowdown-long", 1000, "status:503:SlowDown*6")
            assert fp.count(action="status") == 6 and len(gets) == 7, fp.log
            assert re.search(r"transient failure loading s3://inbox/rows/slowdown-long\.csv: "
                             r"S3 GetObject: SlowDown", log), log[-3000:]
            assert re.search(r"will be retried in \d+ s", log), log[-3000:]

        def reset_before_answer():
            gets, _ = load_one("reset", 1000, "reset,reset")
            assert fp.count(action="reset") == 2 and len(gets) == 3, fp.log

        def cut_mid_body_resumed():
            gets, _ = load_one("cut", BIG_ROWS, "cut:1000000,cut:700000")
            assert fp.count(action="cut") == 2 and len(gets) == 3, fp.log
            assert "range: bytes=1000000-" in gets[1].lower(), gets[1]
            assert "range: bytes=1700000-" in gets[2].lower(), gets[2]
            assert all("if-match:" in g.lower() for g in gets[1:]), gets

        def stall_then_cut_resumed():
            gets, _ = load_one("stall", BIG_ROWS, cut_plan=[("stall", 500_000, 5)])
            assert len(gets) == 2 and "range: bytes=500000-" in gets[1].lower(), gets

        def hang_gives_up_and_retries():
            t0 = time.monotonic()
            gets, _ = load_one("hang", 1000, "hang", timeout=120)
            took = time.monotonic() - t0
            assert fp.count(action="hang") == 1 and len(gets) == 2, fp.log
            assert took < 90, f"a hung GET took {took:.0f} s to be given up"

        try:
            d.wait_for_log("ready", timeout=30)
            c.check("S3 500 twice: retried in the same load, loaded once", retried_500)
            c.check("S3 503 SlowDown three times: retried, loaded once", retried_slowdown)
            c.check("S3 503 SlowDown beyond the client's attempts: transient failure, message "
                    "retried later, loaded once", slowdown_beyond_attempts)
            c.check("S3 connection reset before the answer, twice: retried, loaded once",
                    reset_before_answer)
            c.check("S3 body cut twice mid-way (3 MB): resumed with Range + If-Match, loaded once",
                    cut_mid_body_resumed)
            c.check("S3 body stalls 5 s then breaks: resumed, loaded once",
                    stall_then_cut_resumed)
            c.check("S3 never answers: given up by the low-speed limit, retried, loaded once",
                    hang_gives_up_and_retries)
            c.check("SIGTERM: exit status 0, no sanitizer report", lambda: stop_cleanly(d))
        finally:
            d.kill()
            fp.close()
            cp.close()
            if c.failed:
                print(d.log_text()[-6000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

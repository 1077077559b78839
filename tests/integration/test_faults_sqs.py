#!/usr/bin/env python3
"""SQS unreachable: the daemon waits quietly and cheaply, then resumes; lost deletes are harmless.

SQS traffic goes through tests/fault_proxy.py (`[aws] sqs_endpoint`); S3 goes straight to moto,
so objects uploaded during an outage queue their events in moto and must all be loaded, each
exactly once, after it. Outages:
  - refused: every SQS request is answered with a TCP reset (the failure comes back at once, so
    a daemon without backoff would spin);
  - blackholed: moto frozen (SIGSTOP): connections hang until the client gives up.
Each lasts 15 s (60 s with INGESTD_LONG=1). During it the daemon must stay up, use less than 5%
of one CPU (from /proc/PID/stat), log the failure once at error level and "recovered" once.
Then DeleteMessage failing for one message: the message comes back after its visibility
timeout, the ledger finds the object, nothing is loaded twice, and the queue ends empty.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from faults import (LONG, Pg, cpu_seconds, csv_rows, log_count, set_keys,  # noqa: E402
                    stop_cleanly, wait_until)
from stack import Stack  # noqa: E402

OUTAGE_S = 60 if LONG else 15
CPU_LIMIT = 0.05

ROUTES = """
[route rows]
sink = pg
match_prefix = rows/
table = items
"""


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        pg = Pg(st, "items")
        pg.create()
        fp = FaultProxy(st.moto_url, match="AmazonSQS.")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=2, visibility_timeout=10,
                                 log_level="info")
        set_keys(conf, "aws", sqs_endpoint=fp.url)
        d = Ingestd(conf, st.env(), st.path("sqs.log"))
        state = {"expected": 0, "next": 0}

        def put(n_files, rows=200, prefix="rows/"):
            for _ in range(n_files):
                i = state["next"]
                state["next"] += 1
                st.put_object("inbox", f"{prefix}{i:04d}.csv", csv_rows(i * 10_000, rows))
                state["expected"] += rows

        def all_loaded(timeout=120):
            wait_until(lambda: pg.count() >= state["expected"] and st.queue_count(q) == 0,
                       timeout, f"{state['expected']} rows and an empty queue")
            time.sleep(1)
            pg.exactly_once(state["expected"])
            ledger = pg.ledger("rows/")
            assert len(ledger) == state["next"] and set(ledger.values()) == {1}, ledger

        def outage(kind, start, end):
            log_before = len(d.log_text())
            put(2)
            all_loaded()
            start()
            time.sleep(0.5)
            t0, cpu0 = time.monotonic(), cpu_seconds(d.proc.pid)
            if kind == "refused":
                put(5)        # S3 is up: the events wait in the queue
            time.sleep(OUTAGE_S)
            t1, cpu1 = time.monotonic(), cpu_seconds(d.proc.pid)
            assert d.alive(), "the daemon exited during the outage"
            end()
            if kind == "blackholed":
                put(5)
            all_loaded(60 + OUTAGE_S)
            log = d.log_text()[log_before:]
            share = (cpu1 - cpu0) / (t1 - t0)
            print(f"# {kind} {OUTAGE_S}s: cpu {cpu1 - cpu0:.2f}s ({100 * share:.1f}%), "
                  f"{log.count(chr(10))} log lines", flush=True)
            assert share < CPU_LIMIT, f"{100 * share:.1f}% of a CPU during the outage"
            first = log_count(log, r"(?m)^(?!.*still failing).*cannot receive from")
            still = log_count(log, r"still failing \(\d+ times\): cannot receive")
            rec = log_count(log, r"recovered after \d+ failures: receiving from")
            if kind == "refused":
                assert first == 1, f"'cannot receive from' logged {first} times:\n{log[-3000:]}"
            else:
                # A hung long poll is only known to have failed when its last attempt times
                # out (3 x 30 s): a short freeze may pass without any failure at all.
                assert first <= 1, f"'cannot receive from' logged {first} times:\n{log[-3000:]}"
            assert still <= OUTAGE_S // 60, f"{still} 'still failing' lines in {OUTAGE_S}s"
            assert rec == first, f"'recovered' logged {rec} times:\n{log[-3000:]}"
            # Rate-limited: apart from loads, lost deletes and ledger hits, the outage shows as
            # the failure line, "recovered", and at most one "still failing" a minute.
            noise = [ln for ln in log.splitlines()
                     if not re.search(r"loaded|ingestd_ledger|DeleteMessage \S+ failed|"
                                      r"ChangeMessageVisibility \S+ failed", ln)]
            assert len(noise) <= first + still + rec, "\n".join(["unexpected lines:"] + noise)

        def refused():
            outage("refused", lambda: fp.set_plan("reset*1000000"), lambda: fp.set_plan(""))

        def blackholed():
            outage("blackholed", st.moto_pause, st.moto_resume)

        def lost_delete():
            log_before = len(d.log_text())
            fp.set_match("AmazonSQS.DeleteMessage")
            fp.set_plan("status:500*1000")
            put(1, rows=500, prefix="rows/lostdel-")
            wait_until(lambda: re.search(r"DeleteMessage \S+ failed", d.log_text()[log_before:]),
                       60, "a failed delete")
            fp.set_plan("")
            # Visible again after the 10 s visibility timeout; the ledger finds it.
            wait_until(lambda: "already loaded" in d.log_text()[log_before:], 60,
                       "the redelivered message to be found in the ledger")
            all_loaded()
            fp.set_match("AmazonSQS.")

        try:
            d.wait_for_log("ready", timeout=30)
            c.check(f"SQS refusing connections for {OUTAGE_S} s: quiet, cheap, resumes, "
                    "every row once", refused)
            c.check(f"SQS hanging (moto frozen) for {OUTAGE_S} s: quiet, cheap, resumes, "
                    "every row once", blackholed)
            c.check("DeleteMessage failing: redelivered, found in the ledger, loaded once, "
                    "queue empty", lost_delete)
            c.check("SIGTERM: exit status 0, no sanitizer report", lambda: stop_cleanly(d))
        finally:
            d.kill()
            fp.close()
            if c.failed:
                print(d.log_text()[-6000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

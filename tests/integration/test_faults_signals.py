#!/usr/bin/env python3
"""Signals under load: a SIGHUP storm, and kill -9 at random points with restarts.

- SIGHUP storm: 50 SIGHUPs over 10 s while 20 files load. The configuration file is swapped
  atomically between variants (workers 2 / 3, so the pool resizes; every 10th one invalid, so
  the reload is rejected and the running configuration stays). No load is dropped: every row
  exactly once, one ledger row per object, queues empty; after SIGTERM the daemon exits 0 with
  no sanitizer report (LeakSanitizer runs at exit in the sanitizer build).
- kill -9: multi-MB files load while the daemon is killed with SIGKILL at random points (half
  of them while a COPY runs, the others at a random time after a start) and started again each
  time. Every row exactly once, one ledger row per object, main queue empty, no DLQ report.
  5 kills over 8 files in the regular suite; 20 kills over 20 files with INGESTD_LONG=1.
RANDOM_SEED=N replays a run (the seed is printed).
"""

import os
import random
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary  # noqa: E402
from faults import (LONG, Pg, csv_rows, dlq_reports, stop_cleanly,  # noqa: E402
                    sanitizer_report, wait_until)
from stack import Stack  # noqa: E402

KILLS = 20 if LONG else 5
KILL_FILES = 20 if LONG else 8
KILL_ROWS = 80_000          # about 5 MB a file
KILL_BIG_ROWS = 600_000
STORM_FILES = 20
STORM_ROWS = 20_000
HUPS = 50
HUP_SPAN_S = 10.0

ROUTES = """
[route storm]
sink = pg
match_prefix = storm/
table = storm

[route kill]
sink = pg
match_prefix = kill/
table = killed
"""


def main():
    require_binary()
    seed = int(os.environ.get("RANDOM_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print(f"# RANDOM_SEED={seed}", flush=True)
    c = Checks()
    with Stack(moto=True, postgres=True, pg_options={"synchronous_commit": "on"}) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=30, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.client("s3")

        def upload(prefix, files, rows):
            t = threading.Thread(target=lambda: [
                st.put_object("inbox", f"{prefix}{f:03d}.csv", csv_rows(f * 1_000_000, rows))
                for f in range(files)])
            t.start()
            return t

        def check_all(pg, prefix, files, rows, extra_files=0, extra_rows=0):
            total = files * rows + extra_rows
            wait_until(lambda: pg.count() >= total and st.queue_count(q) == 0, 300,
                       f"{total} rows and an empty queue")
            time.sleep(1)
            pg.exactly_once(total)
            ledger = pg.ledger(prefix)
            assert len(ledger) == files + extra_files and set(ledger.values()) == {1}, ledger
            reports = dlq_reports(st, dlq)
            assert reports == [], reports

        def sighup_storm():
            pg = Pg(st, "storm")
            pg.create()
            variants = [st.ingestd_config(ROUTES, name=f"v{w}.conf", workers=w,
                                          wait_time_seconds=1, visibility_timeout=10,
                                          log_level="info") for w in (2, 3)]
            texts = [open(v).read() for v in variants]
            bad = texts[0].replace("[route kill]", "[route kill]\nmode = sideways")
            conf = st.path("storm.conf")

            def install(text):
                with open(conf + ".new", "w") as f:
                    f.write(text)
                os.replace(conf + ".new", conf)

            install(texts[0])
            with NotifySocket(st.tmp) as ns:
                d = Ingestd(conf, st.env(ns.env()), st.path("storm.log"))
                try:
                    ns.expect("READY=1", timeout=30)
                    uploader = upload("storm/", STORM_FILES, STORM_ROWS)
                    wait_until(lambda: pg.count() > 0, 60, "the first load")
                    for i in range(HUPS):
                        install(bad if i % 10 == 9 else texts[i % 2])
                        d.signal(signal.SIGHUP)
                        time.sleep(HUP_SPAN_S / HUPS)
                    install(texts[0])
                    d.signal(signal.SIGHUP)
                    uploader.join()
                    check_all(pg, "storm/", STORM_FILES, STORM_ROWS)
                    log = d.log_text()
                    reloaded = len(re.findall(r"configuration reloaded \(generation", log))
                    rejected = len(re.findall(r"reload failed, keeping the running", log))
                    print(f"# storm: {reloaded} reloads, {rejected} rejected, "
                          f"{ns.count('RELOADING=1')} RELOADING=1", flush=True)
                    # Signals arriving together may be merged; most must have been handled.
                    assert reloaded + rejected >= HUPS // 2, (reloaded, rejected)
                    assert rejected >= 1 and reloaded >= 1, (reloaded, rejected)
                    assert "failure loading" not in log, log[-3000:]
                    assert d.alive()
                    stop_cleanly(d)
                finally:
                    d.kill()

        def kill9_random():
            pg = Pg(st, "killed")
            pg.create()
            conf = st.ingestd_config(ROUTES, name="kill.conf", workers=2, wait_time_seconds=1,
                                     visibility_timeout=10, log_level="info")
            # Every object is in S3 before the first start, the large one first: its COPY
            # lasts long enough (about 40 MB) for the kills aimed at a running COPY to land
            # in one; the small loads finish in a fraction of a second.
            st.put_object("inbox", "kill/big.csv", csv_rows(900_000_000, KILL_BIG_ROWS))
            upload("kill/", KILL_FILES, KILL_ROWS).join()
            mid_copy = 0
            d = None
            try:
                for i in range(KILLS):
                    d = Ingestd(conf, st.env(), st.path(f"kill-{i}.log"))
                    if i % 2 == 0:
                        # While a COPY runs: rows sent, nothing committed. Killed as soon as
                        # one is seen.
                        deadline = time.monotonic() + 30
                        while not pg.loading() and time.monotonic() < deadline:
                            time.sleep(0.01)
                    else:
                        # Anywhere: receiving, downloading, committing, deleting.
                        time.sleep(rnd.uniform(0.3, 3.0))
                    mid_copy += pg.loading()
                    d.proc.send_signal(signal.SIGKILL)
                    d.wait(10)
                    report = sanitizer_report(d.log_text())
                    assert report is None, report
                d = Ingestd(conf, st.env(), st.path("kill-final.log"))
                check_all(pg, "kill/", KILL_FILES, KILL_ROWS, 1, KILL_BIG_ROWS)
                print(f"# kill -9: {KILLS} kills ({mid_copy} during a COPY), {KILL_FILES} "
                      f"files of {KILL_ROWS} rows and one of {KILL_BIG_ROWS}", flush=True)
                assert mid_copy >= 1, "no kill hit a running COPY"
                stop_cleanly(d)
            finally:
                if d:
                    d.kill()

        c.check(f"{HUPS} SIGHUPs in {HUP_SPAN_S:.0f} s during {STORM_FILES} loads: none dropped, "
                "every row once, exit 0, no leak", sighup_storm)
        c.check(f"kill -9 {KILLS}x at random points of {KILL_FILES} multi-MB loads, restarted "
                "each time: every row once, no message lost", kill9_random)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

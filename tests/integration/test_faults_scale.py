#!/usr/bin/env python3
"""Scale-out: three daemons on one queue, mixed sizes, duplicate events, bad files.

100 objects (300 with INGESTD_LONG=1): sizes from one row to about 3 MB, every tenth good
object's event sent a second time by hand (no ETag in it, as EventBridge or a hand-made
event may do), and one object in twenty bad in one of three ways (a value that is not a
number, a header naming a column the table lacks, an unterminated quote). Three daemons with
two workers each drain the queue together. Checks: every good row exactly once and one ledger
row per good object; every bad object exactly one error report on the DLQ (class permanent,
with its key) and nothing else there (no message redriven); main queue empty; every daemon
loaded something; all three exit 0 on SIGTERM with no sanitizer report.
Before that, a regression check: two daemons with four workers each start on a database
without the ledger tables and eight queued objects (4 rounds): no failure, every row once.
"""

import os
import random
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from faults import LONG, Pg, csv_rows, stop_cleanly, wait_until  # noqa: E402
from stack import Stack  # noqa: E402

FILES = 300 if LONG else 100
DAEMONS = 3
RACE_ROUNDS = 4

ROUTES = """
[route rows]
sink = pg
match_prefix = rows/
table = items
"""

BAD_KINDS = [
    ("not-a-number", lambda start: f"id,payload\n{start},ok\nseven,bad\n"),
    ("unknown-column", lambda start: f"id,payload,colour\n{start},ok,red\n"),
    ("unterminated-quote", lambda start: f'id,payload\n{start},"never closed\n{start + 1},x\n'),
]


def main():
    require_binary()
    seed = int(os.environ.get("RANDOM_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print(f"# RANDOM_SEED={seed}", flush=True)
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        pg = Pg(st, "items")
        pg.create()
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=20,
                                 log_level="info")
        daemons = []

        def three_daemons():
            good, bad, expected = [], [], 0
            for f in range(FILES):
                key = f"rows/{f:04d}.csv"
                start = f * 1_000_000
                if f % 20 == 7:
                    kind, make = BAD_KINDS[(f // 20) % len(BAD_KINDS)]
                    st.put_object("inbox", key, make(start))
                    bad.append(key)
                    continue
                n = rnd.choice([1, 10, 200, 1000, 5000]) if f % 25 else 50_000
                st.put_object("inbox", key, csv_rows(start, n))
                good.append(key)
                expected += n
                if len(good) % 10 == 0:
                    st.send(q, {"Records": [{"eventName": "ObjectCreated:Put",
                                             "eventSource": "aws:s3",
                                             "s3": {"bucket": {"name": "inbox"},
                                                    "object": {"key": key}}}]})
            for i in range(DAEMONS):
                daemons.append(Ingestd(conf, st.env(), st.path(f"d{i}.log")))
            wait_until(lambda: pg.count() >= expected and st.queue_count(q) == 0, 300,
                       f"{expected} rows and an empty queue")
            time.sleep(2)
            pg.exactly_once(expected)
            ledger = pg.ledger("rows/")
            assert set(ledger) == set(good) and set(ledger.values()) == {1}, (
                sorted(set(good) ^ set(ledger)), Counter(ledger.values()))
            dlq_msgs = st.receive_all(dlq, wait=1.0)
            reports = [m["body"] for m in dlq_msgs
                       if isinstance(m["body"], dict) and m["body"].get("ingestd_error") == 1]
            others = [m["Body"][:200] for m in dlq_msgs if m["body"] not in reports]
            assert not others, f"messages redriven to the DLQ: {others}"
            per_key = Counter(r["key"] for r in reports)
            assert per_key == Counter(bad), f"reports {dict(per_key)} for bad files {bad}"
            assert all(r["class"] == "permanent" and r["bucket"] == "inbox" for r in reports), \
                reports
            loaded = [d.log_text().count("loaded s3://inbox/rows/") for d in daemons]
            dups = sum(d.log_text().count("already loaded: skipped") for d in daemons)
            print(f"# {FILES} objects ({len(good)} good, {len(bad)} bad, {len(good) // 10} "
                  f"duplicate events), {expected} rows; loads per daemon {loaded}, "
                  f"{dups} duplicates skipped", flush=True)
            assert min(loaded) > 0, f"a daemon loaded nothing: {loaded}"
            assert st.queue_count(q) == 0

        def ledger_created_concurrently():
            # Regression: eight workers of two daemons creating the ledger tables at the same
            # moment; PostgreSQL's loser of CREATE TABLE IF NOT EXISTS may get 42710 ("type
            # already exists"), which was taken for a permanent failure (object to the DLQ).
            race = st.ingestd_config(ROUTES, name="race.conf", workers=4, wait_time_seconds=1,
                                     visibility_timeout=20, log_level="info")
            for rnd_no in range(RACE_ROUNDS):
                st.psql("DROP TABLE IF EXISTS ingestd_ledger, ingestd_rejects")
                pg.create()
                for f in range(8):
                    st.put_object("inbox", f"rows/race{rnd_no}-{f}.csv", csv_rows(f * 100, 50))
                racers = [Ingestd(race, st.env(), st.path(f"race{rnd_no}-{i}.log"))
                          for i in range(2)]
                try:
                    wait_until(lambda: st.queue_count(q) == 0, 60, "the queue to drain")
                    time.sleep(0.5)
                    pg.exactly_once(8 * 50)
                    for r in racers:
                        stop_cleanly(r)
                finally:
                    for r in racers:
                        r.kill()
                reports = [m["Body"][:300] for m in st.receive_all(dlq, wait=0.5)]
                assert not reports, f"round {rnd_no}: DLQ {reports}"
            st.psql("DROP TABLE IF EXISTS ingestd_ledger, ingestd_rejects")
            pg.create()

        def all_stop():
            for d in daemons:
                stop_cleanly(d)

        try:
            c.check(f"ledger tables created by 8 workers at once, {RACE_ROUNDS} rounds: no "
                    "failure, every row once", ledger_created_concurrently)
            c.check(f"{DAEMONS} daemons, {FILES} objects, duplicate events, bad files: every "
                    "good row once, one DLQ report per bad file, queue empty", three_daemons)
            c.check("SIGTERM: all exit 0, no sanitizer report", all_stop)
        finally:
            for d in daemons:
                d.kill()
            if c.failed:
                for d in daemons:
                    print(d.log_text()[-3000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

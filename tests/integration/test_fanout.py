#!/usr/bin/env python3
"""Fan-out (`sink = pg, mysql`): one parse, the same rows in PostgreSQL and MariaDB.

Against the real PostgreSQL, MariaDB and moto of tests/stack.py. Checks: both sinks load the
object and each records it in its own ledger; with MariaDB stopped, PostgreSQL commits, the
message comes back, and the retry (MariaDB started again) loads only MariaDB while the log says
"already loaded into sink pg" (every row exactly once in both); a bad row found by either
database (PostgreSQL's numeric, MariaDB's VARCHAR(20)) fails the object in both with nothing
committed anywhere and one DLQ report; the per-sink metrics; a configuration naming a sink twice
or a missing one is refused.
"""

import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack, free_port  # noqa: E402

ROUTES = """
[route fan]
sink = pg, mysql
match_prefix = fan/
table = people
"""


def drain(st, conf):
    rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, score numeric)")
        st.mysql("CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, "
                 "score DECIMAL(10,2))")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=20,
                                 log_level="info")

        def pg_ids(lo, hi):
            return [int(r[0]) for r in st.psql(
                f"SELECT id FROM people WHERE id BETWEEN {lo} AND {hi} ORDER BY id")]

        def my_ids(lo, hi):
            return [int(r[0]) for r in st.mysql(
                f"SELECT id FROM people WHERE id BETWEEN {lo} AND {hi} ORDER BY id")]

        def ledgers(key):
            pg = st.psql(f"SELECT rows FROM ingestd_ledger WHERE key = '{key}'")
            my = st.mysql(f"SELECT `rows` FROM ingestd_ledger WHERE `key` = '{key}'")
            return pg, my

        def both_sinks_load():
            st.put_object("inbox", "fan/a.csv", "id,name,score\n1,Ann,1.5\n2,Bob,\n3,Cy,3\n")
            err = drain(st, conf)
            assert pg_ids(1, 9) == [1, 2, 3], pg_ids(1, 9)
            assert my_ids(1, 9) == [1, 2, 3], my_ids(1, 9)
            assert st.mysql("SELECT score FROM people WHERE id = 1") == [("1.50",)]
            assert ledgers("fan/a.csv") == ([("3",)], [("3",)]), ledgers("fan/a.csv")
            assert st.queue_count(q) == 0, "message not deleted"
            assert "sink pg: committed" in err and "sink mysql: committed" in err, err[-2000:]
            assert "into people in sinks pg, mysql: 3 rows" in err, err[-2000:]

        def one_sink_down_then_retry_loads_only_it():
            d = Ingestd(conf, st.env(), st.path("fanout-live.log"))
            try:
                d.wait_for_log("ready", timeout=30)
                st.mysql_stop()
                st.put_object("inbox", "fan/b.csv", "id,name,score\n10,Dee,1\n11,Eve,2\n")
                wait_until(lambda: pg_ids(10, 19) == [10, 11], 60, "PostgreSQL to commit")
                d.wait_for_log("transient failure loading s3://inbox/fan/b.csv", timeout=30)
                assert st.queue_count(q) == 1, "the message must stay for the retry"
                st.mysql_start()
                wait_until(lambda: my_ids(10, 19) == [10, 11], 120, "the retry into MariaDB")
                wait_until(lambda: st.queue_count(q) == 0, 30, "the message to be deleted")
                d.wait_for_log("already loaded into sink pg: skipped there", timeout=10)
                log = d.log_text()
                assert pg_ids(10, 19) == [10, 11] and my_ids(10, 19) == [10, 11]
                assert ledgers("fan/b.csv") == ([("2",)], [("2",)]), ledgers("fan/b.csv")
                assert log.count("sink pg: committed") == 1, log[-3000:]
                assert log.count("sink mysql: committed") == 1, log[-3000:]
                assert d.stop() == 0
            finally:
                d.kill()
            assert not st.receive_all(dlq, wait=0.5), "no DLQ report for a transient failure"

        def bad_row_fails_both():
            # PostgreSQL refuses the numeric; MariaDB accepts every row but truncates the
            # VARCHAR(20) name: each is the data's error, found before either commits.
            st.put_object("inbox", "fan/badnum.csv", "id,name,score\n20,ok,1\n21,bad,notanumber\n")
            st.put_object("inbox", "fan/badlen.csv", "id,name,score\n30,ok,1\n31," + "x" * 30
                          + ",2\n")
            wait_until(lambda: st.queue_count(q) == 2, 10, "both events")
            # Both reports, however the two events are handed out: a receive may return
            # one of them and the next poll, for a moment, neither.
            reps, err = {}, ""
            deadline = time.monotonic() + 60
            while len(reps) < 2 and time.monotonic() < deadline:
                err += drain(st, conf)
                reps.update({m["body"]["key"]: m["body"] for m in st.receive_all(dlq, wait=0.5)})
            assert pg_ids(20, 39) == [] and my_ids(20, 39) == [], (pg_ids(20, 39), my_ids(20, 39))
            for key in ("fan/badnum.csv", "fan/badlen.csv"):
                assert ledgers(key) == ([], []), (key, ledgers(key))
            assert set(reps) == {"fan/badnum.csv", "fan/badlen.csv"}, (reps, err[-3000:])
            assert reps["fan/badnum.csv"]["line"] == 3, reps["fan/badnum.csv"]
            assert reps["fan/badlen.csv"]["line"] == 3, reps["fan/badlen.csv"]
            assert reps["fan/badlen.csv"]["column_name"] == "name", reps["fan/badlen.csv"]
            assert st.queue_count(q) == 0

        def per_sink_metrics():
            mport = free_port()
            mconf = st.ingestd_config(ROUTES, name="metrics.conf", workers=1, wait_time_seconds=1,
                                      log_level="info")
            with open(mconf) as f:
                text = f.read()
            with open(mconf, "w") as f:
                f.write(text.replace("[ingestd]\n", f"[ingestd]\nmetrics_listen = "
                                     f"127.0.0.1:{mport}\n", 1))
            d = Ingestd(mconf, st.env(), st.path("fanout-metrics.log"))
            try:
                d.wait_for_log("ready", timeout=30)
                st.put_object("inbox", "fan/m.csv", "id,name\n40,m\n")
                wait_until(lambda: my_ids(40, 40) == [40] and pg_ids(40, 40) == [40], 60,
                           "the load")
                body = ""
                for _ in range(50):
                    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics",
                                                  timeout=5).read().decode()
                    if 'sink="mysql"' in body:
                        break
                    time.sleep(0.2)
                for sink in ("pg", "mysql"):
                    line = [ln for ln in body.splitlines()
                            if ln.startswith("ingestd_objects_loaded_total")
                            and f'sink="{sink}"' in ln]
                    assert line and line[0].endswith(" 1"), (sink, body[-3000:])
                assert d.stop() == 0
            finally:
                d.kill()

        def config_refuses_bad_lists():
            for value, why in (("pg, pg", "named twice"), ("pg, nosuch", "no [sink nosuch]"),
                               ("pg,", "empty sink name")):
                bad = st.ingestd_config(ROUTES.replace("sink = pg, mysql", f"sink = {value}"),
                                        name="bad.conf")
                rc, _, err = run(["--check-config", "-c", bad], env=st.env())
                assert rc == 1 and why in err, (value, rc, err)

        c.check("fan-out: PostgreSQL and MariaDB both load, each with its ledger row",
                both_sinks_load)
        c.check("fan-out: MariaDB down -> PostgreSQL commits, the retry loads MariaDB only",
                one_sink_down_then_retry_loads_only_it)
        c.check("fan-out: a bad row found by either database commits nothing anywhere",
                bad_row_fails_both)
        c.check("fan-out: objects loaded counted per sink", per_sink_metrics)
        c.check("fan-out: sink lists with a repeat, a missing or an empty name refused",
                config_refuses_bad_lists)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Transform benchmark: the same PostgreSQL load with and without a Lua transform, same run.

    python3 bench/bench_transform.py [--rows 1000000] [--repeat 2] [--timeout 1800]

One local stack (moto S3/SQS with signature checking, PostgreSQL 15), one file of --rows rows
from bench/gen_csv.py, loaded --repeat times by each of two routes into tables of the same
shape: `plain` (no transform) and `upper` (a script that upper-cases the name column, the
per-row work of the seed job that upper-cases user_name). Each load is timed from the event
enqueued to the ledger row committed; the best of the repeats counts, since the machine is
shared. Prints rows/s of both, the ratio of their times (the aim is at most 1.3x, the bound
2x) and the daemon's peak RSS (VmHWM) in each phase. Not a test: it asserts nothing, but
exits non-zero when a load is not in the ledger after --timeout seconds
(tests/test_bench_smoke.sh runs it with a few rows in `make check`). The daemon is
$INGESTD_BIN, else build/ingestd (use a build without sanitizers for real figures).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from stack import Stack  # noqa: E402

INGESTD = os.environ.get("INGESTD_BIN", os.path.join(TOP, "build", "ingestd"))

COLUMNS = ("id bigint PRIMARY KEY, name text, email text, created_at timestamptz, "
           "amount numeric(12,2), active boolean, note text")
SCRIPT = """\
function transform(row)
  if row.name then row.name = row.name:upper() end
  return row
end
"""
ROUTES = """
[route plain]
sink = pg
match_prefix = plain/
table = bench_plain_{n}

[route upper]
sink = pg
match_prefix = upper/
table = bench_upper_{n}
transform = {script}
"""


def wait_loaded(st, bucket, key, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st.psql("SELECT to_regclass('ingestd_ledger') IS NOT NULL") == [("t",)] and \
                st.psql(f"SELECT count(*) FROM ingestd_ledger WHERE bucket = '{bucket}' "
                        f"AND key = '{key}'") == [("1",)]:
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {key}")


def vmhwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def one_load(st, route, n, path, script, timeout):
    """A queue, bucket, table and daemon of its own; returns (seconds, peak RSS in kB)."""
    name = f"{route}{n}"
    st.psql(f"CREATE TABLE bench_{route}_{n} ({COLUMNS})")
    q, _ = st.make_queue(name, dlq=True, max_receive=3, visibility=300)
    st.make_bucket(name, notify_queue_url=q)
    st.purge(q)
    conf = st.ingestd_config(ROUTES.format(n=n, script=script), name=f"{name}.conf",
                             queue_url=q, workers=1, log_level="notice", wait_time_seconds=20)
    log = open(st.path(name + ".log"), "w")
    d = subprocess.Popen([INGESTD, "-c", conf], env=st.env(), stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        key = f"{route}/one.csv"
        with open(path, "rb") as f:
            st.client("s3").put_object(Bucket=name, Key=key, Body=f)
        t0 = time.monotonic()
        wait_loaded(st, name, key, timeout)
        took = time.monotonic() - t0
        return took, vmhwm_kb(d.pid)
    finally:
        d.terminate()
        d.wait(60)
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds to wait for one load before failing")
    a = ap.parse_args()

    with Stack(moto=True, postgres=True, moto_quiet=True) as st:
        path = st.path("one.csv")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(a.rows), path],
                       check=True)
        script = st.path("upper.lua")
        with open(script, "w") as f:
            f.write(SCRIPT)
        print(f"file: {a.rows} rows, {os.path.getsize(path) / 1e6:.1f} MB")
        best = {"plain": (float("inf"), 0), "upper": (float("inf"), 0)}
        for n in range(a.repeat):
            for route in ("plain", "upper"):  # alternated, so that both see the same machine
                took, rss = one_load(st, route, n, path, script, a.timeout)
                print(f"  run {n + 1} {route}: {took:.2f} s, peak RSS {rss / 1024:.1f} MB",
                      flush=True)
                if took < best[route][0]:
                    best[route] = (took, max(rss, best[route][1]))
        got = st.psql("SELECT count(*) FROM bench_upper_0 WHERE name ~ '[a-z]'")  # ASCII
        if got != [("0",)]:
            raise SystemExit(f"the transform did not upper-case every name: {got}")
        (tp, rp), (tu, ru) = best["plain"], best["upper"]
        print(f"plain:     {a.rows / tp:10.0f} rows/s ({tp:.2f} s), peak RSS {rp / 1024:.1f} MB")
        print(f"transform: {a.rows / tu:10.0f} rows/s ({tu:.2f} s), peak RSS {ru / 1024:.1f} MB"
              f"   ratio {tu / tp:.2f}x the time without it")


if __name__ == "__main__":
    main()

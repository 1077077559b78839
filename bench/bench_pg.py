#!/usr/bin/env python3
"""PostgreSQL benchmark: ingestd end to end against psql on the same server, same run.

    python3 bench/bench_pg.py [--rows 1000000] [--files 10] [--rss-rows 10000000] [--skip-rss]
                              [--skip-many] [--ingestd PATH]

Measures, on one local stack (moto S3/SQS with signature checking, PostgreSQL 15):
  1. append: ingestd (event enqueued -> rows committed, the time of the daemon's log line)
     against `psql \\copy` of the same file from local disk into the same kind of table
     (primary key), once with copy_format = auto (binary COPY) and once with text;
  2. upsert: ingestd mode = upsert against psql's own COPY into a staging table +
     INSERT ... ON CONFLICT DO UPDATE, all into tables that already hold the rows, again
     with copy_format = auto and text;
  3. aggregate: --files files of --rows rows with workers = 2 against one `psql \\copy`
     stream (rows/s);
  4. peak RSS (VmHWM) of the daemon after loading a ~1 GB file (--rss-rows rows).
Prints each figure and its ratio; machines are shared and noisy, so only ratios from the
same run mean anything. Not a test: it asserts nothing. Measure a build without
sanitizers (--ingestd points at it; the default is build/ingestd).
"""

import argparse
import datetime
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from stack import Stack  # noqa: E402

COLUMNS = ("id bigint PRIMARY KEY, name text, email text, created_at timestamptz, "
           "amount numeric(12,2), active boolean, note text")
ROUTES = """
[route append]
sink = pg
match_prefix = append/
table = bench_ingestd

[route append_text]
sink = pgtext
match_prefix = append_text/
table = bench_ingestd_text

[route upsert]
sink = pg
match_prefix = upsert/
table = bench_upsert_ingestd
mode = upsert
key = id

[route upsert_text]
sink = pgtext
match_prefix = upsert_text/
table = bench_upsert_ingestd_text
mode = upsert
key = id

[route many]
sink = pg
match_prefix = many/
table = bench_many

[route rss]
sink = pg
match_prefix = rss/
table = bench_rss
"""


def gen(rows, path, start=1):
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(rows), path,
                        "--start", str(start)], check=True)
    return os.path.getsize(path)


def settle(st):
    """Each timed run starts from the same state: no checkpoint or WAL flush pending."""
    st.psql("CHECKPOINT", superuser=True)


def psql(st, script):
    t0 = time.monotonic()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", st.pg_conninfo],
                   input=script, text=True, check=True, env=st.env())
    return time.monotonic() - t0


def log_time(line):
    """The Unix time of a daemon log line ("2026-01-02T03:04:05.678Z info: ...")."""
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def wait_loaded(d, keys, timeout=1800):
    """The time of the daemon's "loaded" line of the last of keys. Reading the daemon's log
    costs the machine nothing next to polling the ledger with a psql process, which would
    take CPU from the very load being timed."""
    want = {f"loaded s3://bench/{k} into" for k in keys}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(d.log_path, errors="replace") as f:
            done = {w: log_time(line) for line in f for w in want if w in line}
        if len(done) == len(want):
            return max(done.values())
        if d.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {sorted(want)}; log:\n" +
                     open(d.log_path, errors="replace").read()[-3000:])


def upload_and_time(st, d, items):
    """Uploads (not timed), then times from the last event enqueued to the last commit."""
    for key, path in items:
        with open(path, "rb") as f:
            st.client("s3").put_object(Bucket="bench", Key=key, Body=f)
    t0 = time.time()
    return wait_loaded(d, [k for k, _ in items]) - t0


INGESTD = os.path.join(TOP, "build", "ingestd")


def text_sink(st):
    return ("[sink pgtext]\ntype = postgres\ncopy_format = text\n"
            f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest\n"
            f"password = {st.pg_password}\n")


def start_daemon(st, conf, name):
    log = open(st.path(name + ".log"), "w")
    p = subprocess.Popen([INGESTD, "-c", conf], env=st.env(),
                         stdout=log, stderr=subprocess.STDOUT)
    p.log_path = log.name
    time.sleep(1.0)
    return p


def vmhwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def stop(p):
    p.terminate()
    p.wait(60)
    # moto keeps serving a long poll whose client went away, and would hand the next
    # event to it: let the stopped daemon's last poll (wait_time_seconds = 1) run out.
    time.sleep(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--rss-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-many", action="store_true")
    ap.add_argument("--ingestd", default=INGESTD)
    a = ap.parse_args()
    globals()["INGESTD"] = os.path.abspath(a.ingestd)

    with Stack(moto=True, postgres=True, moto_quiet=True) as st:
        q, _ = st.make_queue("bench", dlq=True, max_receive=3, visibility=120)
        st.make_bucket("bench", notify_queue_url=q)
        st.purge(q)
        for t in ("bench_copy", "bench_ingestd", "bench_ingestd_text", "bench_upsert_psql",
                  "bench_upsert_ingestd", "bench_upsert_ingestd_text", "bench_many",
                  "bench_many_copy", "bench_rss"):
            st.psql(f"CREATE TABLE {t} ({COLUMNS})")
        one = st.path("one.csv")
        size = gen(a.rows, one)
        print(f"file: {a.rows} rows, {size / 1e6:.1f} MB")
        results = {}

        # 1. append
        settle(st)
        t_copy = psql(st, f"\\copy bench_copy FROM '{one}' WITH (FORMAT csv, HEADER true)\n")
        conf = st.ingestd_config(ROUTES, workers=1, log_level="info", wait_time_seconds=1,
                                 extra=text_sink(st))
        print(f"append:    psql \\copy {a.rows / t_copy:10.0f} rows/s ({t_copy:.2f} s)")
        for fmt, prefix in (("auto", "append"), ("text", "append_text")):
            settle(st)
            d = start_daemon(st, conf, prefix)
            t_ing = upload_and_time(st, d, [(f"{prefix}/one.csv", one)])
            peak = vmhwm_kb(d.pid)
            stop(d)
            results["append " + fmt] = t_copy / t_ing
            print(f"           ingestd copy_format = {fmt:4} {a.rows / t_ing:10.0f} rows/s "
                  f"({t_ing:.2f} s)   ratio {t_copy / t_ing:.2f}x   peak RSS {peak / 1024:.1f} MB")

        # 2. upsert into tables that already hold the rows
        for t in ("bench_upsert_psql", "bench_upsert_ingestd", "bench_upsert_ingestd_text"):
            st.psql(f"INSERT INTO {t} SELECT * FROM bench_copy")
            st.psql(f"VACUUM ANALYZE {t}")
        settle(st)
        t_ups_ref = psql(st, (
            "BEGIN;\nCREATE TEMP TABLE s (LIKE bench_upsert_psql) ON COMMIT DROP;\n"
            f"\\copy s FROM '{one}' WITH (FORMAT csv, HEADER true)\n"
            "INSERT INTO bench_upsert_psql SELECT * FROM s ON CONFLICT (id) DO UPDATE SET "
            "name = EXCLUDED.name, email = EXCLUDED.email, created_at = EXCLUDED.created_at, "
            "amount = EXCLUDED.amount, active = EXCLUDED.active, note = EXCLUDED.note;\n"
            "COMMIT;\n"))
        print(f"upsert:    psql staging {a.rows / t_ups_ref:10.0f} rows/s ({t_ups_ref:.2f} s)")
        for fmt, prefix in (("auto", "upsert"), ("text", "upsert_text")):
            settle(st)
            d = start_daemon(st, conf, prefix)
            t_ups = upload_and_time(st, d, [(f"{prefix}/one.csv", one)])
            peak = vmhwm_kb(d.pid)
            stop(d)
            results["upsert " + fmt] = t_ups_ref / t_ups
            print(f"           ingestd copy_format = {fmt:4} {a.rows / t_ups:10.0f} rows/s "
                  f"({t_ups:.2f} s)   ratio {t_ups_ref / t_ups:.2f}x   "
                  f"peak RSS {peak / 1024:.1f} MB")
        print("ratios:    " + "   ".join(f"{k} {v:.2f}x" for k, v in results.items()))

        # 3. aggregate with 2 workers
        if not a.skip_many:
            files = []
            for i in range(a.files):
                p = st.path(f"many{i}.csv")
                gen(a.rows, p, start=1 + i * a.rows)
                files.append((f"many/f{i}.csv", p))
            t_one = psql(st, f"\\copy bench_many_copy FROM '{files[0][1]}' WITH "
                         "(FORMAT csv, HEADER true)\n")
            conf2 = st.ingestd_config(ROUTES, name="many.conf", workers=2, log_level="info",
                                      wait_time_seconds=1, extra=text_sink(st))
            d = start_daemon(st, conf2, "many")
            t_many = upload_and_time(st, d, files)
            stop(d)
            agg = a.files * a.rows / t_many
            print(f"aggregate: psql \\copy single stream {a.rows / t_one:10.0f} rows/s   "
                  f"ingestd {a.files} files, 2 workers {agg:10.0f} rows/s   "
                  f"ratio {agg / (a.rows / t_one):.2f}x")

        # 4. peak RSS on a large file
        if not a.skip_rss:
            big = st.path("big.csv")
            bsize = gen(a.rss_rows, big)
            d = start_daemon(st, conf, "rss")
            base = vmhwm_kb(d.pid)
            t_big = upload_and_time(st, d, [("rss/big.csv", big)])
            peak = vmhwm_kb(d.pid)
            stop(d)
            print(f"peak RSS:  {peak / 1024:.1f} MB after a {bsize / 1e9:.2f} GB file "
                  f"({a.rss_rows / t_big:.0f} rows/s; {base / 1024:.1f} MB before)")


if __name__ == "__main__":
    main()

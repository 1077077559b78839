#!/usr/bin/env python3
"""MySQL/MariaDB benchmark: ingestd end to end against the mariadb client on the same server.

    python3 bench/bench_mysql.py [--rows 1000000] [--rss-rows 10000000] [--skip-rss]
                                 [--skip-upsert] [--timeout 3600]

Measures, on one local stack (moto S3/SQS with signature checking, MariaDB 10.11):
  1. append: ingestd (event enqueued -> rows committed, read from the ledger) against
     `mariadb --local-infile=1 -e "LOAD DATA LOCAL INFILE ..."` of the same file from
     local disk into the same kind of table (primary key), same run;
  2. upsert: ingestd mode = upsert into a table that already holds the rows, against the
     client doing the same by hand (LOAD DATA into a staging table + INSERT ... SELECT ...
     ON DUPLICATE KEY UPDATE) in one transaction;
  3. peak RSS (VmHWM) of the daemon after loading a ~1 GB file (--rss-rows rows).
Prints each figure and its ratio (reference time / ingestd time: above 1 means ingestd
was faster); machines are shared and noisy, so only ratios from the same run mean
anything. Not a test: it asserts nothing, but exits non-zero when a load is not in the ledger
after --timeout seconds (tests/test_bench_smoke.sh runs it with a few rows in `make check`).
The daemon is $INGESTD_BIN, else build/ingestd (use a build without sanitizers).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
from stack import Stack, StackError  # noqa: E402

INGESTD = os.environ.get("INGESTD_BIN", os.path.join(TOP, "build", "ingestd"))
TIMEOUT = 3600
COLUMNS = ("id BIGINT PRIMARY KEY, name VARCHAR(64), email VARCHAR(128), "
           "created_at VARCHAR(32), amount DECIMAL(12,2), active VARCHAR(5), note TEXT")
COLS = "id, name, email, created_at, amount, active, note"
ROUTES = """
[route append]
sink = mysql
match_prefix = append/
table = bench_ingestd

[route upsert]
sink = mysql
match_prefix = upsert/
table = bench_upsert_ingestd
mode = upsert
key = id

[route rss]
sink = mysql
match_prefix = rss/
table = bench_rss
"""


def gen(rows, path, start=1):
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(rows), path,
                        "--start", str(start)], check=True)
    return os.path.getsize(path)


def client(st, sql):
    t0 = time.monotonic()
    subprocess.run(["mariadb", f"--defaults-file={st.path('mysql-client.cnf')}",
                    "--local-infile=1", "-e", sql], check=True, env=st.env())
    return time.monotonic() - t0


def load_sql(path, table):
    return (f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' "
            f"IGNORE 1 LINES ({COLS})")


def wait_loaded(st, keys):
    timeout = TIMEOUT
    want = set(keys)
    deadline = time.monotonic() + timeout
    got = set()
    while time.monotonic() < deadline:
        try:
            got = {r[0] for r in st.mysql("SELECT `key` FROM ingestd_ledger")}
        except StackError:   # the daemon creates the ledger with its first load
            got = set()
        if want <= got:
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {sorted(want - got)}")


def phase(st, name, conf_text_fn):
    """A queue and a bucket of its own per daemon run: a stopped daemon's pending long poll
    can still take the next event, which would then stay invisible for the whole run."""
    q, _ = st.make_queue(name, dlq=True, max_receive=3, visibility=300)
    st.make_bucket(name, notify_queue_url=q)
    st.purge(q)
    return st.ingestd_config(conf_text_fn(), name=f"{name}.conf", queue_url=q, workers=1,
                             log_level="notice", wait_time_seconds=20, visibility_timeout=300)


def upload_and_time(st, bucket, items):
    """Uploads (not timed), then times from the upload's end to the last commit."""
    for key, path in items:
        with open(path, "rb") as f:
            st.client("s3").put_object(Bucket=bucket, Key=key, Body=f)
    t0 = time.monotonic()
    wait_loaded(st, [k for k, _ in items])
    return time.monotonic() - t0


def start_daemon(st, conf, name):
    log = open(st.path(name + ".log"), "w")
    p = subprocess.Popen([INGESTD, "-c", conf], env=st.env(), stdout=log,
                         stderr=subprocess.STDOUT)
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
    p.wait(120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rss-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-upsert", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds to wait for the loads of one step before failing")
    a = ap.parse_args()
    global TIMEOUT
    TIMEOUT = a.timeout

    opts = ["--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M",
            "--max-allowed-packet=64M"]
    with Stack(moto=True, mariadb=True, moto_quiet=True, mysql_options=opts) as st:
        for t in ("bench_client", "bench_ingestd", "bench_upsert_client",
                  "bench_upsert_ingestd", "bench_rss"):
            st.mysql(f"CREATE TABLE {t} ({COLUMNS}) ENGINE=InnoDB")
        one = st.path("one.csv")
        size = gen(a.rows, one)
        print(f"file: {a.rows} rows, {size / 1e6:.1f} MB; daemon {INGESTD}", flush=True)

        # 1. append, ingestd first and the client second, then the other way round, so
        #    neither profits alone from a warm buffer pool
        st.mysql("CREATE TABLE bench_ingestd2 LIKE bench_ingestd; "
                 "CREATE TABLE bench_client2 LIKE bench_client")
        d = start_daemon(st, phase(st, "append", lambda: ROUTES), "append")
        t_ing = upload_and_time(st, "append", [("append/one.csv", one)])
        t_cli = client(st, load_sql(one, "bench_client"))
        t_cli2 = client(st, load_sql(one, "bench_client2"))
        stop(d)
        conf2 = phase(st, "append2",
                      lambda: ROUTES.replace("table = bench_ingestd\n", "table = bench_ingestd2\n"))
        d = start_daemon(st, conf2, "append2")
        t_ing2 = upload_and_time(st, "append2", [("append/two.csv", one)])
        stop(d)
        n_ing = st.mysql("SELECT count(*) FROM bench_ingestd")[0][0]
        n_cli = st.mysql("SELECT count(*) FROM bench_client")[0][0]
        ti, tc = min(t_ing, t_ing2), min(t_cli, t_cli2)
        print(f"append:  mariadb LOAD DATA LOCAL {a.rows / tc:10.0f} rows/s ({t_cli:.2f} s, "
              f"{t_cli2:.2f} s)   ingestd {a.rows / ti:10.0f} rows/s ({t_ing:.2f} s, "
              f"{t_ing2:.2f} s)   ratio {tc / ti:.2f}x   (rows: client {n_cli}, ingestd {n_ing})",
              flush=True)

        # 2. upsert into tables that already hold the rows
        if not a.skip_upsert:
            st.mysql("INSERT INTO bench_upsert_client SELECT * FROM bench_client; "
                     "INSERT INTO bench_upsert_ingestd SELECT * FROM bench_client")
            t_ref = client(st, (
                "START TRANSACTION; CREATE TEMPORARY TABLE s SELECT * FROM bench_upsert_client "
                "LIMIT 0; " + load_sql(one, "s") + "; INSERT INTO bench_upsert_client "
                "SELECT * FROM s ON DUPLICATE KEY UPDATE name = VALUES(name), email = "
                "VALUES(email), created_at = VALUES(created_at), amount = VALUES(amount), "
                "active = VALUES(active), note = VALUES(note); COMMIT"))
            d = start_daemon(st, phase(st, "upsert", lambda: ROUTES), "upsert")
            t_ups = upload_and_time(st, "upsert", [("upsert/one.csv", one)])
            stop(d)
            print(f"upsert:  mariadb staging+ODKU {a.rows / t_ref:10.0f} rows/s ({t_ref:.2f} s)"
                  f"   ingestd {a.rows / t_ups:10.0f} rows/s ({t_ups:.2f} s)   "
                  f"ratio {t_ref / t_ups:.2f}x", flush=True)

        # 3. peak RSS on a large file
        if not a.skip_rss:
            big = st.path("big.csv")
            bsize = gen(a.rss_rows, big)
            d = start_daemon(st, phase(st, "rss", lambda: ROUTES), "rss")
            base = vmhwm_kb(d.pid)
            t_big = upload_and_time(st, "rss", [("rss/big.csv", big)])
            peak = vmhwm_kb(d.pid)
            stop(d)
            n = st.mysql("SELECT count(*) FROM bench_rss")[0][0]
            print(f"peak RSS: {peak / 1024:.1f} MB after a {bsize / 1e9:.2f} GB file "
                  f"({n} rows, {a.rss_rows / t_big:.0f} rows/s; {base / 1024:.1f} MB before)",
                  flush=True)


if __name__ == "__main__":
    main()

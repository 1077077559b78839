#!/usr/bin/env python3
"""HTTP ingest benchmark: rows pushed over HTTP into PostgreSQL, against the same rows via S3.

    python3 bench/bench_http.py [--clients 16] [--seconds 20] [--rows 1000000] [--workers 4]
                                [--ingestd PATH] [--timeout 1800]

Measures, on one local stack (moto S3/SQS with signature checking, PostgreSQL 15):
  1. put: --clients threads, each on one keep-alive connection (http.client), sending
     single-record PUT /v1/ingest/ROUTE?... for --seconds seconds; every request is one
     load (one transaction with its ledger row). Prints requests/s and the latency
     percentiles (p50, p99) as the clients saw them.
  2. post: one POST of a --rows row CSV file (streamed from disk) against the same file
     uploaded to S3 and loaded from its event (upload not timed: from the event to the
     daemon's "loaded" line), into tables of the same shape; prints both times and the
     ratio S3 time / HTTP time.
Not a test: it asserts nothing, but exits non-zero when a request fails or a load is not
logged after --timeout seconds (tests/test_bench_smoke.sh runs it with a few rows in
`make check`). Measure a build without sanitizers (--ingestd points at it; the default is
$INGESTD_BIN, else build/ingestd).
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)
from bench_pg import COLUMNS, gen, log_time, settle  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

TOKEN = "bench-token"
ROUTES = """
[route puts]
sink = pg
http = true
match_prefix = pushed-only/
table = puts

[route bulk_http]
sink = pg
http = true
match_prefix = pushed-only/
table = bulk_http

[route bulk_s3]
sink = pg
match_prefix = bulk/
table = bulk_s3
"""


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def put_clients(port, clients, seconds, first_client=0):
    """Runs the clients; returns (requests, elapsed seconds, sorted latencies in ms, errors)."""
    stop_at = time.monotonic() + seconds
    lat = [[] for _ in range(clients)]
    errors = []

    def client(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        hdr = {"Authorization": f"Bearer {TOKEN}"}
        i = 0
        while time.monotonic() < stop_at:
            rid = (first_client + n) * 100_000_000 + i
            t0 = time.perf_counter()
            try:
                c.request("PUT", f"/v1/ingest/puts?id={rid}&name=client%20{n}&score={i % 100}",
                          headers=hdr)
                r = c.getresponse()
                body = r.read()
            except OSError as e:
                errors.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            lat[n].append((time.perf_counter() - t0) * 1000.0)
            if r.status != 200:
                errors.append(f"{r.status} {body[:200]!r}")
                return
            i += 1
        c.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    all_lat = sorted(x for per in lat for x in per)
    return len(all_lat), elapsed, all_lat, errors


def post_file(port, path):
    """POSTs the file streamed from disk; returns (seconds, answer)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    size = os.path.getsize(path)
    t0 = time.monotonic()
    with open(path, "rb") as f:
        c.request("POST", "/v1/ingest/bulk_http", body=f,
                  headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv",
                           "Content-Length": str(size)})
        r = c.getresponse()
        body = r.read()
    took = time.monotonic() - t0
    if r.status != 200:
        raise SystemExit(f"POST answered {r.status}: {body[:500]!r}")
    return took, body.decode().strip()


def wait_log(log_path, text, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            for line in f:
                if text in line:
                    return log_time(line)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {text!r}; log:\n" +
                     open(log_path, errors="replace").read()[-3000:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--ingestd", default=os.environ.get("INGESTD_BIN") or
                    os.path.join(TOP, "build", "ingestd"))
    ap.add_argument("--timeout", type=float, default=1800)
    a = ap.parse_args()

    with Stack(moto=True, postgres=True, moto_quiet=True) as st:
        q, _ = st.make_queue("bench-events", dlq=False)
        st.make_bucket("bench", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE puts (id bigint PRIMARY KEY, name text, score int)")
        for t in ("bulk_http", "bulk_s3"):
            st.psql(f"CREATE TABLE {t} ({COLUMNS})")
        tokens = st.path("tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + "\n")
        port = free_port()
        conf = st.ingestd_config(ROUTES, workers=a.workers, log_level="info",
                                 wait_time_seconds=1,
                                 extra=f"[http]\nlisten = 127.0.0.1:{port}\n"
                                       f"token_file = {tokens}\nmax_body = 4G\n")
        log = open(st.path("bench.log"), "w")
        d = subprocess.Popen([a.ingestd, "-c", conf], env=st.env(), stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            wait_log(log.name, "rows over HTTP on", 30, d)
            # one request first: connections to the database and the ledger exist
            put_clients(port, 1, 0.5, first_client=1000)
            n, elapsed, lat, errors = put_clients(port, a.clients, a.seconds)
            if errors:
                raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]}")
            rate = n / elapsed if elapsed else 0.0
            print(f"put: {n} single-record PUTs from {a.clients} keep-alive clients in "
                  f"{elapsed:.1f} s: {rate:.0f} requests/s, p50 {percentile(lat, 50):.1f} ms, "
                  f"p99 {percentile(lat, 99):.1f} ms (aim: >= 1000 requests/s, p99 <= 50 ms)",
                  flush=True)

            path = st.path("bulk.csv")
            size = gen(a.rows, path)
            settle(st)
            took_http, answer = post_file(port, path)
            settle(st)
            with open(path, "rb") as f:
                st.client("s3").put_object(Bucket="bench", Key="bulk/bulk_s3.csv", Body=f)
            t0 = time.time()
            took_s3 = wait_log(log.name, "loaded s3://bench/bulk/bulk_s3.csv into", a.timeout,
                               d) - t0
            took_s3 = max(took_s3, 0.001)
            print(f"post: {a.rows} rows ({size / 1e6:.1f} MB) over HTTP in {took_http:.2f} s "
                  f"({a.rows / took_http:.0f} rows/s) {answer}; through S3 in {took_s3:.2f} s; "
                  f"ratio {took_s3 / took_http:.2f}x (S3 time / HTTP time, aim >= 0.9x)",
                  flush=True)
        finally:
            d.terminate()
            try:
                d.wait(60)
            except subprocess.TimeoutExpired:
                d.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())

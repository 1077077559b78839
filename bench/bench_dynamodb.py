#!/usr/bin/env python3
"""DynamoDB benchmark: ingestd end to end against boto3's batch_writer(), same emulator, same run.

    python3 bench/bench_dynamodb.py [--rows 20000] [--repeat 2] [--only moto|dynalite]
                                    [--timeout 600]

For each emulator (moto with signature checking; dynalite from tests/node_modules):
  - boto3: the CSV (bench/gen_csv.py) read from local disk, typed like the route below
    (id N, amount N, active BOOL, the rest S) and put with `Table.batch_writer()`;
  - ingestd: the same file uploaded to S3 (not timed), then timed from the moment its event
    is in the queue to the moment the ledger item of the object can be read (the sink writes
    it last, after every batch; the daemon was started beforehand with one worker:
    parallelism is the sink's own, 8 requests in flight).
Each side runs --repeat times into fresh tables; the best time of each is kept. Prints items/s
and the ratio boto3 time / ingestd time. Machines are shared and noisy: only ratios from the
same run mean anything. Not a test: it asserts only that every item arrived, and exits
non-zero when a load has no ledger item after --timeout seconds or the daemon died
(tests/test_bench_smoke.sh runs it with a few rows in `make check`).
"""

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from stack import Stack  # noqa: E402
from test_sink_dynamodb import DYNALITE, start_dynalite  # noqa: E402

INGESTD = os.environ.get("INGESTD_BIN", os.path.join(TOP, "build", "ingestd"))
ROUTE = """
[route bench]
sink = ddb
match_prefix = {b}/
table = {table}
types = id:N, amount:N, active:BOOL
"""


def make_table(client, name):
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


def count(client, table):
    n, kw = 0, {}
    while True:
        r = client.scan(TableName=table, Select="COUNT", **kw)
        n += r["Count"]
        if "LastEvaluatedKey" not in r:
            return n
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def boto3_load(resource, table, path):
    t0 = time.monotonic()
    with open(path, newline="") as f, resource.Table(table).batch_writer() as bw:
        for row in csv.DictReader(f):
            item = {k: v for k, v in row.items() if v != ""}
            item["id"] = Decimal(row["id"])
            item["amount"] = Decimal(row["amount"])
            item["active"] = row["active"] == "true"
            bw.put_item(Item=item)
    return time.monotonic() - t0


def ingestd_load(st, client, daemon, logpath, key, path, timeout):
    """Uploads (not timed), then times from the event to the object's ledger item, which the
    sink puts (conditionally) only after every batch was written. Polling GetItem every 20 ms
    adds little to what ingestd itself sends. Fails loudly when the item does not come."""
    with open(path, "rb") as f:
        etag = st.client("s3").put_object(Bucket="bench", Key=key, Body=f)["ETag"].strip('"')
    lid = {"id": {"S": f"s3://bench/{key}#{etag}"}}
    t0 = time.monotonic()
    while time.monotonic() < t0 + timeout:
        try:
            if "Item" in client.get_item(TableName="ingestd_ledger", Key=lid,
                                         ConsistentRead=True):
                return time.monotonic() - t0, etag
        except client.exceptions.ResourceNotFoundException:
            pass    # the ledger table is made with the first load
        if daemon.poll() is not None:
            raise SystemExit(f"ingestd exited ({daemon.returncode}) before loading {key}; "
                             f"log: {tail(logpath)}")
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout} s waiting for the ledger item of {key}; "
                     f"log: {tail(logpath)}")


def tail(path, n=20):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def run_backend(st, name, endpoint, client, resource, path, rows, repeat, timeout):
    conf_routes = "".join(ROUTE.replace("{b}", f"{name}{i}").replace("{table}", f"ing_{name}{i}")
                          .replace("[route bench]", f"[route bench{i}]") for i in range(repeat))
    conf = st.ingestd_config(conf_routes, name=f"{name}.conf", workers=1, log_level="info",
                             wait_time_seconds=20, sinks="[sink ddb]\ntype = dynamodb\n")
    text = open(conf).read().replace("[aws]\n", f"[aws]\ndynamodb_endpoint = {endpoint}\n", 1)
    open(conf, "w").write(text)
    logpath = st.path(f"{name}-ingestd.log")
    log = open(logpath, "w")
    d = subprocess.Popen([INGESTD, "-c", conf], env=st.env(), stdout=log,
                         stderr=subprocess.STDOUT)
    time.sleep(1.0)
    t_boto, t_ing = [], []
    try:
        for i in range(repeat):
            make_table(client, f"boto_{name}{i}")
            make_table(client, f"ing_{name}{i}")
            t_boto.append(boto3_load(resource, f"boto_{name}{i}", path))
            t, _ = ingestd_load(st, client, d, logpath, f"{name}{i}/bench.csv", path, timeout)
            t_ing.append(t)
            for t in (f"boto_{name}{i}", f"ing_{name}{i}"):
                n = count(client, t)
                assert n == rows, f"{t}: {n} items, want {rows}"
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(60)
    b, g = min(t_boto), min(t_ing)
    print(f"{name:9s} boto3 batch_writer {rows / b:8.0f} items/s ({b:.2f} s)   "
          f"ingestd {rows / g:8.0f} items/s ({g:.2f} s)   ratio {b / g:.2f}x   "
          f"(all runs: boto3 {', '.join(f'{x:.2f}' for x in t_boto)} s; "
          f"ingestd {', '.join(f'{x:.2f}' for x in t_ing)} s)", flush=True)
    return b / g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", choices=("moto", "dynalite"))
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds to wait for one load's ledger item before failing")
    a = ap.parse_args()
    import boto3

    with Stack(moto=True, moto_quiet=True) as st:
        q, _ = st.make_queue("bench", dlq=True, max_receive=3, visibility=120)
        st.make_bucket("bench", notify_queue_url=q)
        st.purge(q)
        path = st.path("bench.csv")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(a.rows), path],
                       check=True)
        print(f"file: {a.rows} rows, {os.path.getsize(path) / 1e6:.1f} MB; "
              f"best of {a.repeat} runs each", flush=True)
        ratios = {}
        if a.only in (None, "moto"):
            ratios["moto"] = run_backend(st, "moto", st.moto_url, st.client("dynamodb"),
                                         st.resource("dynamodb") if hasattr(st, "resource") else
                                         boto3.resource("dynamodb", endpoint_url=st.moto_url,
                                                        region_name="us-east-1",
                                                        aws_access_key_id=st.access_key_id,
                                                        aws_secret_access_key=st.secret_access_key),
                                         path, a.rows, a.repeat, a.timeout)
        if a.only in (None, "dynalite"):
            if not os.path.exists(DYNALITE):
                print(f"dynalite: not installed ({DYNALITE}); run tests/install-deps.sh")
            else:
                proc, url = start_dynalite(st.tmp)
                try:
                    kw = dict(endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="y")
                    ratios["dynalite"] = run_backend(st, "dynalite", url,
                                                     boto3.client("dynamodb", **kw),
                                                     boto3.resource("dynamodb", **kw), path,
                                                     a.rows, a.repeat, a.timeout)
                finally:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
        print("ratios (boto3 time / ingestd time): "
              + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()

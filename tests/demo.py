#!/usr/bin/env python3
"""The demo: ingestd's main job end to end on local services.

Starts moto (S3, SQS with a dead-letter queue; exact SigV4 checking) and the target
database on loopback, starts ingestd, uploads the sample files in data/ with the AWS CLI as
a user would, waits until they are settled, shows the loaded tables, the ledger and the DLQ
error report of the bad file, and stops everything it started.

    python3 tests/demo.py [--ingestd PATH] [--target postgres|mysql|dynamodb]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from stack import Stack  # noqa: E402

SQL_ROUTES = """
[route aurora]
; db-data*.csv from the Aurora loader: ';'-delimited, no header, upsert on id
sink = {sink}
match_prefix = aurora/
table = test
header = false
columns = id, description
delimiter = ";"
mode = upsert
key = id

[route pipeline]
; the RDS upsert pipeline: any CSV under pipeline/, table named after the file,
; created from the header with inferred types, upsert on id
sink = {sink}
match_prefix = pipeline/
table = {basename}
create_table = true
mode = upsert
key = id

[route bank]
; bank transactions: the header (with padding spaces) skipped and the fields named by
; position with clean columns, append
sink = {sink}
match_prefix = bank/
table = transactions
header = false
skip_lines = 1
columns = account_no, date, details, chip_used, value_date, withdrawal, deposit, balance
"""

DDB_ROUTES = """
[route customers]
; customer records keyed by customer_id: puts are upserts by key
sink = ddb
match_prefix = customers/
table = customers

[route trades]
; trades as a JSON document {"data": [...]}: nested values become maps and lists
sink = ddb
match_prefix = trades/
format = json
columns = id, details, price, shares, ticker, ticket, time
types = details:JSON, time:JSON, price:N, shares:N
null_as = NULL
table = trades
"""

DDB_UPLOADS = [
    ("data/samples/customers.csv", "customers/2023-08-28.csv"),
    ("data/samples/customers.csv", "customers/2023-08-28.csv"),   # again: same 4 items
    ("data/samples/customers-bad.csv", "customers/bad.csv"),      # line 3 has no key
    ("data/samples/trades.json", "trades/trades.json"),
]

SQL_UPLOADS = [
    ("data/aurora-eventual-s3-load/db-data.csv", "aurora/db-data.csv"),
    ("data/aurora-eventual-s3-load/db-data-with-error.csv", "aurora/db-data-with-error.csv"),
    ("data/aws-data-pipeline/data.csv", "pipeline/data.csv"),
    ("data/aws-data-pipeline/data.csv", "pipeline/data.csv"),   # again: still 10 rows
    ("data/samples/transactions.csv", "bank/2019/march transactions.csv"),
]


def say(msg):
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def show_pg(st, title, sql):
    print(f"-- {title}")
    out = subprocess.run(["psql", "-X", "-P", "pager=off", st.pg_conninfo, "-c", sql],
                         env=st.env({"PGCONNECT_TIMEOUT": "5"}), capture_output=True, text=True)
    print(out.stdout or out.stderr)


def show_mysql(st, title, sql):
    print(f"-- {title}")
    out = subprocess.run(["mariadb", "-t", "-h", st.mysql_host, "-P", str(st.mysql_port),
                          "-u", st.mysql_user, f"-p{st.mysql_password}", st.mysql_database,
                          "-e", sql], env=st.env(), capture_output=True, text=True)
    print(out.stdout or out.stderr)


def show_ddb(st, title, table, fields):
    print(f"-- {title}")
    items = st.client("dynamodb").scan(TableName=table)["Items"]
    for it in sorted(items, key=lambda i: json.dumps(i, sort_keys=True)):
        print("  " + ", ".join(f"{f}={json.dumps(it[f])}" for f in fields if f in it))
    print(f"  ({len(items)} items)\n")


class Postgres:
    stack = {"postgres": True}
    sink = "pg"
    name = "PostgreSQL 15"

    def setup(self, st):
        st.psql("CREATE TABLE test (id int PRIMARY KEY, description varchar(40) NOT NULL)")
        st.psql("CREATE TABLE transactions (account_no bigint, date text, details text, "
                "chip_used boolean, value_date text, withdrawal text, deposit text, balance text)")

    def show(self, st):
        show_pg(st, "test (db-data.csv, upserted on id)", "SELECT * FROM test ORDER BY id")
        show_pg(st, "data (created from data.csv's header; uploaded twice, still 10 rows)",
                "SELECT id, first_name, email, amount FROM data ORDER BY id")
        show_pg(st, "transactions (every row of the file; quoted amounts kept verbatim)",
                "SELECT count(*) AS rows, min(balance), max(balance) FROM transactions")
        show_pg(st, "the ledger: each object once", "SELECT bucket, key, etag, rows, bytes, "
                "loaded_at FROM ingestd_ledger ORDER BY loaded_at")


class Mysql:
    stack = {"mariadb": True}
    sink = "mysql"
    name = "MariaDB 10.11"

    def setup(self, st):
        st.mysql("CREATE TABLE test (id int PRIMARY KEY AUTO_INCREMENT, "
                 "description varchar(40) NOT NULL)")
        st.mysql("CREATE TABLE transactions (account_no varchar(40), date varchar(40), "
                 "details varchar(40), chip_used varchar(40), value_date varchar(40), "
                 "withdrawal varchar(40), deposit varchar(40), balance varchar(40))")

    def show(self, st):
        show_mysql(st, "test (db-data.csv, upserted on id)", "SELECT * FROM test ORDER BY id")
        show_mysql(st, "data (created from data.csv's header; uploaded twice, still 10 rows)",
                   "SELECT id, first_name, email, amount FROM data ORDER BY id")
        show_mysql(st, "transactions (every row of the file; quoted amounts kept verbatim)",
                   "SELECT count(*) AS `rows`, min(balance), max(balance) FROM transactions")
        show_mysql(st, "the ledger: each object once", "SELECT bucket, `key`, etag, `rows`, "
                   "bytes, loaded_at FROM ingestd_ledger ORDER BY loaded_at")


class Dynamodb:
    stack = {}
    sink = "ddb"
    name = "DynamoDB (moto)"

    def setup(self, st):
        ddb = st.client("dynamodb")
        for table, key in (("customers", "customer_id"), ("trades", "id")):
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])

    def show(self, st):
        show_ddb(st, "customers (uploaded twice: still one item per key)", "customers",
                 ["customer_id", "customer_name"])
        show_ddb(st, "trades (from trades.json; nested values are maps and lists)", "trades",
                 ["id", "price", "shares", "ticket", "time"])
        show_ddb(st, "the ledger table: each object once", "ingestd_ledger",
                 ["id", "rows", "bytes", "loaded_at"])


TARGETS = {"postgres": Postgres, "mysql": Mysql, "dynamodb": Dynamodb}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingestd", default=os.path.join(TOP, "build", "ingestd"))
    ap.add_argument("--target", choices=sorted(TARGETS), default="postgres")
    args = ap.parse_args()
    target = TARGETS[args.target]()
    sql = args.target != "dynamodb"
    routes = SQL_ROUTES.replace("{sink}", target.sink) if sql else DDB_ROUTES
    uploads = SQL_UPLOADS if sql else DDB_UPLOADS

    say(f"starting local S3 + SQS (moto, signature checking on) and {target.name}")
    with Stack(moto=True, **target.stack) as st:
        q, dlq = st.make_queue("ingest-events", dlq=True, max_receive=3, visibility=60)
        st.make_bucket("landing", notify_queue_url=q)
        print(f"queue {q}\ndead-letter queue {dlq}\nbucket s3://landing -> S3 events -> queue")
        target.setup(st)
        conf = st.ingestd_config(routes, workers=2, log_level="info", wait_time_seconds=20)
        print(f"configuration {conf}")

        say("starting ingestd")
        log = open(st.path("ingestd.log"), "w")
        d = subprocess.Popen([args.ingestd, "-c", conf], env=st.env(), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            say("uploading the sample files with the AWS CLI")
            for src, key in uploads:
                cmd = ["aws", "--endpoint-url", st.moto_url, "s3", "cp", os.path.join(TOP, src),
                       f"s3://landing/{key}"]
                print("$ " + " ".join(cmd[3:]))
                subprocess.run(cmd, env=st.env(), check=True, stdout=subprocess.DEVNULL)
                time.sleep(0.5)

            say("waiting until every event is settled")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(1)
                if st.queue_count(q) == 0 and st.queue_count(dlq) >= 1:
                    break
            time.sleep(1)

            say("what ingestd logged")
            print(open(st.path("ingestd.log")).read())

            say(f"{target.name} now holds")
            target.show(st)

            say("the dead-letter queue holds the report of the bad file")
            for m in st.receive_all(dlq, wait=1.0):
                print(json.dumps(m["body"], indent=2) if m["body"] else m["Body"])
        finally:
            say("stopping ingestd (SIGTERM) and the local services")
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
            print(f"ingestd exited with status {d.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The MySQL/MariaDB sink end to end: S3 upload -> event on SQS -> ingestd -> MariaDB rows.

Against the real MariaDB 10.11 and moto of tests/stack.py. Each check uploads objects,
runs `ingestd --exit-when-idle` (or a long-running daemon for the outage) and asserts on
the table, the ledger, ingestd_rejects and the queues: append (quoting, embedded newlines,
backslashes, tabs, NULLs), upsert with duplicate keys in one file (the last row wins) and
a re-upload keeping the count, replace, create_table with inferred types (booleans and
zoned timestamps converted), redelivery loading nothing twice, type errors and truncation
rolling the whole file back with a DLQ report naming line and column, skip_row rejects,
MariaDB killed in the middle of a load (transient, retried, loaded once), the prior-art
files (db-data.csv / db-data-with-error.csv into `test`, transactions.csv into varchar(40)
columns), a race of three loaders on one object through tests/sinks/myload (exactly one loads),
check() and ssl_mode.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(SRCDIR, "build"))
MYLOAD = os.path.join(BUILD, "tests", "sinks", "myload")

TXN_COLUMNS = ("account_no, date, transaction_details, chip_used, value_date, "
               "_withdrawal_amt_, _deposit_amt_, balance_amt")

ROUTES = f"""
[route people]
sink = mysql
bucket = inbox
match_prefix = people/
table = people

[route accounts]
sink = mysql
match_prefix = accounts/
table = accounts
mode = upsert
key = id

[route whole]
sink = mysql
match_prefix = whole/
table = snapshot
mode = replace

[route semi]
sink = mysql
match_prefix = semi/
table = test
header = false
columns = id, description
delimiter = ";"
mode = upsert
key = id

[route skip]
sink = mysql
match_prefix = skip/
table = people
on_error = skip_row
max_errors = 3

[route made]
sink = mysql
match_prefix = made/
table = {{basename}}
create_table = true
mode = upsert
key = id

[route txns]
sink = mysql
match_prefix = txns/
table = rds_cdc_table
header = false
skip_lines = 1
columns = {TXN_COLUMNS}

[route rows]
sink = mysql
match_prefix = rows/
table = items
"""


def drain(st, conf):
    rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def one(st, sql):
    return st.mysql(sql)[0][0]


def dlq_reports(st, dlq):
    return [m["body"] for m in st.receive_all(dlq, wait=0.5)]


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
    with Stack(moto=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.mysql("CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, "
                 "city TEXT, score DECIMAL(10,2));"
                 "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT, balance DECIMAL(12,2));"
                 "CREATE TABLE snapshot (id INT PRIMARY KEY, v TEXT);"
                 "CREATE TABLE test (id INT PRIMARY KEY AUTO_INCREMENT, "
                 "description VARCHAR(40) NOT NULL);"
                 "CREATE TABLE rds_cdc_table (" +
                 ", ".join(f"{col.strip()} VARCHAR(40)" for col in TXN_COLUMNS.split(",")) +
                 ");"
                 "CREATE TABLE items (id BIGINT, payload TEXT);"   # no key: duplicates would show
                 "CREATE TABLE race_items (id BIGINT, payload TEXT)")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=20)

        def append_basic():
            st.put_object("inbox", "people/a.csv",
                          'id,name,city,score\n1,Ann,Oslo,1.5\n2,Bob,,2\n'
                          '3,"Cy, Jr","New\nYork",\n4,"b\\\\s\tt",x,\n')
            err = drain(st, conf)
            got = st.mysql("SELECT id, name, city, score FROM people ORDER BY id")
            assert got == [("1", "Ann", "Oslo", "1.50"), ("2", "Bob", None, "2.00"),
                           ("3", "Cy, Jr", "New\nYork", None), ("4", "b\\\\s\tt", "x", None)], got
            led = st.mysql("SELECT bucket, `key`, `rows` FROM ingestd_ledger "
                           "WHERE `key` = 'people/a.csv'")
            assert led == [("inbox", "people/a.csv", "4")], led
            assert st.queue_count(q) == 0, "message not deleted"
            assert "loaded 4 rows" in err, err[-2000:]

        def redelivery_is_not_loaded_twice():
            before = int(one(st, "SELECT count(*) FROM people"))
            etag = st.put_object("inbox", "people/dup.csv", "id,name\n10,Dee\n")
            drain(st, conf)
            body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                 "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "inbox"},
                                        "object": {"key": "people/dup.csv", "eTag": etag}}}]}
            st.send(q, body)
            st.send(q, body)
            err = drain(st, conf)
            after = int(one(st, "SELECT count(*) FROM people"))
            assert after == before + 1, (before, after)
            assert "already" in err, err[-2000:]
            assert st.queue_count(q) == 0

        def upsert_last_row_wins_and_reupload_keeps_count():
            data = "id,owner,balance\n1,a,1\n2,b,2\n1,a2,10\n3,c,3\n"
            st.put_object("inbox", "accounts/x.csv", data)
            drain(st, conf)
            got = st.mysql("SELECT id, owner, balance FROM accounts ORDER BY id")
            assert got == [("1", "a2", "10.00"), ("2", "b", "2.00"), ("3", "c", "3.00")], got
            st.put_object("inbox", "accounts/x.csv", data.replace("c,3", "c,33"))
            drain(st, conf)
            got = st.mysql("SELECT id, balance FROM accounts ORDER BY id")
            assert got == [("1", "10.00"), ("2", "2.00"), ("3", "33.00")], got
            assert one(st, "SELECT count(*) FROM ingestd_ledger WHERE `key` = 'accounts/x.csv'") == "2"

        def replace_is_the_whole_table():
            st.put_object("inbox", "whole/s.csv", "id,v\n1,a\n2,b\n3,c\n")
            drain(st, conf)
            st.put_object("inbox", "whole/s.csv", "id,v\n7,x\n8,y\n")
            drain(st, conf)
            got = st.mysql("SELECT id, v FROM snapshot ORDER BY id")
            assert got == [("7", "x"), ("8", "y")], got

        def create_table_with_inferred_types():
            st.put_object("inbox", "made/metrics.csv",
                          "id,when,amount,ok,day,note\n"
                          "1,2023-06-15T10:30:00Z,1.5,true,2023-06-15,x\n"
                          "2,2023-06-15T10:35:00+02:00,2,FALSE,2023-06-16,\n")
            drain(st, conf)
            types = st.mysql("SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY FROM "
                             "information_schema.COLUMNS WHERE TABLE_SCHEMA = 'ingest' AND "
                             "TABLE_NAME = 'metrics' ORDER BY ORDINAL_POSITION")
            assert types == [("id", "bigint(20)", "PRI"), ("when", "datetime(6)", ""),
                             ("amount", "decimal(38,10)", ""), ("ok", "tinyint(1)", ""),
                             ("day", "date", ""), ("note", "longtext", "")], types
            got = st.mysql("SELECT id, `when`, ok, note FROM metrics ORDER BY id")
            assert got == [("1", "2023-06-15 10:30:00.000000", "1", "x"),
                           ("2", "2023-06-15 08:35:00.000000", "0", None)], got

        def type_error_and_truncation_roll_back_the_file():
            before = int(one(st, "SELECT count(*) FROM people"))
            st.put_object("inbox", "people/bad.csv",
                          "id,name,score\n50,ok,1\n51,fine,2\n52,bad,notanumber\n")
            st.put_object("inbox", "people/long.csv",
                          "id,name\n53,ok\n54," + "x" * 30 + "\n")
            drain(st, conf)
            assert int(one(st, "SELECT count(*) FROM people")) == before, "nothing may commit"
            reps = {r["key"]: r for r in dlq_reports(st, dlq) if r}
            bad = reps["people/bad.csv"]
            assert bad["class"] == "permanent" and bad["line"] == 4, bad
            assert bad["column"] == 3 and bad["column_name"] == "score", bad
            assert "notanumber" in (bad["sample"] or "") + bad["reason"], bad
            long_ = reps["people/long.csv"]
            assert long_["line"] == 3 and long_["column"] == 2, long_
            assert long_["column_name"] == "name" and long_["sample"] == "x" * 30, long_
            assert "truncated" in long_["reason"].lower(), long_
            led = one(st, "SELECT count(*) FROM ingestd_ledger WHERE `key` IN "
                          "('people/bad.csv', 'people/long.csv')")
            assert led == "0", led
            assert st.queue_count(q) == 0

        def skip_row_records_rejects():
            st.put_object("inbox", "skip/s.csv",
                          "id,name,score\n70,a,1\n71\n72,c,x\n73," + "y" * 30 + ",2\n74,e,5\n")
            drain(st, conf)
            got = st.mysql("SELECT id FROM people WHERE id BETWEEN 70 AND 79 ORDER BY id")
            assert got == [("70",), ("74",)], got
            rej = st.mysql("SELECT line, col, column_name FROM ingestd_rejects "
                           "WHERE `key` = 'skip/s.csv' ORDER BY line")
            assert [r[0] for r in rej] == ["3", "4", "5"], rej
            assert rej[1][2] == "score" and rej[2][2] == "name", rej
            assert one(st, "SELECT `rows` FROM ingestd_ledger WHERE `key` = 'skip/s.csv'") == "2"

        def skip_row_past_max_errors_fails_whole():
            st.put_object("inbox", "skip/many.csv",
                          "id,name,score\n80,a,x\n81,b,x\n82,c,x\n83,d,x\n84,e,1\n")
            drain(st, conf)
            assert one(st, "SELECT count(*) FROM people WHERE id BETWEEN 80 AND 89") == "0"
            assert one(st, "SELECT count(*) FROM ingestd_rejects WHERE `key` = 'skip/many.csv'") == "0"
            reps = [r for r in dlq_reports(st, dlq) if r and r["key"] == "skip/many.csv"]
            assert len(reps) == 1 and "max_errors" in reps[0]["reason"], reps

        def prior_art_aurora_files():
            base = os.path.join(SRCDIR, "data", "aurora-eventual-s3-load")
            good = open(os.path.join(base, "db-data.csv"), "rb").read()
            bad = open(os.path.join(base, "db-data-with-error.csv"), "rb").read()
            st.put_object("inbox", "semi/db-data.csv", good)
            st.put_object("inbox", "semi/db-data-with-error.csv", bad)
            drain(st, conf)
            got = st.mysql("SELECT id, description FROM test ORDER BY id")
            assert got == [("1", "Teste"), ("2", "Teste 2"), ("30", "Teste 30"),
                           ("33", "Teste 33")], got
            reps = [r for r in dlq_reports(st, dlq) if r and r.get("key") == "semi/db-data-with-error.csv"]
            assert len(reps) == 1, reps
            r = reps[0]
            assert r["class"] == "permanent" and r["line"] == 1 and r["column"] == 3, r
            assert json.loads(r["original_body"])["Records"], r
            # the same good file again under another key: still 4 rows (upsert)
            st.put_object("inbox", "semi/db-data-again.csv", good)
            drain(st, conf)
            assert one(st, "SELECT count(*) FROM test") == "4"
            assert st.queue_count(q) == 0

        def prior_art_transactions_append():
            data = open(os.path.join(SRCDIR, "data", "samples", "transactions.csv"), "rb").read()
            per_file = len([ln for ln in data.decode().split("\n")[1:] if ln.strip()])
            st.put_object("inbox", "txns/run1.csv", data)
            drain(st, conf)
            assert int(one(st, "SELECT count(*) FROM rds_cdc_table")) == per_file
            st.put_object("inbox", "txns/run2.csv", data)
            drain(st, conf)
            assert int(one(st, "SELECT count(*) FROM rds_cdc_table")) == 2 * per_file
            amt = st.mysql("SELECT _deposit_amt_ FROM rds_cdc_table WHERE _deposit_amt_ LIKE "
                           "'%,%' LIMIT 1")
            assert amt and amt[0][0].startswith("  ") and amt[0][0].endswith(" "), amt

        def mariadb_killed_during_a_load_is_retried_once():
            n = 300_000
            body = "id,payload\n" + "".join(f"{i},row {i} {'x' * 40}\n" for i in range(n))
            st.mysql("TRUNCATE items")
            d = Ingestd(conf, st.env(), st.path("outage.log"))
            ok = False
            try:
                st.put_object("inbox", "rows/big.csv", body)
                wait_until(lambda: one(st, "SELECT count(*) FROM information_schema.PROCESSLIST "
                                           "WHERE INFO LIKE 'LOAD DATA%'") != "0",
                           60, "the LOAD DATA to start")
                st.mysql_stop(kill=True)
                d.wait_for_log("transient failure", timeout=60)
                st.mysql_start()
                wait_until(lambda: one(st, "SELECT count(*) FROM items") == str(n), 180,
                           "the retried load")
                wait_until(lambda: st.queue_count(q) == 0, 60, "the message to be deleted")
                assert one(st, "SELECT count(DISTINCT id) FROM items") == str(n)
                assert d.alive()
                ok = True
            finally:
                d.stop()
                if not ok:
                    print(d.log_text()[-4000:], file=sys.stderr)

        def race_of_three_loaders_loads_once():
            path = st.path("race.csv")
            with open(path, "w") as f:
                f.write("id,payload\n" + "".join(f"{i},r\n" for i in range(1000, 1100)))
            argv = [MYLOAD, "--host", st.mysql_host, "--port", str(st.mysql_port), "--user",
                    st.mysql_user, "--password", st.mysql_password, "--database",
                    st.mysql_database, "--table", "race_items", "--file", path, "--etag", "race",
                    "--parallel", "3", "--sleep-before-commit", "300"]
            p = subprocess.run(argv, capture_output=True, timeout=60)
            out = [json.loads(ln) for ln in p.stdout.decode().splitlines()]
            assert p.returncode == 0, (out, p.stderr.decode()[-2000:])
            assert sorted(o["result"] for o in out) == ["already_loaded", "already_loaded",
                                                         "loaded"], out
            assert one(st, "SELECT count(*) FROM race_items") == "100"

        def worker_abort_mid_stream_rolls_back_and_the_connection_goes_on():
            # 200k good rows (the pipe is full and LOAD DATA runs), then a quote that never
            # closes: the parser fails, the running LOAD DATA is cancelled, nothing commits,
            # and the same daemon loads the next object on its kept connection.
            body = "id,payload\n" + "".join(f"{i},p{i}\n" for i in range(5_000_000, 5_200_000))
            st.put_object("inbox", "rows/broken.csv", body + '5200000,"never closed\n')
            drain(st, conf)
            rep = [r for r in dlq_reports(st, dlq) if r and r["key"] == "rows/broken.csv"]
            assert len(rep) == 1 and rep[0]["line"] == 200_002, rep
            assert one(st, "SELECT count(*) FROM items WHERE id >= 5000000") == "0"
            st.put_object("inbox", "rows/after.csv", "id,payload\n6000000,ok\n")
            err = drain(st, conf)
            assert one(st, "SELECT count(*) FROM items WHERE id >= 5000000") == "1"
            assert "reconnected" not in err, err[-2000:]

        def many_rejects_flushed_mid_load():
            # > 1 MB of rejects ends the running LOAD DATA, inserts them and starts another:
            # later server warnings must still map to the right lines and ordinals.
            path = st.path("rejects.csv")
            lines = ["id,name,score"]
            for i in range(20000):
                if i % 5 == 4:
                    lines.append(f"{i},{'r' * 400}")          # ragged: a stream reject
                elif i == 19_998:
                    lines.append(f"{i},late,notanumber")      # a server warning, late
                else:
                    lines.append(f"{i},n{i},{i % 100}")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            st.mysql("CREATE TABLE many_rej (id INT PRIMARY KEY, name VARCHAR(20), "
                     "score DECIMAL(6,2))")
            argv = [MYLOAD, "--host", st.mysql_host, "--port", str(st.mysql_port), "--user",
                    st.mysql_user, "--password", st.mysql_password, "--database",
                    st.mysql_database, "--table", "many_rej", "--file", path, "--etag", "mr",
                    "--object-key", "many-rejects.csv", "--on-error", "skip_row",
                    "--max-errors", "5000"]
            p = subprocess.run(argv, capture_output=True, timeout=120)
            out = json.loads(p.stdout.decode().splitlines()[-1])
            assert p.returncode == 0, (out, p.stderr.decode()[-2000:])
            assert one(st, "SELECT count(*) FROM many_rej") == str(20000 - 4000 - 1)
            assert one(st, "SELECT count(*) FROM ingestd_rejects WHERE `key` = "
                           "'many-rejects.csv'") == "4001"
            late = st.mysql("SELECT line, column_name FROM ingestd_rejects WHERE `key` = "
                            "'many-rejects.csv' AND reason LIKE '%notanumber%'")
            assert late == [("20000", "score")], late
            assert one(st, "SELECT count(*) FROM many_rej WHERE id = 19998") == "0"
            assert one(st, "SELECT `rows` FROM ingestd_ledger WHERE `key` = 'many-rejects.csv'") \
                == str(20000 - 4000 - 1)

        def check_and_ssl_mode():
            base = [MYLOAD, "--host", st.mysql_host, "--port", str(st.mysql_port), "--user",
                    st.mysql_user, "--password", st.mysql_password, "--database",
                    st.mysql_database, "--check"]
            p = subprocess.run(base, capture_output=True, timeout=30)
            assert p.returncode == 0 and b"MySQL 10.11" in p.stderr, p.stderr
            p = subprocess.run(base + ["--ssl-mode", "disabled"], capture_output=True, timeout=30)
            assert p.returncode == 0 and b"TLS off" in p.stderr, p.stderr
            # The test server has no TLS: required must refuse rather than go on in clear.
            p = subprocess.run(base + ["--ssl-mode", "required"], capture_output=True, timeout=30)
            assert p.returncode == 1 and json.loads(p.stdout)["class"] == "config", p
            p = subprocess.run(base[:8] + ["wrong", "--database", "ingest", "--check"],
                               capture_output=True, timeout=30)
            assert p.returncode == 1 and json.loads(p.stdout)["class"] == "config", p

        only = os.environ.get("ONLY")   # a substring of check names, to run a subset
        check = c.check
        c.check = lambda name, fn: check(name, fn) if not only or only in name else None
        c.check("append: quoting, newline, backslash, tab, NULLs, ledger, message deleted",
                append_basic)
        c.check("redelivered event: nothing loaded twice", redelivery_is_not_loaded_twice)
        c.check("upsert: duplicate keys resolve to the last row; re-upload keeps count",
                upsert_last_row_wins_and_reupload_keeps_count)
        c.check("replace: the object is the whole table", replace_is_the_whole_table)
        c.check("create_table: inferred types, booleans and zoned timestamps converted",
                create_table_with_inferred_types)
        c.check("type error and truncation: whole file rolled back, DLQ line and column",
                type_error_and_truncation_roll_back_the_file)
        c.check("skip_row: server-warned and malformed rows recorded as rejects",
                skip_row_records_rejects)
        c.check("skip_row past max_errors: whole file rejected, no rejects kept",
                skip_row_past_max_errors_fails_whole)
        c.check("prior art: db-data.csv upserts 4 rows; db-data-with-error.csv to the DLQ",
                prior_art_aurora_files)
        c.check("prior art: transactions.csv appended into varchar(40) columns, twice",
                prior_art_transactions_append)
        c.check("three loaders race on one object: exactly one loads",
                race_of_three_loaders_loads_once)
        c.check("worker aborts mid-stream: LOAD DATA cancelled, nothing kept, next load fine",
                worker_abort_mid_stream_rolls_back_and_the_connection_goes_on)
        c.check("skip_row: over 1 MB of rejects flushed mid-load, later warnings still placed",
                many_rejects_flushed_mid_load)
        c.check("check(): version, ssl_mode disabled/required, bad password is config",
                check_and_ssl_mode)
        c.check("MariaDB killed during a load: transient, retried, loaded once",
                mariadb_killed_during_a_load_is_retried_once)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

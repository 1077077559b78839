#!/usr/bin/env python3
"""Error reports and log lines of a running daemon, against moto, PostgreSQL and MariaDB.

- every DLQ report has the same members with the same types (integer column, column_name
  string or null), and a sample, for each kind of error: field count, type, validation,
  truncation, NOT NULL; the failed load's log line says ROWS=0 and states its position once;
- a 600 KB message body gives a report cut to SQS's 256 KiB (the DLQ refuses more), with
  original_body_truncated; a 2000-record message gives one report that lists or counts every
  failure; {"Records": []} is deleted with a log line;
- an eTag holding CR/LF and headers is a permanent failure with a report, nothing is loaded,
  while the same object with its real ETag loads;
- "size": 1e300 does not take the daemon down;
- a key holding a newline and terminal escapes cannot forge a stderr line (text mode), and
  log_format = json writes one JSON object per line.
"""

import json
import os
import urllib.parse
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route pg]
sink = pg
bucket = inbox
match_prefix = pg/
table = t1

[route my]
sink = mysql
bucket = inbox
match_prefix = my/
table = t1

[route valid]
sink = pg
bucket = inbox
match_prefix = valid/
table = vt
validate.email = regex:^[^@]+@[^@]+$

[route many]
sink = pg
bucket = inbox
match_prefix = many/
table = t1

[route skip]
sink = pg
bucket = inbox
match_prefix = skip/
table = good
on_error = skip_row
max_errors = 5

[route hostile]
sink = pg
bucket = inbox
match_prefix = hostile/
table = good
"""

TABLE = "CREATE TABLE t1 (id int, name varchar(5) NOT NULL)"
CASES = {                          # kind: (object, line, column, column_name, sample)
    "fieldcount": ("id,name\n1,a\n2,b,c\n", 3, 3, None, "c"),
    "type": ("id,name\n1,a\nx,b\n", 3, 1, "id", "x"),
    "trunc": ("id,name\n1,a\n2,toolongvalue\n", 3, 2, "name", "toolongvalue"),
    "notnull": ("id,name\n1,a\n2,\n", 3, 2, "name", "2\t\\N"),   # the row, as COPY has it
}
MEMBERS = {"class", "reason", "bucket", "key", "etag", "route", "line", "column", "column_name",
           "sample"}
TOP = MEMBERS | {"ingestd_error", "receive_count", "failures", "failures_omitted",
                 "original_body"}
BAD_ETAG = "d41d8cd98f00b204e9800998ecf8427e\r\nX-Injected: 1\r\nRange: bytes=0-1"


def record(key, etag=None, size=None):
    obj = {"key": key}
    if etag is not None:
        obj["eTag"] = etag
    if size is not None:
        obj["size"] = size
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "inbox"}, "object": obj}}


def check_shape(rep):
    assert set(rep) in (TOP, TOP | {"original_body_truncated"}), sorted(rep)
    assert rep["ingestd_error"] == 1
    for f in [rep] + rep["failures"]:
        assert MEMBERS <= set(f), sorted(f)
        assert isinstance(f["column"], int) and not isinstance(f["column"], bool), f
        assert f["column_name"] is None or isinstance(f["column_name"], str), f
        assert f["line"] is None or isinstance(f["line"], int), f
    assert isinstance(rep["failures_omitted"], int)
    assert {k: rep[k] for k in MEMBERS} == rep["failures"][0]


def wait_reports(st, dlq, n, timeout=60):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += [m for m in st.receive_all(dlq, wait=0.5)]
    return got


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("reports", dlq=True, max_receive=5, visibility=30)
        sqs = st.client("sqs")
        # a DLQ that holds no more than SQS's classic 256 KiB: a larger report is refused
        sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"MaximumMessageSize": "262144"})
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql(TABLE + "; CREATE TABLE vt (id int, email text); "
                "CREATE TABLE good (id int, name text)")
        st.mysql(TABLE)
        conf = st.ingestd_config(ROUTES, workers=2, log_level="info")
        d = Ingestd(conf, env=st.env(), log=st.path("ingestd.log"))
        try:
            def report_shape_for_each_error_kind():
                for sink in ("pg", "my"):
                    for kind, (data, *_rest) in CASES.items():
                        st.put_object("inbox", f"{sink}/{kind}/t1.csv", data)
                st.put_object("inbox", "valid/v.csv", "id,email\n1,a@b\n2,nope\n")
                reps = {m["body"]["key"]: m["body"] for m in wait_reports(st, dlq, 9)}
                assert len(reps) == 9, sorted(reps)
                for sink in ("pg", "my"):
                    for kind, (_data, line, col, name, sample) in CASES.items():
                        r = reps[f"{sink}/{kind}/t1.csv"]
                        check_shape(r)
                        assert (r["line"], r["column"], r["column_name"], r["sample"]) == \
                            (line, col, name, sample), (kind, sink, r)
                r = reps["valid/v.csv"]
                check_shape(r)
                assert (r["line"], r["column"], r["column_name"], r["sample"]) == \
                    (3, 2, "email", "nope"), r
                log = d.log_text()
                for key in reps:
                    failed = [ln for ln in log.splitlines() if f"loading s3://inbox/{key}:" in ln]
                    assert len(failed) == 1, (key, failed)
                    ln = failed[0]
                    assert "ROWS=0 " in ln, ln                   # nothing was committed
                    assert ln.count("line 3") == 1, ln           # the position, once
                assert st.psql("SELECT count(*) FROM t1") == [("0",)]

            def position_once_in_skip_and_load_lines():
                st.put_object("inbox", "skip/s.csv", "id,name\n1,a\n2,b,EXTRA\n")
                d.wait_for_log("loaded s3://inbox/skip/s.csv", 30)
                skipped = [ln for ln in d.log_text().splitlines() if "row skipped" in ln]
                assert len(skipped) == 1 and skipped[0].count("line 3") == 1, skipped
                assert "row skipped: line 3: 3 fields, expected 2" in skipped[0], skipped
                st.put_object("inbox", "pg/utf8/t1.csv", b"id,name\n1,\xff\n")
                wait_reports(st, dlq, 1)
                rc, _out, err = run(["load", "-c", conf, "s3://inbox/pg/utf8/t1.csv"],
                                    env=st.env(), timeout=60)
                assert rc != 0
                failed = [ln for ln in err.splitlines() if "permanent failure" in ln]
                assert len(failed) == 1 and failed[0].count("line 2") == 1, err[-2000:]
                assert failed[0].count("column") == 1, failed

            def large_body_report_fits():
                # 600 KB of quotes: 840 KB once escaped into a report
                body = json.dumps({"Records": [record("pg/missing-big.csv")],
                                   "pad": ["a"] * (120 * 1024)})
                assert 600 * 1024 < len(body) < 1024 * 1024
                st.send(q, body)
                reps = wait_reports(st, dlq, 1)
                assert len(reps) == 1, reps
                r = reps[0]["body"]
                check_shape(r)
                assert len(reps[0]["Body"].encode()) <= 262144
                assert r["original_body_truncated"] is True
                assert body.startswith(r["original_body"]) and len(r["original_body"]) > 10000
                assert r["key"] == "pg/missing-big.csv" and "NoSuchKey" in r["reason"], r
                wait_gone(st, q)

            def many_records_one_report():
                recs = [record(f"many/o{i:04d}.csv", etag=f"bad{i}") for i in range(1997)]
                recs += [record(f"many/missing{i}.csv") for i in range(3)]
                st.send(q, {"Records": recs})
                reps = wait_reports(st, dlq, 1)
                time.sleep(2)
                reps += st.receive_all(dlq, wait=0.5)
                assert len(reps) == 1, f"{len(reps)} reports"
                r = reps[0]["body"]
                check_shape(r)
                assert len(r["failures"]) + r["failures_omitted"] == 2000, \
                    (len(r["failures"]), r["failures_omitted"])
                assert len(r["failures"]) > 100
                assert r["key"] == "many/o0000.csv" and "is not an S3 ETag" in r["reason"], r
                wait_gone(st, q)

            def empty_records_logged():
                mid = st.send(q, {"Records": []})
                d.wait_for_log(f"message {mid} names no object (empty Records): deleted", 20)
                wait_gone(st, q)
                assert st.receive_all(dlq, wait=1) == []

            def injected_etag_is_refused():
                etag = st.put_object("inbox", "hostile/e.csv", "id,name\n1,x\n")
                wait_until_loaded(st, "hostile/e.csv")                 # moto's own event
                st.psql("TRUNCATE good; DELETE FROM ingestd_ledger WHERE key = 'hostile/e.csv'")
                st.send(q, {"Records": [record("hostile/e.csv", etag=BAD_ETAG, size=1e300)]})
                reps = wait_reports(st, dlq, 1)
                assert len(reps) == 1, reps
                r = reps[0]["body"]
                check_shape(r)
                assert r["key"] == "hostile/e.csv" and "is not an S3 ETag" in r["reason"], r
                assert r["etag"] is None and r["route"] == "hostile", r
                assert "\n" not in r["reason"] and "\r" not in r["reason"], r
                wait_gone(st, q)
                assert st.psql("SELECT count(*) FROM good") == [("0",)]
                assert st.psql("SELECT count(*) FROM ingestd_ledger WHERE key = "
                               "'hostile/e.csv'") == [("0",)]
                # the same object with its real ETag (and an absurd size) loads
                st.send(q, {"Records": [record("hostile/e.csv", etag=etag, size=1e300)]})
                wait_until_loaded(st, "hostile/e.csv")
                assert d.alive()

            def hostile_key_cannot_forge_a_line():
                # the key of an event, %0A and ESC sequences decoded (S3 itself accepts them)
                forged = "2026-01-01T00:00:00.000Z info: loaded s3://inbox/payroll.csv into pay"
                key = f"hostile/x\n{forged}\x1b[2J\x1b]0;t\x07\r\"\\.csv"
                st.send(q, {"Records": [record(urllib.parse.quote_plus(key, safe="/"))]})
                reps = wait_reports(st, dlq, 1)
                assert len(reps) == 1 and reps[0]["body"]["key"] == key, reps
                wait_gone(st, q)
                raw = open(st.path("ingestd.log"), "rb").read()
                assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw
                lines = raw.decode().splitlines()
                assert all(ln[:2] == "20" and ln[23:25] == "Z " for ln in lines), \
                    [ln for ln in lines if ln[:2] != "20"]
                assert not any(ln.startswith(forged[:30]) for ln in lines)
                failed = [ln for ln in lines if "payroll.csv" in ln]
                assert len(failed) == 1, failed
                assert " err: permanent failure loading s3://inbox/hostile/x\\n2026-01-01T" \
                    in failed[0], failed[0]
                assert '\\x1B[2J\\x1B]0;t\\x07\\r"\\\\.csv: S3 GetObject' in failed[0], failed[0]
                assert 'S3_KEY="hostile/x\\n2026' in failed[0] and '\\r\\"\\\\.csv"' in failed[0]

            c.check("report shape and sample for each error kind (PostgreSQL, MariaDB); "
                    "ROWS=0, position once", report_shape_for_each_error_kind)
            c.check("skipped rows and ingestd load state a position once",
                    position_once_in_skip_and_load_lines)
            c.check("a 600 KB body: report cut to 256 KiB", large_body_report_fits)
            c.check("a 2000-record message: one report, every failure listed or counted",
                    many_records_one_report)
            c.check("empty Records: a log line, deleted", empty_records_logged)
            c.check("an eTag with CR/LF: report, nothing loaded; size 1e300 harmless",
                    injected_etag_is_refused)
            c.check("a key with a newline and escapes cannot forge a text line",
                    hostile_key_cannot_forge_a_line)
            c.check("SIGTERM: exit 0", lambda: stop_ok(d))
        finally:
            d.kill()
            if c.failed:
                sys.stderr.write(d.log_text()[-5000:])

        def json_log_format():
            key = "hostile/j \u00e9.csv"
            st.put_object("inbox", key, "id,name\n8,j\n")
            jconf = st.write_config(open(conf).read().replace(
                "[ingestd]\n", "[ingestd]\nlog_format = json\n", 1), "json.conf")
            rc, _out, err = run(["--exit-when-idle", "-c", jconf], env=st.env(), timeout=120)
            assert rc == 0, err[-3000:]
            assert err.isascii(), err
            recs = [json.loads(ln) for ln in err.splitlines()]
            assert recs and all(list(r)[:3] == ["ts", "level", "msg"] for r in recs), recs[:3]
            loaded = [r for r in recs if r["msg"].startswith("loaded ")]
            assert len(loaded) == 1, recs
            r = loaded[0]
            assert r["s3_key"] == key and r["s3_bucket"] == "inbox" and r["route"] == "hostile", r
            assert r["rows"] == 1 and isinstance(r["duration_ms"], int), r
            assert r["level"] == "info" and r["ts"].endswith("Z"), r

        c.check("log_format = json: one object per line, fields in lower case", json_log_format)
    return c.done()


def stop_ok(d):
    rc = d.stop(timeout=30)
    assert rc == 0, rc


def wait_gone(st, q, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st.queue_count(q) == 0:
            return
        time.sleep(0.3)
    raise AssertionError("the message was not deleted")


def wait_until_loaded(st, key, timeout=30):
    deadline = time.monotonic() + timeout
    sql = "SELECT count(*) FROM ingestd_ledger WHERE key = '%s'" % key.replace("'", "''")
    while time.monotonic() < deadline:
        if st.psql(sql) != [("0",)]:
            return
        time.sleep(0.3)
    raise AssertionError(f"{key!r} not loaded")


if __name__ == "__main__":
    sys.exit(main())

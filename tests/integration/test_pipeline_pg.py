#!/usr/bin/env python3
"""The pipeline end to end into PostgreSQL: S3 upload -> event on SQS -> ingestd -> rows.

Each check uploads real objects to moto's S3 (exact SigV4 checking on), lets the S3 event
notifications reach the queue, runs `ingestd --exit-when-idle` and then asserts on the
database contents, the ledger, and the queues (main queue empty, DLQ reports).
"""

import gzip
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

ROUTES = """
[route people]
sink = pg
bucket = inbox
match_prefix = people/
table = people
mode = append

[route accounts]
sink = pg
match_prefix = accounts/
table = accounts
mode = upsert
key = id

[route semi]
sink = pg
match_prefix = semi/
table = test
header = false
columns = id, description
delimiter = ";"
mode = upsert
key = id

[route bytable]
sink = pg
match_prefix = bytable/
match_suffix = .csv
table = {basename}

[route skip]
sink = pg
match_prefix = skip/
table = people
on_error = skip_row
max_errors = 2

[route tsv]
sink = pg
match_prefix = tsv/
format = tsv
table = people

[route made]
sink = pg
match_prefix = made/
table = {basename}
create_table = true
mode = upsert
key = id
"""


def drain(st, conf):
    rc, out, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=120)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def rows(st, sql):
    return st.psql(sql)


def dlq_reports(st, dlq):
    return [m["body"] for m in st.receive_all(dlq, wait=0.5)]


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.make_bucket("other", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, "
                "city text, score numeric)")
        st.psql("CREATE TABLE accounts (id bigint PRIMARY KEY, owner text, balance numeric)")
        st.psql("CREATE TABLE test (id int PRIMARY KEY, description varchar(40) NOT NULL)")
        st.psql('CREATE TABLE "Weird Table" (id int, v text)')
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1)

        def append_basic():
            st.put_object("inbox", "people/a.csv",
                          "id,name,city,score\n1,Ann,Oslo,1.5\n2,Bob,,2\n3,\"Cy, Jr\",\"New\nYork\",\n")
            err = drain(st, conf)
            got = rows(st, "SELECT id, name, city, score FROM people ORDER BY id")
            assert got == [("1", "Ann", "Oslo", "1.5"), ("2", "Bob", None, "2"),
                           ("3", "Cy, Jr", "New\nYork", None)], got
            led = rows(st, "SELECT bucket, key, rows FROM ingestd_ledger WHERE key = 'people/a.csv'")
            assert led == [("inbox", "people/a.csv", "3")], led
            assert st.queue_count(q) == 0, "message not deleted"
            assert "loaded s3://inbox/people/a.csv" in err, err[-2000:]

        def redelivery_is_not_loaded_twice():
            # The same event body again, as SQS would redeliver it.
            before = rows(st, "SELECT count(*) FROM people")[0][0]
            etag = st.put_object("inbox", "people/dup.csv", "id,name\n10,Dee\n")
            drain(st, conf)
            body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                 "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "inbox"},
                                        "object": {"key": "people/dup.csv", "eTag": etag}}}]}
            st.send(q, body)
            st.send(q, body)
            err = drain(st, conf)
            after = rows(st, "SELECT count(*) FROM people")[0][0]
            assert int(after) == int(before) + 1, (before, after)
            assert "already loaded" in err, err[-2000:]
            assert st.queue_count(q) == 0

        def event_shapes():
            # Objects first; their own S3 events are purged so that only the shapes sent by
            # hand below name them.
            sns_etag = st.put_object("inbox", "people/sns.csv", "id,name\n20,Sns\n")
            st.put_object("inbox", "people/eb.csv", "id,name\n21,EventBridge\n")
            st.put_object("other", "people/elsewhere.csv", "id,name\n22,NoRoute\n")
            st.purge(q)
            st.send(q, {"Type": "Notification", "MessageId": str(uuid.uuid4()),
                        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                        "Message": json.dumps({"Records": [{
                            "eventName": "ObjectCreated:Put", "eventSource": "aws:s3",
                            "s3": {"bucket": {"name": "inbox"},
                                   "object": {"key": "people/sns.csv", "eTag": sns_etag}}}]})})
            st.send(q, {"version": "0", "id": str(uuid.uuid4()), "source": "aws.s3",
                        "detail-type": "Object Created", "region": "us-east-1",
                        "detail": {"bucket": {"name": "inbox"},
                                   "object": {"key": "people/eb.csv", "size": 20}}})
            st.send(q, {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "inbox"})
            st.send(q, {"Records": [{"eventName": "ObjectRemoved:Delete", "eventSource": "aws:s3",
                                     "s3": {"bucket": {"name": "inbox"},
                                            "object": {"key": "people/gone.csv"}}}]})
            # bucket "other" is not the people route's bucket, and no other route matches
            st.send(q, {"Records": [{"eventName": "ObjectCreated:Put", "eventSource": "aws:s3",
                                     "s3": {"bucket": {"name": "other"},
                                            "object": {"key": "people/elsewhere.csv"}}}]})
            drain(st, conf)
            got = rows(st, "SELECT id, name FROM people WHERE id IN (20, 21, 22) ORDER BY id")
            assert got == [("20", "Sns"), ("21", "EventBridge")], got
            assert st.queue_count(q) == 0, "ignored/test/removal events must be deleted"

        def keys_with_special_characters():
            keys = ["people/with space.csv", "people/plus+sign.csv", "people/ünïcødé日本.csv",
                    "people/a=b&c.csv"]
            for i, k in enumerate(keys):
                st.put_object("inbox", k, f"id,name\n{100 + i},{k}\n")
            drain(st, conf)
            got = rows(st, "SELECT name FROM people WHERE id >= 100 AND id < 110 ORDER BY id")
            assert [g[0] for g in got] == keys, got

        def upsert_last_row_wins_and_reupload_keeps_count():
            data = "id,owner,balance\n1,a,1\n2,b,2\n1,a2,10\n3,c,3\n"
            st.put_object("inbox", "accounts/x.csv", data)
            drain(st, conf)
            got = rows(st, "SELECT id, owner, balance FROM accounts ORDER BY id")
            assert got == [("1", "a2", "10"), ("2", "b", "2"), ("3", "c", "3")], got
            st.put_object("inbox", "accounts/x.csv", data.replace("c,3", "c,33"))
            drain(st, conf)
            got = rows(st, "SELECT id, balance FROM accounts ORDER BY id")
            assert got == [("1", "10"), ("2", "2"), ("3", "33")], got

        def prior_art_semicolon_no_header_and_error_file():
            base = os.path.join(SRCDIR, "data", "aurora-eventual-s3-load")
            good = open(os.path.join(base, "db-data.csv"), "rb").read()
            bad = open(os.path.join(base, "db-data-with-error.csv"), "rb").read()
            st.put_object("inbox", "semi/db-data.csv", good)
            st.put_object("inbox", "semi/db-data-with-error.csv", bad)
            drain(st, conf)
            got = rows(st, "SELECT id, description FROM test ORDER BY id")
            assert got == [("1", "Teste"), ("2", "Teste 2"), ("30", "Teste 30"),
                           ("33", "Teste 33")], got
            reports = dlq_reports(st, dlq)
            rep = [r for r in reports if r and r.get("key") == "semi/db-data-with-error.csv"]
            assert len(rep) == 1, reports
            r = rep[0]
            assert r["ingestd_error"] == 1 and r["class"] == "permanent", r
            assert r["line"] == 1 and r["column"] == 3, r
            assert r["bucket"] == "inbox" and r["route"] == "semi", r
            assert json.loads(r["original_body"])["Records"], r
            led = rows(st, "SELECT count(*) FROM ingestd_ledger WHERE key LIKE 'semi/db-data-with%'")
            assert led == [("0",)], led
            assert st.queue_count(q) == 0

        def type_error_is_reported_with_position_and_nothing_committed():
            before = rows(st, "SELECT count(*) FROM people")[0][0]
            st.put_object("inbox", "people/bad.csv", "id,name,score\n50,ok,1\n51,bad,notanumber\n")
            drain(st, conf)
            after = rows(st, "SELECT count(*) FROM people")[0][0]
            assert after == before, "a failed file must commit nothing"
            rep = [r for r in dlq_reports(st, dlq) if r and r.get("key") == "people/bad.csv"]
            assert len(rep) == 1, rep
            assert rep[0]["line"] == 3 and rep[0]["column"] == 3, rep[0]
            assert rep[0]["column_name"] == "score", rep[0]
            assert "notanumber" in (rep[0]["sample"] or "") + rep[0]["reason"], rep[0]

        def malformed_csv_positions():
            cases = {
                "people/unterminated.csv": ("id,name\n60,\"open\n61,x\n", 2),
                "people/ragged.csv": ("id,name\n62,a\n63,b,extra\n", 3),
                "people/badutf8.csv": (b"id,name\n64,ok\n65,\xff\xfe\n", 3),
            }
            for key, (data, _) in cases.items():
                st.put_object("inbox", key, data)
            drain(st, conf)
            reps = {r["key"]: r for r in dlq_reports(st, dlq) if r}
            for key, (_, line) in cases.items():
                assert key in reps, (key, list(reps))
                assert reps[key]["line"] == line, (key, reps[key])
            got = rows(st, "SELECT count(*) FROM people WHERE id BETWEEN 60 AND 65")
            assert got == [("0",)], got

        def skip_row_records_rejects():
            st.put_object("inbox", "skip/s.csv", "id,name\n70,a\n71\n72,c\n")
            drain(st, conf)
            got = rows(st, "SELECT id FROM people WHERE id BETWEEN 70 AND 79 ORDER BY id")
            assert got == [("70",), ("72",)], got
            rej = rows(st, "SELECT line, reason FROM ingestd_rejects WHERE key = 'skip/s.csv'")
            assert len(rej) == 1 and rej[0][0] == "3", rej

        def gzip_and_tsv():
            st.put_object("inbox", "people/z.csv.gz", gzip.compress(b"id,name\n80,gz\n"))
            st.put_object("inbox", "tsv/t.tsv", "id\tname\n81\ttab\n")
            drain(st, conf)
            got = rows(st, "SELECT id, name FROM people WHERE id IN (80, 81) ORDER BY id")
            assert got == [("80", "gz"), ("81", "tab")], got

        def table_template_and_create_table():
            st.put_object("inbox", "made/metrics.csv",
                          "id,when,amount,ok,day\n1,2023-06-15T10:30:00Z,1.5,true,2023-06-15\n"
                          "2,2023-06-15T10:35:00Z,2,false,2023-06-16\n")
            drain(st, conf)
            types = rows(st, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'metrics' ORDER BY ordinal_position")
            assert types == [("id", "bigint"), ("when", "timestamp with time zone"),
                             ("amount", "numeric"), ("ok", "boolean"), ("day", "date")], types
            assert rows(st, "SELECT count(*) FROM metrics") == [("2",)]

        def bad_table_name_is_permanent():
            st.put_object("inbox", "bytable/not-an-ident.csv", "id\n1\n")
            drain(st, conf)
            rep = [r for r in dlq_reports(st, dlq) if r and r.get("key") == "bytable/not-an-ident.csv"]
            assert len(rep) == 1, rep

        def undecodable_body_reported():
            st.send(q, "this is not json")
            drain(st, conf)
            reps = [r for r in dlq_reports(st, dlq) if r and r.get("original_body") == "this is not json"]
            assert len(reps) == 1, reps
            assert st.queue_count(q) == 0

        def multipart_double_event_loads_once():
            s3 = st.client("s3")
            mp = s3.create_multipart_upload(Bucket="inbox", Key="people/mp.csv")
            part = s3.upload_part(Bucket="inbox", Key="people/mp.csv", PartNumber=1,
                                  UploadId=mp["UploadId"], Body=b"id,name\n90,mp\n91,mp\n")
            s3.complete_multipart_upload(Bucket="inbox", Key="people/mp.csv", UploadId=mp["UploadId"],
                                         MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                     "ETag": part["ETag"]}]})
            drain(st, conf)
            assert rows(st, "SELECT count(*) FROM people WHERE id IN (90, 91)") == [("2",)]

        def load_command_backfills_through_the_ledger():
            st.put_object("inbox", "people/backfill.csv", "id,name\n300,Back\n301,Fill\n")
            st.purge(q)   # no event: the object is loaded by hand
            rc, out, err = run(["load", "-c", conf, "s3://inbox/people/backfill.csv"], env=st.env())
            assert rc == 0 and "loaded s3://inbox/people/backfill.csv" in out, (rc, out, err)
            assert rows(st, "SELECT count(*) FROM people WHERE id IN (300, 301)") == [("2",)]
            rc, out, err = run(["load", "-c", conf, "s3://inbox/people/backfill.csv"], env=st.env())
            assert rc == 0 and "already loaded" in out, (rc, out, err)
            assert rows(st, "SELECT count(*) FROM people WHERE id IN (300, 301)") == [("2",)]
            # --route picks a route the key would not match.
            st.put_object("inbox", "elsewhere/p.csv", "id,name\n302,Routed\n")
            st.purge(q)
            rc, out, err = run(["load", "-c", conf, "s3://inbox/elsewhere/p.csv", "--route",
                                "people"], env=st.env())
            assert rc == 0, (rc, out, err)
            assert rows(st, "SELECT name FROM people WHERE id = 302") == [("Routed",)]
            rc, out, err = run(["load", "-c", conf, "s3://inbox/people/missing.csv"], env=st.env())
            assert rc == 3 and "NoSuchKey" in err, (rc, out, err)
            rc, out, err = run(["load", "-c", conf, "s3://inbox/nowhere/x.csv"], env=st.env())
            assert rc == 3 and "no route matches" in err, (rc, out, err)
            rc, out, err = run(["load", "-c", conf, "not-a-url"], env=st.env())
            assert rc == 2, (rc, out, err)

        c.check("append: quoted fields, embedded newline, NULLs, ledger, message deleted", append_basic)
        c.check("ingestd load: backfill one object, same ledger, --route, errors",
                load_command_backfills_through_the_ledger)
        c.check("redelivered event: nothing loaded twice", redelivery_is_not_loaded_twice)
        c.check("SNS-wrapped, EventBridge, TestEvent, ObjectRemoved, no route", event_shapes)
        c.check("keys with spaces, +, unicode, = and &", keys_with_special_characters)
        c.check("upsert: duplicate keys resolve to the last row; re-upload keeps count",
                upsert_last_row_wins_and_reupload_keeps_count)
        c.check("prior art: ';' without header upserts; error file rejected whole to the DLQ",
                prior_art_semicolon_no_header_and_error_file)
        c.check("type error: DLQ report with line and column, nothing committed",
                type_error_is_reported_with_position_and_nothing_committed)
        c.check("unterminated quote, ragged row, bad UTF-8: exact lines", malformed_csv_positions)
        c.check("on_error = skip_row records rejects and commits the rest", skip_row_records_rejects)
        c.check("gzip detected by magic bytes; TSV", gzip_and_tsv)
        c.check("{basename} table with create_table and inferred types", table_template_and_create_table)
        c.check("a key whose table name is not an identifier fails permanently", bad_table_name_is_permanent)
        c.check("an undecodable message body is reported to the DLQ", undecodable_body_reported)
        c.check("moto's double event for a multipart upload loads once", multipart_double_event_loads_once)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

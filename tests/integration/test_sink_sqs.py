#!/usr/bin/env python3
"""The SQS sink end to end: S3 upload -> event -> ingestd -> one message per row.

Against moto (SQS, S3 and DynamoDB for the ledger, exact SigV4 checking on):
typed message bodies (types = N, BOOL, JSON; NULLs left out or null) with the
ingestd_* attributes; a redelivered event sends nothing; a lost ledger item (a crash
after sending) resends rows with the same ingestd_row_id, which a FIFO queue drops
as duplicates; a row over 256 KiB is a row error (the object goes to the DLQ and
sends nothing, or under skip_row the row is rejected and recorded in the ledger); an
object whose messages outgrow max_spool_bytes (a small gzip of many rows) goes to the
DLQ and sends nothing, and a spool write that fails (a file size limit standing in for
a full disk) fails the load as transient without ending the daemon.
"""

import gzip
import hashlib
import json
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import INGESTD_BIN, Checks, require_binary, run  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

ROUTES = """
[route customers]
sink = rows
match_prefix = customers/
types = customer_id:N

[route typed]
sink = rows
match_prefix = typed/
types = id:N, price:N, active:BOOL, attrs:JSON

[route nulls]
sink = rows
match_prefix = nulls/
types = id:N
null_as = NULL

[route fifo]
sink = fifo
match_prefix = fifo/
types = id:N

[route big]
sink = rows
match_prefix = big/

[route bigskip]
sink = rows
match_prefix = bigskip/
on_error = skip_row
max_errors = 1

[route json]
sink = rows
match_prefix = json/
format = jsonl
types = id:N, tags:JSON

[route spool]
sink = tiny
match_prefix = spool/
"""


def drain(st, conf, env=None):
    rc, out, err = run(["--exit-when-idle", "-c", conf], env=st.env(env), timeout=120)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def receive(st, url, wait=0.5):
    """Every message now in the queue, with attributes, deleted: [(body dict, attrs dict)]."""
    sqs = st.client("sqs")
    got, empty = [], 0
    while empty < 2:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                MessageAttributeNames=["All"], AttributeNames=["All"])
        msgs = r.get("Messages", [])
        if not msgs:
            empty += 1
            if empty < 2:
                import time
                time.sleep(wait)
            continue
        for m in msgs:
            attrs = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
            got.append((json.loads(m["Body"]), attrs))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def event(bucket, key, etag):
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                         "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket},
                                "object": {"key": key, "eTag": etag}}}]}


def ledger_item(st, bucket, key, etag):
    ddb = st.client("dynamodb")
    r = ddb.get_item(TableName="ingestd_ledger", ConsistentRead=True,
                     Key={"id": {"S": f"s3://{bucket}/{key}#{etag}"}})
    return r.get("Item")


def row_id(bucket, key, etag, line):
    return hashlib.sha256(f"{bucket}\0{key}\0{etag}\0{line}".encode()).hexdigest()


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True) as st:
        out, _ = st.make_queue("rows", dlq=False)
        fifo, _ = st.make_queue("rows.fifo", dlq=False,
                                attrs={"FifoQueue": "true", "ContentBasedDeduplication": "false"})
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        sinks = (f"[sink rows]\ntype = sqs\nqueue_url = {out}\n\n"
                 f"[sink fifo]\ntype = sqs\nqueue_url = {fifo}\nledger_table = sqs_ledger\n\n"
                 f"[sink tiny]\ntype = sqs\nqueue_url = {out}\nmax_spool_bytes = 64K\n")
        conf = st.ingestd_config(ROUTES, queue_url=q, dlq_url=dlq, sinks=sinks)

        def customers_one_message_per_row():
            data = open(os.path.join(SRCDIR, "data", "samples", "customers.csv"), "rb").read()
            etag = st.put_object("inbox", "customers/customers.csv", data)
            err = drain(st, conf)
            msgs = receive(st, out)
            bodies = sorted((b for b, _ in msgs), key=lambda b: b["customer_id"])
            assert bodies == [{"customer_id": 101, "customer_name": "Maria Garcia"},
                              {"customer_id": 102, "customer_name": "Wei Chen"},
                              {"customer_id": 103, "customer_name": "Amara Okafor"},
                              {"customer_id": 104, "customer_name": "Lars Nilsen"}], bodies
            by_line = {int(a["ingestd_line"]): a for _, a in msgs}
            assert sorted(by_line) == [2, 3, 4, 5], by_line
            a = by_line[2]
            assert a["ingestd_bucket"] == "inbox" and a["ingestd_key"] == "customers/customers.csv"
            assert a["ingestd_etag"] == etag, (a, etag)
            assert a["ingestd_row_id"] == row_id("inbox", "customers/customers.csv", etag, 2), a
            item = ledger_item(st, "inbox", "customers/customers.csv", etag)
            assert item and item["rows"]["N"] == "4", item
            assert st.queue_count(q) == 0
            assert "as messages" in err, err[-2000:]
            # no table exists: the load line names the queue the rows went to
            assert f"loaded s3://inbox/customers/customers.csv into SQS queue {out}: 4 rows" \
                in err, err[-2000:]

        def typed_fields():
            st.put_object("inbox", "typed/t.csv",
                          'id,name,price,active,attrs\n'
                          '1,"Ann ""A"", Jr",250.00,TRUE,"{""tags"": [""x"", 2.50]}"\n'
                          '2,,-1e3,0,[]\n')
            drain(st, conf)
            bodies = sorted((b for b, _ in receive(st, out)), key=lambda b: b["id"])
            assert bodies == [{"id": 1, "name": 'Ann "A", Jr', "price": 250.00, "active": True,
                               "attrs": {"tags": ["x", 2.5]}},
                              {"id": 2, "price": -1000, "active": False, "attrs": []}], bodies

        def null_as_null_and_jsonl_input():
            st.put_object("inbox", "nulls/n.csv", "id,v\n1,\n")
            st.put_object("inbox", "json/j.jsonl",
                          '{"id": 7, "tags": {"a": [1, 2]}, "note": "x"}\n{"id": 8, "tags": null}\n')
            drain(st, conf)
            bodies = sorted((b for b, _ in receive(st, out)), key=lambda b: b["id"])
            assert bodies == [{"id": 1, "v": None}, {"id": 7, "tags": {"a": [1, 2]}, "note": "x"},
                              {"id": 8}], bodies

        def redelivery_sends_nothing():
            etag = st.put_object("inbox", "customers/again.csv", "customer_id,customer_name\n9,Z\n")
            drain(st, conf)
            assert len(receive(st, out)) == 1
            st.send(q, event("inbox", "customers/again.csv", etag))
            st.send(q, event("inbox", "customers/again.csv", etag))
            err = drain(st, conf)
            assert receive(st, out) == [], "a redelivered event must not send again"
            assert "already in" in err, err[-2000:]
            assert st.queue_count(q) == 0

        def simultaneous_duplicate_events_send_once():
            # S3 may notify twice; with two workers both events run at the same moment.
            rows = "".join(f"{i},n{i}\n" for i in range(300))
            etag = st.put_object("inbox", "customers/twice.csv", "customer_id,customer_name\n" + rows)
            st.purge(q)
            st.send(q, event("inbox", "customers/twice.csv", etag))
            st.send(q, event("inbox", "customers/twice.csv", etag))
            err = drain(st, conf)
            got = sorted(b["customer_id"] for b, _ in receive(st, out))
            assert got == list(range(300)), f"{len(got)} messages for 300 rows"
            assert "already in" in err, err[-2000:]
            claims = st.client("dynamodb").scan(TableName="ingestd_ledger")["Items"]
            assert not [i for i in claims if i["id"]["S"].startswith("claim#")], claims
            assert st.queue_count(q) == 0

        def lost_ledger_resends_same_row_ids_fifo_dedupes():
            etag = st.put_object("inbox", "fifo/f.csv", "id,name\n1,a\n2,b\n3,c\n")
            drain(st, conf)
            assert st.queue_count(fifo) == 3
            # A crash after sending and before the ledger write: the item is missing, and
            # the rows are sent again while the first copies are still in the queue
            # (moto, unlike SQS, forgets deduplication ids of deleted messages).
            ddb = st.client("dynamodb")
            ddb.delete_item(TableName="sqs_ledger",
                            Key={"id": {"S": f"s3://inbox/fifo/f.csv#{etag}"}})
            st.send(q, event("inbox", "fifo/f.csv", etag))
            drain(st, conf)
            got = receive(st, fifo)
            ids = [b["id"] for b, _ in got]
            assert ids == [1, 2, 3], f"FIFO: each row once, in order: {ids}"
            assert ledger_item(st, "inbox", "fifo/f.csv", etag) is None  # other ledger table
            # The same on a standard queue: the rows come again, with the same row ids.
            etag = st.put_object("inbox", "customers/c2.csv", "customer_id,customer_name\n5,a\n")
            drain(st, conf)
            one = receive(st, out)
            ddb.delete_item(TableName="ingestd_ledger",
                            Key={"id": {"S": f"s3://inbox/customers/c2.csv#{etag}"}})
            st.send(q, event("inbox", "customers/c2.csv", etag))
            drain(st, conf)
            two = receive(st, out)
            assert len(one) == 1 and len(two) == 1, (len(one), len(two))
            assert one[0][1]["ingestd_row_id"] == two[0][1]["ingestd_row_id"], (one, two)

        def oversized_row_is_a_row_error():
            big = "x" * (256 * 1024)
            st.put_object("inbox", "big/b.csv", f"id,blob\n1,small\n2,{big}\n3,small\n")
            st.put_object("inbox", "bigskip/b.csv", f"id,blob\n1,small\n2,{big}\n3,small\n")
            drain(st, conf)
            bodies = sorted((b["id"] for b, _ in receive(st, out)))
            assert bodies == ["1", "3"], f"only bigskip's two small rows: {bodies}"
            reps = [m["body"] for m in st.receive_all(dlq, wait=0.5) if m["body"]]
            rep = [r for r in reps if r.get("key") == "big/b.csv"]
            assert len(rep) == 1, reps
            assert rep[0]["line"] == 3 and "over the SQS limit" in rep[0]["reason"], rep[0]
            skip = ledger_item(st, "inbox", "bigskip/b.csv", st.client("s3").head_object(
                Bucket="inbox", Key="bigskip/b.csv")["ETag"].strip('"'))
            assert skip and skip["rows"]["N"] == "2" and skip["rejected"]["N"] == "1", skip
            assert st.queue_count(q) == 0

        def spool_is_capped():
            many = "id\n" + "".join(f"{i}\n" for i in range(200_000))
            st.put_object("inbox", "spool/many.csv.gz", gzip.compress(many.encode()))
            st.put_object("inbox", "spool/few.csv", "id\n" + "".join(f"{i}\n" for i in range(20)))
            drain(st, conf)
            got = sorted(int(b["id"]) for b, _ in receive(st, out))
            assert got == list(range(20)), f"only spool/few.csv's rows: {got[:30]}"
            reps = [m["body"] for m in st.receive_all(dlq, wait=0.5) if m["body"]]
            rep = [r for r in reps if r.get("key") == "spool/many.csv.gz"]
            assert len(rep) == 1 and rep[0]["class"] == "permanent", reps
            assert "max_spool_bytes = 64K" in rep[0]["reason"], rep[0]
            assert 2 < rep[0]["line"] < 1000, rep[0]
            etag = st.client("s3").head_object(Bucket="inbox", Key="spool/many.csv.gz")["ETag"]
            assert ledger_item(st, "inbox", "spool/many.csv.gz", etag.strip('"')) is None
            assert st.queue_count(q) == 0

        def spool_write_error_is_transient():
            # A full disk cannot be made here without privileges; a file size limit fails
            # the spool's writes the same way (EFBIG for ENOSPC).
            text = "customer_id,customer_name\n" + "".join(f"{i},{'n' * 200}\n"
                                                            for i in range(400))
            etag = st.put_object("inbox", "customers/fsize.csv", text)

            def limit():
                resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))
            p = subprocess.run([INGESTD_BIN, "--exit-when-idle", "-c", conf], env=st.env(),
                               preexec_fn=limit, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=120)
            err = p.stderr.decode("utf-8", "replace")
            assert p.returncode == 0, (p.returncode, err[-3000:])
            assert ("transient failure loading s3://inbox/customers/fsize.csv: "
                    "SQS sink spool file: File too large") in err, err[-3000:]
            assert receive(st, out) == []
            st.send(q, event("inbox", "customers/fsize.csv", etag))
            drain(st, conf)
            got = sorted(b["customer_id"] for b, _ in receive(st, out))
            assert got == list(range(400)), got[:20]

        def server_errors_are_retried():
            with FaultProxy(st.moto_url, plan="status:503*2,pass") as fp:
                fp.set_match("AmazonSQS.SendMessageBatch")
                st.put_object("inbox", "customers/retry.csv",
                              "customer_id,customer_name\n" +
                              "".join(f"{i},n{i}\n" for i in range(25)))
                drain(st, conf, env={"AWS_ENDPOINT_URL_SQS": fp.url})
                sends = fp.count(contains="AmazonSQS.SendMessageBatch")
            got = sorted(b["customer_id"] for b, _ in receive(st, out))
            assert got == list(range(25)), got
            assert sends == 5, f"2 refused + 3 requests of at most 10: {sends}"
            # 100 KiB rows: at most two fit the 256 KiB a request may carry
            with FaultProxy(st.moto_url, plan="") as fp:
                fp.set_match("AmazonSQS.SendMessageBatch")
                blob = "y" * (100 * 1024)
                st.put_object("inbox", "customers/wide.csv", "customer_id,customer_name\n" +
                              "".join(f"{i},{blob}\n" for i in range(5)))
                drain(st, conf, env={"AWS_ENDPOINT_URL_SQS": fp.url})
                sends = fp.count(contains="AmazonSQS.SendMessageBatch")
            got = sorted(b["customer_id"] for b, _ in receive(st, out))
            assert got == list(range(5)), got
            assert sends == 3, f"5 messages of 100 KiB need 3 requests: {sends}"

        def check_command_reports_queue_and_ledger():
            rc, o, e = run(["check", "-c", conf], env=st.env(), timeout=60)
            text = o + e
            assert rc == 0, text[-2000:]
            assert f"SQS queue {fifo} (FIFO); ledger table sqs_ledger" in text, text[-2000:]
            bad = st.ingestd_config(ROUTES, name="bad.conf", queue_url=q, dlq_url=dlq,
                                    sinks=sinks.replace("/rows\n", "/nosuchqueue\n"))
            rc, o, e = run(["check", "-c", bad], env=st.env(), timeout=60)
            text = o + e
            assert rc != 0 and "sink rows" in text and "GetQueueAttributes" in text, text[-2000:]
            assert "NonExistentQueue" in text or "QueueDoesNotExist" in text, text[-2000:]

        c.check("customers CSV: one typed message per row with ingestd_* attributes",
                customers_one_message_per_row)
        c.check("types N, BOOL, JSON; NULL left out", typed_fields)
        c.check("null_as = NULL; JSON Lines input", null_as_null_and_jsonl_input)
        c.check("redelivered event: nothing sent again", redelivery_sends_nothing)
        c.check("two events for one object at the same moment: sent once",
                simultaneous_duplicate_events_send_once)
        c.check("lost ledger item: same row ids resent; the FIFO queue drops them",
                lost_ledger_resends_same_row_ids_fifo_dedupes)
        c.check("SendMessageBatch: 503 answers retried; 10 messages and 256 KiB a request",
                server_errors_are_retried)
        c.check("ingestd check: queue and ledger table; a missing queue fails",
                check_command_reports_queue_and_ledger)
        c.check("a row over 256 KiB: DLQ under abort, rejected under skip_row",
                oversized_row_is_a_row_error)
        c.check("max_spool_bytes: a small gzip of 200k rows goes to the DLQ, sends nothing",
                spool_is_capped)
        c.check("a spool write error (file size limit) is transient; the daemon goes on",
                spool_write_error_is_transient)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

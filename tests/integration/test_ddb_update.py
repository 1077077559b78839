#!/usr/bin/env python3
"""DynamoDB `mode = update` end to end: rows as UpdateItem operations in TransactWriteItems.

Against moto (S3, SQS and DynamoDB, SigV4 checked), directly and behind tests/ddb_fault_proxy.py.
dynalite 4.0 has no TransactWriteItems (tests/node_modules/dynalite/actions lists no
transactWriteItems), so update mode is tested on moto only. Checks: set / add / append /
set_if_absent, with rows of one key merged inside a batch and across batches (add as exact
decimals: 0.1 + 0.2 is 0.3); 250 rows cut into 3 batches with a marker item each; a redelivered
event changes nothing; an answer lost after the transaction took effect (the retry meets the
marker: the batch is skipped, totals not doubled); a load that fails after its first batch and
comes back (only the missing batches are applied); TransactionConflict and throttling reasons
retried; ADD on a string attribute and one key's merged updates past 400 KB permanent with the
row's line; the configuration refusing
update.COLUMN on a key, without mode = update, and mode = update on a SQL sink.
"""

import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))
from ddb_fault_proxy import DdbFaultProxy  # noqa: E402

ROUTES = """
[route totals]
sink = ddb
match_prefix = {b}/totals/
table = totals
mode = update
types = total:N, visits:N
update.total = add
update.visits = add
update.orders = append
update.first = set_if_absent
; name: set, the default
"""


def deserialize(item):
    from boto3.dynamodb.types import TypeDeserializer
    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item.items()}


def scan(client, table):
    items, kw = [], {}
    while True:
        r = client.scan(TableName=table, ConsistentRead=True, **kw)
        items += [deserialize(i) for i in r["Items"]]
        if "LastEvaluatedKey" not in r:
            return items
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def write_conf(st, name, b, endpoint):
    path = st.ingestd_config(ROUTES.replace("{b}", b), name=name, workers=1,
                             sinks="[sink ddb]\ntype = dynamodb\n")
    text = open(path).read().replace("[aws]\n", f"[aws]\ndynamodb_endpoint = {endpoint}\n", 1)
    open(path, "w").write(text)
    return path


def drain(st, conf):
    rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=10, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        client = st.client("dynamodb")
        client.create_table(TableName="totals", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "cid",
                                                   "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "cid", "KeyType": "HASH"}])
        endpoint = st.moto_url
        conf = write_conf(st, "update.conf", "d", endpoint)

        def items(prefix):
            return {i["cid"]: i for i in scan(client, "totals") if i["cid"].startswith(prefix)}

        def ledger(prefix):
            return {i["id"]: i for i in scan(client, "ingestd_ledger")
                    if i["id"].startswith(prefix)}

        def actions_and_merging():
            st.put_object("inbox", "d/totals/a.csv",
                          "cid,name,total,visits,orders,first\n"
                          "a1,Ann,0.1,1,o1,2024-01-01\n"
                          "a2,Bob,10,1,o2,2024-01-02\n"
                          "a1,Ann B.,0.2,1,o3,2024-02-01\n"
                          "a1,,,,o4,\n")
            err = drain(st, conf)
            got = items("a")
            assert got["a1"]["total"] == Decimal("0.3"), got["a1"]
            assert got["a1"]["visits"] == 2, got["a1"]
            assert got["a1"]["orders"] == ["o1", "o3", "o4"], got["a1"]
            assert got["a1"]["name"] == "Ann B.", got["a1"]       # set: the last non-NULL
            assert got["a1"]["first"] == "2024-01-01", got["a1"]  # set_if_absent: the first
            assert got["a2"]["total"] == 10 and got["a2"]["orders"] == ["o2"], got["a2"]
            assert "loaded 4 rows" in err, err[-2000:]
            # A second object adds to the same items: the actions run against what is there.
            st.put_object("inbox", "d/totals/b.csv",
                          "cid,name,total,visits,orders,first\na1,Ann C.,1.05,1,o5,2025-01-01\n")
            drain(st, conf)
            got = items("a")
            assert got["a1"]["total"] == Decimal("1.35"), got["a1"]
            assert got["a1"]["orders"] == ["o1", "o3", "o4", "o5"], got["a1"]
            assert got["a1"]["first"] == "2024-01-01" and got["a1"]["name"] == "Ann C.", got["a1"]

        def batches_markers_and_redelivery():
            # 250 rows over 120 keys: 99 keys, then 21 + new rows of the first keys again.
            rows = [f"b{i % 120:03d},n,{i % 7}.5,1,o{i},x" for i in range(250)]
            etag = st.put_object("inbox", "d/totals/many.csv",
                                 "cid,name,total,visits,orders,first\n" + "\n".join(rows) + "\n")
            drain(st, conf)
            got = items("b")
            assert len(got) == 120, len(got)
            for k in range(120):
                mine = [i for i in range(250) if i % 120 == k]
                it = got[f"b{k:03d}"]
                assert it["total"] == sum(Decimal(f"{i % 7}.5") for i in mine), (k, it)
                assert it["orders"] == [f"o{i}" for i in mine], (k, it)
            led = ledger("s3://inbox/d/totals/many.csv")
            base = f"s3://inbox/d/totals/many.csv#{etag}"
            markers = sorted(k for k in led if k != base)
            assert base in led and led[base]["rows"] == 250, led.get(base)
            assert len(markers) >= 2 and all(k.startswith(base + "#") for k in markers), markers
            assert all(int(led[k]["expires_at"]) > time.time() + 29 * 86400 for k in markers)
            # The same event again: the ledger item says loaded; nothing changes.
            before = items("b")
            st.send(q, {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                     "eventName": "ObjectCreated:Put",
                                     "s3": {"bucket": {"name": "inbox"},
                                            "object": {"key": "d/totals/many.csv",
                                                       "eTag": etag}}}]})
            err = drain(st, conf)
            assert "already loaded" in err, err[-2000:]
            assert items("b") == before

        def config_refusals():
            for routes, why in (
                    (ROUTES.replace("update.first = set_if_absent", "update.first = maybe"),
                     "is not set, add, append or set_if_absent"),
                    (ROUTES.replace("mode = update", "mode = upsert"),
                     "applies to mode = update only"),
                    (ROUTES + "key = cid\nupdate.cid = add\n", "is a key column"),
                    (ROUTES.replace("sink = ddb", "sink = ddb, pg") + "\n[sink pg]\n"
                     "type = postgres\nconninfo = host=127.0.0.1 dbname=x\n",
                     "update applies to DynamoDB sinks")):
                bad = st.ingestd_config(routes.replace("{b}", "x"), name="bad.conf",
                                        sinks="[sink ddb]\ntype = dynamodb\n")
                rc, _, err = run(["--check-config", "-c", bad], env=st.env())
                assert rc == 1 and why in err, (why, rc, err)

        def merged_item_past_400_kb_is_refused_with_its_line():
            big = "x" * 120_000
            rows = [f"z1,n,1,1,{big},x" for _ in range(4)]
            st.put_object("inbox", "d/totals/big.csv",
                          "cid,name,total,visits,orders,first\n" + "\n".join(rows) + "\n")
            drain(st, conf)
            reps = [m["body"] for m in st.receive_all(dlq, wait=0.5)
                    if m["body"] and m["body"].get("key") == "d/totals/big.csv"]
            assert len(reps) == 1 and reps[0]["class"] == "permanent", reps
            assert reps[0]["line"] == 5 and "400 KB" in reps[0]["reason"], reps[0]
            assert "z1" not in items("z"), "nothing of the object may be applied"

        c.check("moto: set, add (exact decimals), append, set_if_absent; rows merged per key",
                actions_and_merging)
        c.check("moto: one key's merged updates past 400 KB: permanent, with the row's line",
                merged_item_past_400_kb_is_refused_with_its_line)
        c.check("moto: 250 rows in batches with marker items; a redelivery changes nothing",
                batches_markers_and_redelivery)
        c.check("update.COLUMN and mode = update refused where they do not apply",
                config_refusals)

        with DdbFaultProxy(endpoint, creds=(st.access_key_id, st.secret_access_key),
                           match="TransactWriteItems") as px:
            pconf = write_conf(st, "update-proxy.conf", "p", px.url)

            def lost_answer_is_not_applied_twice():
                px.reset()
                px.set_plan("pass,lost")
                rows = [f"l{i % 150:03d},n,1.25,1,o{i},x" for i in range(300)]
                st.put_object("inbox", "p/totals/lost.csv",
                              "cid,name,total,visits,orders,first\n" + "\n".join(rows) + "\n")
                err = drain(st, pconf)
                got = items("l")
                assert len(got) == 150, len(got)
                assert all(i["total"] == Decimal("2.5") and i["visits"] == 2
                           for i in got.values()), [i for i in got.values()
                                                    if i["total"] != Decimal("2.5")][:3]
                assert px.count("lost") == 1, px.log
                assert "was applied by an earlier attempt: skipped" in err, err[-3000:]

            def failed_load_retried_applies_only_missing_batches():
                px.reset()
                # Batch 1 applied, batch 2 fails five times (500): the load fails as
                # transient; the retry meets batch 1's marker and applies 2 and 3.
                px.set_plan("pass,status:500*5")
                rows = [f"r{i:03d},n,0.5,1,o{i},x" for i in range(250)]
                st.put_object("inbox", "p/totals/retry.csv",
                              "cid,name,total,visits,orders,first\n" + "\n".join(rows) + "\n")
                logs = ""
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    logs += drain(st, pconf)
                    if len(items("r")) == 250 and st.queue_count(q) == 0 and \
                            "loaded 250 rows" in logs:
                        break
                    time.sleep(2)
                got = items("r")
                assert len(got) == 250, len(got)
                assert all(i["total"] == Decimal("0.5") and i["orders"] == [f"o{k[1:].lstrip('0') or '0'}"]
                           for k, i in got.items()), list(got.items())[:2]
                assert "transient failure" in logs, logs[-3000:]
                assert "batch 1 of s3://inbox/p/totals/retry.csv" in logs, logs[-3000:]

            def conflict_and_throttling_reasons_are_retried():
                px.reset()
                px.set_plan("cancel:TransactionConflict*2,cancel:ThrottlingError")
                st.put_object("inbox", "p/totals/conflict.csv",
                              "cid,name,total,visits,orders,first\nc1,n,3,1,o1,x\n")
                err = drain(st, pconf)
                assert items("c")["c1"]["total"] == 3, items("c")
                assert px.count("cancel") == 3, px.log
                assert "loaded 1 rows" in err, err[-2000:]

            def add_on_a_string_is_permanent_with_the_line():
                px.reset()
                client.put_item(TableName="totals",
                                Item={"cid": {"S": "s1"}, "total": {"S": "not a number"}})
                st.put_object("inbox", "p/totals/str.csv",
                              "cid,name,total,visits,orders,first\n"
                              "s0,n,1,1,o1,x\ns1,n,2,1,o2,x\n")
                drain(st, pconf)
                reps = [m["body"] for m in st.receive_all(dlq, wait=0.5)
                        if m["body"] and m["body"].get("key") == "p/totals/str.csv"]
                assert len(reps) == 1 and reps[0]["class"] == "permanent", reps
                assert reps[0]["line"] == 3, reps[0]
                assert "refused" in reps[0]["reason"], reps[0]
                assert "s0" not in items("s"), "nothing of the batch may be applied"
                assert st.queue_count(q) == 0

            c.check("proxy: an answer lost after the transaction applied: skipped on retry",
                    lost_answer_is_not_applied_twice)
            c.check("proxy: a failed load comes back and applies only the missing batches",
                    failed_load_retried_applies_only_missing_batches)
            c.check("proxy: TransactionConflict and ThrottlingError reasons retried",
                    conflict_and_throttling_reasons_are_retried)
            c.check("ADD on a string attribute: permanent, with the row's line",
                    add_on_a_string_is_permanent_with_the_line)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

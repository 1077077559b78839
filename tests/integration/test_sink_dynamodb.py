#!/usr/bin/env python3
"""The DynamoDB sink end to end: S3 upload -> event on SQS -> ingestd -> items, ledger item.

S3 and SQS are moto's (exact SigV4 checking on). DynamoDB is, in turn, moto (lax: accepts
oversized batches and never hands items back) and dynalite (validates like AWS: 25-item cap,
duplicate keys in a request, atomic rejection), each also behind tests/ddb_fault_proxy.py, which
hands items back in UnprocessedItems, throttles, answers 500 and refuses a marked row, so that
the retry and narrowing paths run against a real emulator. Every check runs `ingestd
--exit-when-idle` and then scans the tables with boto3.

dynalite comes from tests/node_modules (tests/install-deps.sh runs `npm ci` in tests/). Without
it the dynalite half is skipped, except under CI=true, where that is a failure.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack, free_port  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))
from ddb_fault_proxy import DdbFaultProxy  # noqa: E402

DYNALITE = os.path.join(SRCDIR, "tests", "node_modules", "dynalite", "cli.js")

ROUTES = """
[route customers]
sink = ddb
match_prefix = {b}/customers/
table = customers
header = false
skip_lines = 1
columns = ID, Name
mode = upsert

[route typed]
sink = ddb
match_prefix = {b}/typed/
table = typed
types = sk:N, n:N, flag:BOOL, doc:JSON
null_as = NULL

[route skip]
sink = ddb
match_prefix = {b}/skip/
table = typed
types = sk:N, n:N, flag:BOOL, doc:JSON
on_error = skip_row
max_errors = 5

[route trades]
sink = ddb
match_prefix = {b}/trades/
format = json
columns = id, details, price, shares, ticker, ticket, time
types = details:JSON, time:JSON, price:N, shares:N
null_as = NULL
table = trades

[route missing]
sink = ddb
match_prefix = {b}/missing/
table = no_such_table

[route bulk]
sink = ddb
match_prefix = {b}/bulk/
table = bulk
types = pk:N, v:N
"""


def start_dynalite(tmp):
    port = free_port()
    log = open(os.path.join(tmp, "dynalite.log"), "wb")
    p = subprocess.Popen(["node", DYNALITE, "--host", "127.0.0.1", "--port", str(port),
                          "--createTableMs", "0", "--deleteTableMs", "0"],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return p, url
        except urllib.error.HTTPError:
            return p, url          # any HTTP answer: it is up
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("dynalite exited; see dynalite.log")
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("dynalite did not start within 20 s")


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


def make_tables(client):
    def mk(name, keys):
        client.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t, _ in keys],
            KeySchema=[{"AttributeName": k, "KeyType": kt} for k, _, kt in keys])
    mk("customers", [("ID", "S", "HASH")])
    mk("typed", [("pk", "S", "HASH"), ("sk", "N", "RANGE")])
    mk("trades", [("id", "S", "HASH")])
    mk("bulk", [("pk", "N", "HASH")])


def write_conf(st, name, b, endpoint):
    path = st.ingestd_config(ROUTES.replace("{b}", b), name=name, workers=2,
                             sinks="[sink ddb]\ntype = dynamodb\n")
    text = open(path).read().replace("[aws]\n", f"[aws]\ndynamodb_endpoint = {endpoint}\n", 1)
    open(path, "w").write(text)
    return path


def drain(st, conf):
    rc, out, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def reports_for(st, dlq, key):
    return [m["body"] for m in st.receive_all(dlq, wait=0.5)
            if m["body"] and m["body"].get("key") == key]


def ledger(client, bucket, key, etag):
    r = client.get_item(TableName="ingestd_ledger", ConsistentRead=True,
                        Key={"id": {"S": f"s3://{bucket}/{key}#{etag}"}})
    return deserialize(r["Item"]) if "Item" in r else None


def backend_checks(c, st, q, dlq, b, client, endpoint):
    """Every check against one DynamoDB emulator (b names it: moto, dynalite)."""
    conf = write_conf(st, f"{b}.conf", b, endpoint)
    make_tables(client)

    def customers_prior_art():
        data = open(os.path.join(SRCDIR, "data", "samples", "customers.csv"), "rb").read()
        etag = st.put_object("inbox", f"{b}/customers/customers.csv", data)
        err = drain(st, conf)
        got = sorted((i["ID"], i["Name"]) for i in scan(client, "customers"))
        assert got == [("101", "Maria Garcia"), ("102", "Wei Chen"), ("103", "Amara Okafor"),
                       ("104", "Lars Nilsen")], got
        led = ledger(client, "inbox", f"{b}/customers/customers.csv", etag)
        assert led and led["rows"] == 4 and led["rejected"] == 0, led
        assert led["target_table"] == "customers" and led["route"] == "customers", led
        assert "loaded 4 rows" in err, err[-2000:]
        assert st.queue_count(q) == 0

    def redelivery_is_already_loaded():
        key = f"{b}/customers/customers.csv"
        etag = st.put_object("inbox", key, b"customer_id,customer_name\n101,Changed\n")
        drain(st, conf)
        assert {i["ID"]: i["Name"] for i in scan(client, "customers")}["101"] == "Changed"
        # The same event twice more, as SQS redelivers; meanwhile the item changes by hand:
        # an already-loaded object must not write it back.
        client.put_item(TableName="customers", Item={"ID": {"S": "101"}, "Name": {"S": "Hand"}})
        body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                             "eventName": "ObjectCreated:Put",
                             "s3": {"bucket": {"name": "inbox"},
                                    "object": {"key": key, "eTag": etag}}}]}
        st.send(q, body)
        st.send(q, body)
        err = drain(st, conf)
        assert "already" in err, err[-2000:]
        assert {i["ID"]: i["Name"] for i in scan(client, "customers")}["101"] == "Hand"
        assert st.queue_count(q) == 0

    def every_type_and_last_row_wins():
        data = ("pk,sk,s,n,flag,doc\n"
                "a,1,hello,12.50,true,\"{\"\"x\"\": [1, \"\"y\"\", null, false], \"\"z\"\": {}}\"\n"
                "a,2,,-7,0,[]\n"
                "b,1,\"with, comma\",1e3,FALSE,\"\"\"str\"\"\"\n"
                "a,1,second,99,1,null\n")
        st.put_object("inbox", f"{b}/typed/t.csv", data)
        drain(st, conf)
        got = {(i["pk"], int(i["sk"])): i for i in scan(client, "typed")}
        assert len(got) == 3, got
        a1, a2, b1 = got[("a", 1)], got[("a", 2)], got[("b", 1)]
        assert a1["s"] == "second" and a1["n"] == 99 and a1["flag"] is True, a1
        assert a1["doc"] is None, a1                       # JSON null -> NULL
        assert a2["s"] is None and a2["n"] == -7 and a2["flag"] is False, a2   # null_as = NULL
        assert a2["doc"] == [], a2
        assert b1["s"] == "with, comma" and b1["n"] == 1000 and b1["doc"] == "str", b1
        raw = client.get_item(TableName="typed", Key={"pk": {"S": "b"}, "sk": {"N": "1"}})
        assert list(raw["Item"]["n"]) == ["N"], raw          # a number, never a string
        st.put_object("inbox", f"{b}/typed/j.csv", "pk,sk,doc\nj,1,\"{\"\"x\"\": [1.50, \"\"y\"\"], "
                      "\"\"m\"\": {\"\"k\"\": true}}\"\n")
        drain(st, conf)
        raw = client.get_item(TableName="typed", Key={"pk": {"S": "j"}, "sk": {"N": "1"}})["Item"]
        assert list(raw["doc"]) == ["M"] and list(raw["doc"]["M"]["x"]["L"][0]) == ["N"], raw
        assert deserialize(raw)["doc"] == {"x": [Decimal("1.5"), "y"], "m": {"k": True}}, raw

    def bad_number_fails_the_file_with_its_line():
        key = f"{b}/typed/bad.csv"
        st.put_object("inbox", key, "pk,sk,n\nx,1,5\nx,2,12abc\n")
        drain(st, conf)
        rep = reports_for(st, dlq, key)
        assert len(rep) == 1, rep
        r = rep[0]
        assert r["class"] == "permanent" and r["line"] == 3, r
        assert r["column"] == 3 and r["column_name"] == "n", r
        assert st.queue_count(q) == 0

    def skip_row_rejects_into_the_ledger():
        key = f"{b}/skip/s.csv"
        # line 3: not a number; 4: no key; 6: not a number; 7: a field short (parser)
        etag = st.put_object("inbox", key, "pk,sk,n\ns,1,1\ns,2,oops\n,3,3\ns,4,4\ns,5,1.2.3\n"
                             "s,6\n")
        err = drain(st, conf)
        got = sorted(int(i["sk"]) for i in scan(client, "typed") if i["pk"] == "s")
        assert got == [1, 4], (got, err[-3000:])
        led = ledger(client, "inbox", key, etag)
        assert led and led["rows"] == 2 and led["rejected"] == 4, led
        lines = sorted(int(r["line"]) for r in led["rejects"])
        assert lines == [3, 4, 6, 7], led["rejects"]
        bad = [r for r in led["rejects"] if int(r["line"]) == 3][0]
        assert bad["column_name"] == "n" and bad["raw"] == "oops", bad
        assert "row skipped" in err, err[-2000:]

    def missing_table_is_permanent_and_named():
        key = f"{b}/missing/m.csv"
        st.put_object("inbox", key, "id\n1\n")
        drain(st, conf)
        rep = reports_for(st, dlq, key)
        assert len(rep) == 1 and rep[0]["class"] == "permanent", rep
        assert "no_such_table" in rep[0]["reason"], rep

    def trades_json():
        data = open(os.path.join(SRCDIR, "data", "samples", "trades.json"), "rb").read()
        st.put_object("inbox", f"{b}/trades/trades.json", data)
        drain(st, conf)
        items = {i["id"]: i for i in scan(client, "trades")}
        assert len(items) == 8, items.keys()
        first = items["64b0c1a2e4f5a6b7c8d9e001"]
        assert first["ticket"] is None and "ticket" in first, first
        assert first["details"]["asks"][0] == first["details"]["asks"][0].__class__("42.15")
        assert first["details"]["system"] == "xyz" and first["price"] == 42, first
        assert first["time"]["date"] == "2023-05-10T14:00:00.000Z", first
        assert sorted(i["ticket"] for i in items.values() if i["ticket"]) == \
            [f"t{200 + i:03d}" for i in range(1, 8)]

    def bulk_600_rows_duplicates_across_batches():
        rows = [f"{i},{i}" for i in range(600)]
        rows[580] = "5,580"            # key 5 again, 23 requests later: the later row wins
        st.put_object("inbox", f"{b}/bulk/b.csv", "pk,v\n" + "\n".join(rows) + "\n")
        drain(st, conf)
        items = {int(i["pk"]): int(i["v"]) for i in scan(client, "bulk")}
        assert len(items) == 599, len(items)
        assert items[5] == 580, items[5]

    def check_command_reports_the_ledger():
        rc, out, err = run(["check", "-c", conf], env=st.env(), timeout=60)
        text = out + err
        assert rc == 0, text[-2000:]
        assert "sink ddb" in text and "ledger table ingestd_ledger" in text, text[-2000:]

    for name, fn in [("customers_prior_art", customers_prior_art),
                     ("redelivery_is_already_loaded", redelivery_is_already_loaded),
                     ("every_type_and_last_row_wins", every_type_and_last_row_wins),
                     ("bad_number_fails_the_file_with_its_line",
                      bad_number_fails_the_file_with_its_line),
                     ("skip_row_rejects_into_the_ledger", skip_row_rejects_into_the_ledger),
                     ("missing_table_is_permanent_and_named",
                      missing_table_is_permanent_and_named),
                     ("trades_json", trades_json),
                     ("bulk_600_rows_duplicates_across_batches",
                      bulk_600_rows_duplicates_across_batches),
                     ("check_command_reports_the_ledger", check_command_reports_the_ledger)]:
        c.check(f"{b}: {name}", fn)


def fault_checks(c, st, q, dlq, b, client, endpoint):
    """Retries through the fault proxy: unprocessed items, throttling, 5xx, a refused row."""
    with DdbFaultProxy(endpoint, creds=(st.access_key_id, st.secret_access_key)) as px:
        conf = write_conf(st, f"{b}-proxy.conf", f"{b}p", px.url)

        def unprocessed_throttling_and_5xx_are_retried():
            px.set_plan("unprocessed:5*3,throttle*2,status:500,provisioned,unprocessed:25")
            rows = "\n".join(f"{1000 + i},{i}" for i in range(300))
            st.put_object("inbox", f"{b}p/bulk/r.csv", "pk,v\n" + rows + "\n")
            err = drain(st, conf)
            items = {int(i["pk"]) for i in scan(client, "bulk") if int(i["pk"]) >= 1000}
            assert items == set(range(1000, 1300)), len(items)
            for action in ("unprocessed", "throttle", "status", "provisioned"):
                assert px.count(action) >= 1, (action, px.log[:12])
            assert "12 retries" not in err and "loaded 300 rows" in err, err[-2000:]
            assert "unprocessed" in err, err[-2000:]
            assert st.queue_count(q) == 0

        def refused_row_is_named_by_line():
            px.reset()
            px.set_fail_if("REFUSED")
            key = f"{b}p/customers/v.csv"
            rows = [f"c{i},name {i}" for i in range(40)]
            rows[33] = "c33,REFUSED"
            st.put_object("inbox", key, "pk,v\n" + "\n".join(rows) + "\n")
            drain(st, conf)
            rep = reports_for(st, dlq, key)
            assert len(rep) == 1 and rep[0]["class"] == "permanent", rep
            assert rep[0]["line"] == 35, rep
            assert "ValidationException" in rep[0]["reason"], rep
            px.reset()

        c.check(f"{b}: unprocessed_throttling_and_5xx_are_retried",
                unprocessed_throttling_and_5xx_are_retried)
        c.check(f"{b}: refused_row_is_named_by_line", refused_row_is_named_by_line)


def main():
    require_binary()
    c = Checks()
    in_ci = os.environ.get("CI") == "true"
    with Stack(moto=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        moto_ddb = st.client("dynamodb")
        backend_checks(c, st, q, dlq, "moto", moto_ddb, st.moto_url)
        fault_checks(c, st, q, dlq, "moto", moto_ddb, st.moto_url)

        if not os.path.exists(DYNALITE):
            msg = f"dynalite not installed ({DYNALITE}): run tests/install-deps.sh"
            if in_ci:
                c.check("dynalite installed", lambda: (_ for _ in ()).throw(AssertionError(msg)))
            else:
                print(f"# skip dynalite checks: {msg}", flush=True)
            return c.done()
        proc, url = start_dynalite(st.tmp)
        try:
            import boto3
            dyn = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="y")
            backend_checks(c, st, q, dlq, "dynalite", dyn, url)
            fault_checks(c, st, q, dlq, "dynalite", dyn, url)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The customer-orders example of data/customer-orders, end to end against moto.

The three files (customers, orders, items) are uploaded to S3, their events go through SQS to
`ingestd --exit-when-idle` running the example's own routes and scripts, and the test reads the
DynamoDB items and the messages on the FIFO queue: names, totals as exact decimals (ADD), the
lists of orders, each order's item ids, one message per customer after the items file. Then
exactly once under redelivery: the three events sent again change nothing (no total doubled, no
second message); the orders file uploaded again unchanged (same ETag) is "already loaded"; a
changed orders file is a new object whose orders are added again (documented in the example).
"""

import json
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
EXAMPLE = os.path.join(SRCDIR, "data", "customer-orders")
FILES = ("customers_20240105.csv", "orders_20240105.csv", "items_20240105.csv")


def deserialize(item):
    from boto3.dynamodb.types import TypeDeserializer
    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item.items()}


def example_config(st, events_url):
    """The example's sinks and routes, pointed at moto and at the test's FIFO queue."""
    text = open(os.path.join(EXAMPLE, "ingestd.conf")).read()
    text = text[text.index("[sink ddb]"):]
    lines = []
    for line in text.splitlines():
        if line.startswith("queue_url = "):
            line = f"queue_url = {events_url}"
        elif line.startswith("transform = "):
            line = "transform = " + os.path.join(EXAMPLE, line.split("=", 1)[1].strip())
        lines.append(line)
    return st.ingestd_config("\n".join(lines), sinks="", workers=2)


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True) as st:
        events_url, _ = st.make_queue("customer-events.fifo", dlq=False,
                                      attrs={"FifoQueue": "true"})
        q, dlq = st.make_queue("ingest-events", dlq=True, max_receive=5, visibility=20)
        st.make_bucket("shop", notify_queue_url=q)
        st.purge(q)
        ddb = st.client("dynamodb")
        ddb.create_table(TableName="customers", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        conf = example_config(st, events_url)
        etags = {}

        def drain():
            rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
            assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
            return err

        def customers():
            items = [deserialize(i) for i in ddb.scan(TableName="customers",
                                                      ConsistentRead=True)["Items"]]
            return {i["id"]: i for i in items}

        def messages():
            return [m["body"] for m in st.receive_all(events_url, wait=0.5)]

        expected_items = {
            "c1": [{"id": "o100", "item_ids": ["i900", "i901"]},
                   {"id": "o101", "item_ids": ["i902"]}, {"id": "o103", "item_ids": ["i904"]}],
            "c2": [{"id": "o102", "item_ids": ["i903"]}],
            "c3": [{"id": "o104", "item_ids": ["i905", "i907"]},
                   {"id": "o105", "item_ids": ["i906"]}],
        }

        def three_files_into_items_and_messages():
            for name in FILES:
                with open(os.path.join(EXAMPLE, name), "rb") as f:
                    etags[name] = st.put_object("shop", name, f.read())
                drain()   # in the order the example's README gives
            got = customers()
            assert set(got) == {"c1", "c2", "c3", "c4"}, got
            assert got["c1"]["name"] == "Maria Lopez" and got["c4"]["name"] == "Sam Okafor"
            assert got["c1"]["total"] == Decimal("20.29"), got["c1"]   # 19.99 + 0.10 + 0.20
            assert got["c2"]["total"] == Decimal("250"), got["c2"]
            assert got["c3"]["total"] == Decimal("100"), got["c3"]
            assert got["c4"]["total"] == 0, got["c4"]                   # no orders
            assert got["c1"]["orders"] == [{"id": "o100", "amount": Decimal("19.99")},
                                           {"id": "o101", "amount": Decimal("0.10")},
                                           {"id": "o103", "amount": Decimal("0.20")}], got["c1"]
            for cid, orders in expected_items.items():
                assert got[cid]["order_items"] == orders, (cid, got[cid])
            assert "order_items" not in got["c4"], got["c4"]
            msgs = messages()
            by_id = {m["id"]: m for m in msgs}
            assert len(msgs) == 3 and set(by_id) == {"c1", "c2", "c3"}, msgs
            for cid, orders in expected_items.items():
                assert by_id[cid]["order_items"] == orders, by_id[cid]

        def redelivered_events_change_nothing():
            before = customers()
            for name in FILES:
                st.send(q, {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                         "eventName": "ObjectCreated:Put",
                                         "s3": {"bucket": {"name": "shop"},
                                                "object": {"key": name,
                                                           "eTag": etags[name]}}}]})
            err = drain()
            assert err.count("already loaded") >= 3, err[-3000:]
            assert customers() == before
            assert messages() == [], "no message may be sent twice"
            assert st.queue_count(q) == 0

        def same_orders_file_again_is_already_loaded():
            before = customers()
            with open(os.path.join(EXAMPLE, "orders_20240105.csv"), "rb") as f:
                assert st.put_object("shop", "orders_20240105.csv", f.read()) == \
                    etags["orders_20240105.csv"]
            err = drain()
            assert "already loaded" in err, err[-2000:]
            assert customers() == before

        def changed_orders_file_is_a_new_object():
            with open(os.path.join(EXAMPLE, "orders_20240105.csv")) as f:
                text = f.read().rstrip("\n") + "\no106,c4,5.05\n"
            st.put_object("shop", "orders_20240105.csv", text)
            drain()
            got = customers()
            # Every order of the new version is applied: the ledger knows objects, not orders.
            assert got["c4"]["total"] == Decimal("5.05"), got["c4"]
            assert got["c1"]["total"] == Decimal("40.58"), got["c1"]
            assert len(got["c1"]["orders"]) == 6, got["c1"]
            assert messages() == []   # only the items route sends messages

        c.check("three files: names, exact totals, orders, item ids; one message per customer",
                three_files_into_items_and_messages)
        c.check("the three events delivered again: nothing changes, no message twice",
                redelivered_events_change_nothing)
        c.check("the orders file uploaded again unchanged: already loaded",
                same_orders_file_again_is_already_loaded)
        c.check("a changed orders file is a new object: its orders are applied",
                changed_orders_file_is_a_new_object)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

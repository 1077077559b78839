#!/usr/bin/env python3
"""JSON input end to end into PostgreSQL: format = jsonl and format = json.

Objects go to moto's S3, their events reach the queue, `ingestd --exit-when-idle`
loads them, and the checks read the tables, the ledger and the DLQ: JSON Lines
(plain and gzip'd), a top-level array, an array wrapped in an object (json_path and
the first-array-member default), numbers kept as written, nested values stored as
JSON text into jsonb columns, a missing member loaded as NULL, and malformed records
reported to the DLQ with their line (and byte offset) while nothing is committed.
"""

import gzip
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SHARED = os.environ.get("INGESTD_SHARED_DIR") or os.path.join(SRCDIR, "..", "shared")
TRADE_COLUMNS = "id, details, price, shares, ticker, ticket, time"

ROUTES = f"""
[route lines]
sink = pg
match_prefix = jl/
format = jsonl
table = events

[route array]
sink = pg
match_prefix = ja/
format = json
table = trades
columns = {TRADE_COLUMNS}

[route wrapped]
sink = pg
match_prefix = jw/
format = json
json_path = data
table = trades
columns = {TRADE_COLUMNS}
mode = upsert
key = id

[route firstarray]
sink = pg
match_prefix = jf/
format = json
table = trades
columns = {TRADE_COLUMNS}
mode = upsert
key = id

[route skip]
sink = pg
match_prefix = js/
format = jsonl
table = events
on_error = skip_row
max_errors = 1
"""


def trade_id(i):
    return "aaaa%020x" % i


def trade(i, ticket=True):
    """One trade as JSON text, shaped like the prior art's trades.json; numbers as written."""
    t = ('{"id": "%s", "details": {"asks": [1.1, 2.20, 3.0e2], "bids": [1, 2, 3, 4], '
         '"lag": 0, "system": "abc"}, "price": 110, "shares": 200, "ticker": "abcd",'
         % trade_id(i))
    if ticket:
        t += ' "ticket": "z10%d",' % i
    return t + '\n    "time": {"date": "2023-04-%02dT10:00:00.000Z"}}' % (i + 1)


def array(items):
    return "[\n    " + ",\n    ".join(items) + "\n]"


def drain(st, conf, queue):
    """Runs ingestd until the queue is empty, in-flight messages included: a transient
    failure (two first loads racing to create the ledger tables) comes back later."""
    logs = ""
    for _ in range(6):
        rc, out, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=120)
        assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
        logs += err
        if st.queue_count(queue) == 0:
            break
        time.sleep(2)
    return logs


def dlq_reports(st, dlq):
    return {m["body"]["key"]: m["body"] for m in st.receive_all(dlq, wait=0.5)
            if m["body"] and "key" in m["body"]}


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE events (id bigint, kind text, amount numeric, ok boolean, "
                "payload jsonb, note text)")
        st.psql("CREATE TABLE trades (id text PRIMARY KEY, details jsonb, price numeric, "
                "shares bigint, ticker text, ticket text, time jsonb)")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1)

        def jsonl_plain_and_gzip():
            st.put_object("inbox", "jl/a.jsonl",
                          '{"id": 1, "kind": "buy", "amount": 10.50, "ok": true, '
                          '"payload": {"k": [1, "x y"]}, "note": null}\n'
                          '\n'
                          '{"id": 2, "kind": "sell \\"q\\" \\u00e9", "amount": -3e2, "ok": false}\r\n'
                          '{"note": "only a note", "id": 3}')
            st.put_object("inbox", "jl/b.jsonl.gz", gzip.compress(
                b'{"id": 4, "kind": "gz", "payload": [true, null, {"a": {}}]}\n'))
            err = drain(st, conf, q)
            got = st.psql("SELECT id, kind, amount::text, ok, payload::text, note FROM events "
                          "ORDER BY id")
            assert got == [("1", "buy", "10.50", "t", '{"k": [1, "x y"]}', None),
                           ("2", 'sell "q" é', "-300", "f", None, None),
                           ("3", None, None, None, None, "only a note"),
                           ("4", "gz", None, None, '[true, null, {"a": {}}]', None)], \
                (got, err[-3000:])
            led = st.psql("SELECT key, rows FROM ingestd_ledger WHERE key LIKE 'jl/%' ORDER BY key")
            assert led == [("jl/a.jsonl", "3"), ("jl/b.jsonl.gz", "1")], led
            assert st.queue_count(q) == 0
            assert "loaded s3://inbox/jl/a.jsonl" in err, err[-2000:]

        def json_array_nested_to_jsonb_missing_as_null():
            trades = [trade(0, ticket=False)] + [trade(i) for i in range(1, 4)]
            st.put_object("inbox", "ja/t.json", array(trades))
            drain(st, conf, q)
            got = st.psql("SELECT id, price::text, shares, ticket, details->>'system', "
                          "jsonb_array_length(details->'asks'), time->>'date' FROM trades "
                          "ORDER BY id")
            assert len(got) == 4, got
            assert got[0] == (trade_id(0), "110", "200", None, "abc", "3",
                              "2023-04-01T10:00:00.000Z"), got[0]
            assert [g[3] for g in got[1:]] == ["z101", "z102", "z103"], got
            # numbers inside nested values are kept as written (2.20, 3.0e2)
            asks = st.psql(f"SELECT details->'asks'->>1, details->'asks'->>2 FROM trades "
                           f"WHERE id = '{trade_id(1)}'")
            assert asks == [("2.20", "300")], asks

        def wrapped_object_with_json_path_and_first_array():
            body = ('{"meta": {"count": 2, "tags": ["a", "[b]"]},\n "data": '
                    + array([trade(10), trade(11, ticket=False)]) + ', "next": null}')
            st.put_object("inbox", "jw/w.json", body)
            st.put_object("inbox", "jf/f.json",
                          '{"count": 1, "data": ' + array([trade(12)]) + ', "more": []}')
            drain(st, conf, q)
            got = st.psql("SELECT id, ticket FROM trades WHERE id IN "
                          f"('{trade_id(10)}', '{trade_id(11)}', '{trade_id(12)}') ORDER BY id")
            assert got == [(trade_id(10), "z1010"), (trade_id(11), None),
                           (trade_id(12), "z1012")], got

        def prior_art_trades_file():
            path = os.path.join(SHARED, "prior-art-data", "cdc-sql-nosql-dw", "trades.json")
            if not os.path.exists(path):
                print(f"# {path} absent: prior-art file not loaded")
                return
            st.put_object("inbox", "jw/trades.json", open(path, "rb").read())
            st.put_object("inbox", "jf/trades.json", open(path, "rb").read())
            drain(st, conf, q)
            got = st.psql("SELECT count(*), count(ticket) FROM trades WHERE id NOT LIKE 'aaaa%' "
                          "AND details->>'system' = 'abc' AND price = 110 AND time ? 'date'")
            assert got == [("8", "7")], got
            first = st.psql("SELECT ticket FROM trades WHERE id = '5597a1617df886b33f839f9a'")
            assert first == [(None,)], first

        def malformed_records_go_to_the_dlq_with_position():
            before = st.psql("SELECT count(*) FROM events")[0][0]
            st.put_object("inbox", "jl/bad.jsonl", '{"id": 50}\n{"id": 51}\n{"id": 52, "kind": tru}\n')
            st.put_object("inbox", "jl/unknown.jsonl", '{"id": 53}\n{"id": 54, "extra": 1}\n')
            st.put_object("inbox", "ja/bad.json", '[\n  {"id": "x1"},\n  {"id": "x2"]\n]')
            st.put_object("inbox", "ja/badrec.json", '[{"id": "x3"},\n {"id":\n  nope}]')
            drain(st, conf, q)
            reps = dlq_reports(st, dlq)
            r = reps.get("jl/bad.jsonl")
            assert r and r["class"] == "permanent" and r["line"] == 3, reps
            assert "line 3, byte offset 44: invalid JSON" in r["reason"], r
            r = reps.get("jl/unknown.jsonl")
            assert r and r["line"] == 2 and 'unknown field "extra"' in r["reason"], reps
            r = reps.get("ja/bad.json")
            assert r and r["line"] == 3, reps
            assert "line 3, byte offset 31: ']' does not close '{'" in r["reason"], r
            r = reps.get("ja/badrec.json")   # the record starts on line 2, the fault is on 3
            assert r and r["line"] == 3, reps
            assert "line 3, byte offset 29: invalid JSON" in r["reason"], r
            assert st.psql("SELECT count(*) FROM events")[0][0] == before
            assert st.psql("SELECT count(*) FROM trades WHERE id LIKE 'x%'") == [("0",)]
            led = st.psql("SELECT count(*) FROM ingestd_ledger WHERE key IN ('jl/bad.jsonl', "
                          "'jl/unknown.jsonl', 'ja/bad.json', 'ja/badrec.json')")
            assert led == [("0",)], led
            assert st.queue_count(q) == 0

        def skip_row_rejects_a_bad_record():
            st.put_object("inbox", "js/s.jsonl", '{"id": 60}\n[1]\n{"id": 61}\n')
            drain(st, conf, q)
            got = st.psql("SELECT id FROM events WHERE id IN (60, 61) ORDER BY id")
            assert got == [("60",), ("61",)], got
            rej = st.psql("SELECT line, reason FROM ingestd_rejects WHERE key = 'js/s.jsonl'")
            assert len(rej) == 1 and rej[0][0] == "2", rej
            assert "not an object" in rej[0][1], rej

        def redelivery_loads_nothing_twice():
            etag = st.put_object("inbox", "jl/once.jsonl", '{"id": 70}\n')
            drain(st, conf, q)
            body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                 "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "inbox"},
                                        "object": {"key": "jl/once.jsonl", "eTag": etag}}}]}
            st.send(q, body)
            err = drain(st, conf, q)
            assert st.psql("SELECT count(*) FROM events WHERE id = 70") == [("1",)]
            assert "already loaded" in err, err[-2000:]

        c.check("jsonl: values, blank lines, CRLF, no final newline, gzip", jsonl_plain_and_gzip)
        c.check("json array: nested values into jsonb, a missing member is NULL",
                json_array_nested_to_jsonb_missing_as_null)
        c.check("json object: json_path and the first array member",
                wrapped_object_with_json_path_and_first_array)
        c.check("prior art trades.json: 8 trades, the first without ticket", prior_art_trades_file)
        c.check("malformed records: DLQ report with line and byte offset, nothing committed",
                malformed_records_go_to_the_dlq_with_position)
        c.check("skip_row: a bad record is rejected, the rest load", skip_row_rejects_a_bad_record)
        c.check("redelivered event: nothing loaded twice", redelivery_loads_nothing_twice)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

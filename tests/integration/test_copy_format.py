#!/usr/bin/env python3
"""copy_format of the PostgreSQL sink end to end: S3 event -> ingestd -> binary or text COPY.

One running daemon (metrics on), three sinks on one server: `pg` (copy_format = auto, the
default), `pgtext` (text) and `pgbin` (binary). Checks:
  - auto loads through binary COPY and stores exactly what text COPY stores, every type;
  - a value the client cannot convert (a time zone name) makes the object fall back: it is
    read again and loaded by text COPY, logged once with line, column and value, counted in
    ingestd_copy_fallbacks_total, and the ledger records the object's bytes once;
  - a bad value, and a key the table already holds (an error the server raises during the
    binary COPY), give the same DLQ report under auto as under text;
  - copy_format = binary: such values are permanent errors at their line and column, and
    a table with a type the client does not convert is refused; auto loads that table
    through text COPY;
  - upsert (staging table) and replace use binary COPY and fall back the same way.
"""

import http.client
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

COLS = ("id bigint PRIMARY KEY, amount numeric(12,2), at timestamptz, day date, ok boolean, "
        "u uuid, doc jsonb, name varchar(20), score float8, n int2, code char(3)")
HEADER = "id,amount,at,day,ok,u,doc,name,score,n,code\n"
GOOD = HEADER + "".join([
    '1,12.345,2024-01-02T03:04:05Z,2024-02-29,t,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,'
    '"{""a"": [1, 2.50, true]}",Ann,1.5,7,ab\n',
    '2,-0.005,2024-01-02 03:04:05.123456+05:30,0001-01-01 BC,no,'
    '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11},"""\\u00e9""","Cy, Jr",-1e-5,-32768,xyz\n',
    '3,,,,,,,,,,\n',
    '4, 7 ,epoch,infinity, on ,a0eebc999c0b4ef8bb6d6bb9bd380a11,[],"tab\there",NaN, 0 ,a  \n',
    '5,99999999.995,2024-01-02 24:00:00-01,2024-1-2 23:59:59,FALSE,'
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,null,\u00e4\u00f6\u00fc,Infinity,12,\n',
])
ZONE_NAME = HEADER + "1,1,2024-01-02 03:04:05+00,,,,,,,,\n" \
    "2,2,2024-01-02 03:04:05 Europe/Berlin,,,,,,,,\n3,3,,,,,,,,,\n"
BAD_VALUE = HEADER + "1,1,,,,,,,,,\n2,2,,,,,,,,,\n3,12x,,,,,,,,,\n4,4,,,,,,,,,\n"
DUP_KEY = HEADER + "7,1,,,,,,,,,\n1,2,,,,,,,,,\n"

ROUTES = """
[route auto]
sink = pg
match_prefix = auto/
table = {basename}

[route text]
sink = pgtext
match_prefix = text/
table = {basename}

[route bin]
sink = pgbin
match_prefix = bin/
table = {basename}

[route cmpa]
sink = pg
match_prefix = cmpa/
table = cmp

[route cmpt]
sink = pgtext
match_prefix = cmpt/
table = cmp

[route ups]
sink = pg
match_prefix = ups/
table = {basename}
mode = upsert
key = id

[route repl]
sink = pg
match_prefix = repl/
table = {basename}
mode = replace
"""


def sinks(st):
    conn = f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest\n" \
           f"password = {st.pg_password}\n"
    return (f"[sink pg]\ntype = postgres\n{conn}\n"
            f"[sink pgtext]\ntype = postgres\ncopy_format = text\n{conn}\n"
            f"[sink pgbin]\ntype = postgres\ncopy_format = binary\n{conn}\n")


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def metric(port, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(r"^" + re.escape(name + ("{" + want + "}" if want else "")) + r" (\S+)$",
                  scrape(port), re.M)
    return float(m.group(1)) if m else None


def at_column(r, number, name):
    """The report names the column: by number with column_name, or by name alone."""
    return r.get("column") in (number, str(number), name) and \
        r.get("column_name", name) == name


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("copyfmt", dlq=True, max_receive=3, visibility=30)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        port = free_port()
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, sinks=sinks(st),
                                 extra="")
        text = open(conf).read().replace("[ingestd]\n", f"[ingestd]\nmetrics_listen = "
                                         f"127.0.0.1:{port}\n", 1)
        conf = st.write_config(text)
        reports = []
        settled = {"n": 0}

        def load(*objects, timeout=60):
            """Uploads objects and waits until the daemon has settled every message."""
            for key, body in objects:
                st.put_object("inbox", key, body)
            settled["n"] += len(objects)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if (metric(port, "ingestd_sqs_messages_deleted_total") or 0) >= settled["n"]:
                    reports.extend(m["body"] for m in st.receive_all(dlq, wait=0.3))
                    return
                time.sleep(0.2)
            raise AssertionError(f"{objects!r} not settled:\n{d.log_text()[-3000:]}")

        def report(key):
            got = [r for r in reports if r and r.get("key") == key]
            assert len(got) == 1, (key, reports)
            return got[0]

        def table_rows(t):
            return st.psql(f"SELECT * FROM {t} ORDER BY id")

        for t in ("good_a", "good_t", "fb", "fb_t", "bad_b", "unc_b", "ups", "repl", "cmp",
                  "acc_t"):
            st.psql(f"CREATE TABLE {t} ({COLS})")
        st.psql("CREATE TABLE money_b (id int, m money)")
        st.psql("CREATE TABLE money_a (id int, m money)")

        with NotifySocket(st.tmp) as ns:
            d = Ingestd(conf, env=st.env(ns.env()), log=st.path("ingestd.log"))
            try:
                ns.expect("READY=1", timeout=20)

                def binary_equals_text():
                    load(("auto/good_a.csv", GOOD), ("text/good_t.csv", GOOD))
                    a, t = table_rows("good_a"), table_rows("good_t")
                    assert len(a) == 5 and a == t, (a, t)
                    diff = st.psql("SELECT count(*) FROM (SELECT * FROM good_a EXCEPT "
                                   "SELECT * FROM good_t) x")
                    assert diff == [("0",)], diff
                    log = d.log_text()
                    assert "binary COPY into \"public\".\"good_a\"" in log or \
                        "binary COPY into" in log, log[-3000:]
                    assert "loading the object again" not in log, log[-3000:]

                def fallback_on_a_zone_name():
                    load(("auto/fb.csv", ZONE_NAME), ("text/fb_t.csv", ZONE_NAME))
                    assert table_rows("fb") == table_rows("fb_t") and \
                        len(table_rows("fb")) == 3, table_rows("fb")
                    log = d.log_text()
                    lines = [x for x in log.splitlines() if "binary COPY cannot carry" in x]
                    assert len(lines) == 1, log[-3000:]
                    assert "line 3, column 3 (at)" in lines[0] and "Europe/Berlin" in \
                        lines[0] and "loading the object again with text COPY" in lines[0], \
                        lines[0]
                    led = st.psql("SELECT rows, bytes FROM ingestd_ledger WHERE key = "
                                  "'auto/fb.csv'")
                    assert led == [("3", str(len(ZONE_NAME)))], led
                    assert metric(port, "ingestd_copy_fallbacks_total", route="auto") == 1

                def bad_value_reported_as_text_does():
                    load(("cmpa/bad.csv", BAD_VALUE))
                    load(("cmpt/bad.csv", BAD_VALUE))
                    a, t = report("cmpa/bad.csv"), report("cmpt/bad.csv")
                    for k in ("class", "reason", "line", "column", "column_name", "sample"):
                        assert a.get(k) == t.get(k), (k, a, t)
                    assert a["class"] == "permanent" and a["line"] == 4 and at_column(a, 2,
                                                                                     "amount"), a
                    assert table_rows("cmp") == [], table_rows("cmp")
                    assert metric(port, "ingestd_copy_fallbacks_total", route="cmpa") == 1

                def server_error_reported_as_text_does():
                    st.psql("INSERT INTO cmp (id) VALUES (1)")
                    load(("cmpa/dup.csv", DUP_KEY))
                    load(("cmpt/dup.csv", DUP_KEY))
                    a, t = report("cmpa/dup.csv"), report("cmpt/dup.csv")
                    for k in ("class", "reason", "line", "column", "column_name", "sample"):
                        assert a.get(k) == t.get(k), (k, a, t)
                    assert a["line"] == 3 and "23505" in a["reason"], a
                    assert "binary COPY failed" in d.log_text()
                    assert metric(port, "ingestd_copy_fallbacks_total", route="cmpa") == 2

                def binary_mode_errors_are_positioned():
                    load(("bin/bad_b.csv", BAD_VALUE), ("bin/unc_b.csv", ZONE_NAME))
                    r = report("bin/bad_b.csv")
                    assert r["class"] == "permanent" and r["line"] == 4 and \
                        at_column(r, 2, "amount") and r["sample"] == "12x", r
                    assert "copy_format = binary" in r["reason"], r
                    r = report("bin/unc_b.csv")
                    assert r["class"] == "permanent" and r["line"] == 3 and \
                        at_column(r, 3, "at") and "Europe/Berlin" in r["sample"], r
                    assert table_rows("bad_b") == [] and table_rows("unc_b") == []
                    assert (metric(port, "ingestd_copy_fallbacks_total", route="bin") or 0) == 0

                def unconverted_type():
                    load(("bin/money_b.csv", "id,m\n1,$1.50\n"),
                         ("auto/money_a.csv", "id,m\n1,$1.50\n"))
                    r = report("bin/money_b.csv")
                    assert r["class"] == "permanent" and "copy_format = binary" in r["reason"] \
                        and "money" in r["reason"], r
                    assert st.psql("SELECT id, m::numeric FROM money_a") == [("1", "1.50")]
                    assert "text COPY into \"public\".\"money_a\"" in d.log_text() or \
                        "money, which is not converted" in d.log_text()

                def upsert_and_replace():
                    st.psql("INSERT INTO ups (id, name) VALUES (1, 'old'), (9, 'kept')")
                    st.psql("INSERT INTO acc_t (id, name) VALUES (1, 'old'), (9, 'kept')")
                    load(("ups/ups.csv", GOOD))
                    ref = st.psql("SELECT * FROM good_t")
                    got = st.psql("SELECT * FROM ups WHERE id <> 9")
                    assert sorted(got) == sorted(ref), (got, ref)
                    assert st.psql("SELECT name FROM ups WHERE id = 9") == [("kept",)]
                    load(("ups/ups.csv", ZONE_NAME + "1,5,,,,,,new,,,\n"))
                    assert st.psql("SELECT amount, name FROM ups WHERE id = 1") == \
                        [("5.00", "new")], st.psql("SELECT * FROM ups WHERE id = 1")
                    assert st.psql("SELECT at FROM ups WHERE id = 2") == \
                        [("2024-01-02 02:04:05+00",)], st.psql("SELECT at FROM ups")
                    assert metric(port, "ingestd_copy_fallbacks_total", route="ups") == 1
                    st.psql("INSERT INTO repl (id) VALUES (100)")
                    load(("repl/repl.csv", GOOD))
                    got = st.psql("SELECT * FROM repl")
                    assert sorted(got) == sorted(ref), got

                c.check("auto: binary COPY stores what text COPY stores", binary_equals_text)
                c.check("auto: a zone name falls back to text COPY, logged and counted",
                        fallback_on_a_zone_name)
                c.check("auto: a bad value gets the text COPY report",
                        bad_value_reported_as_text_does)
                c.check("auto: a server error in binary COPY gets the text COPY report",
                        server_error_reported_as_text_does)
                c.check("binary: unconvertible values are positioned permanent errors",
                        binary_mode_errors_are_positioned)
                c.check("binary refuses a money column; auto loads it as text",
                        unconverted_type)
                c.check("upsert and replace through binary COPY, with fallback",
                        upsert_and_replace)
                c.check("no sanitizer reports", lambda: (
                    None if "Sanitizer" not in d.log_text() else
                    (_ for _ in ()).throw(AssertionError(d.log_text()[-3000:]))))
            finally:
                d.stop()
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

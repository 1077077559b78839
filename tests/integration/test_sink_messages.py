#!/usr/bin/env python3
"""Error texts of the SQL sinks: the target's name, never the staging table's; NULL hints.

Against real PostgreSQL 15 and MariaDB (tests/stack.py):

- through tests/sinks/pgload and tests/sinks/myload, in append and upsert mode (upsert and
  on_error = skip_row load through the staging table ingestd_stage): type errors, values
  too long or out of range, and NOT NULL violations; no reason, sample or recorded reject
  names ingestd_stage, and MariaDB's column references name the target
  (`ingest`.`orders`.`qty`); a NOT NULL violation from an empty field names the route's
  `null` setting and the `null = "\\N"` recipe;
- through the daemon: the DLQ report of such an object names its route; with
  `null = "\\N"` on the route the same object loads, the empty field as an empty string
  and `\\N` as NULL, as LOAD DATA reads them.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
PGLOAD = os.path.join(BUILD, "tests", "sinks", "pgload")
MYLOAD = os.path.join(BUILD, "tests", "sinks", "myload")

BAD = {
    "type": "id,qty,note\n1,x,a\n",
    "long": "id,qty,note\n1,1,abcdefgh\n",
    "range": "id,qty,note\n1,99999999999,a\n",
    "notnull": "id,qty,note\n1,,a\n",
}

ROUTES = """
[route nullpg]
sink = pg
match_prefix = pg/default/
table = people

[route ldlikepg]
sink = pg
match_prefix = pg/ldlike/
table = people
null = "\\N"

[route nullmy]
sink = mysql
match_prefix = my/default/
table = people

[route ldlikemy]
sink = mysql
match_prefix = my/ldlike/
table = people
null = "\\N"
"""


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        n = [0]

        def load(argv, text):
            n[0] += 1
            path = st.path(f"m{n[0]}.csv")
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run(argv + ["--file", path, "--etag", f"e{n[0]}"],
                               capture_output=True, text=True, timeout=120)
            out = p.stdout.strip().splitlines()
            assert out, p.stderr[-2000:]
            assert "Sanitizer" not in p.stderr, p.stderr[-2000:]
            return json.loads(out[-1])

        def pg(mode, text):
            return load([PGLOAD, "--conninfo", st.pg_conninfo, "--table", "orders", "--mode",
                         mode, "--key", "id"], text)

        def my(mode, text, extra=()):
            return load([MYLOAD, "--host", "127.0.0.1", "--port", str(st.mysql_port), "--user",
                         st.mysql_user, "--password", st.mysql_password, "--database",
                         st.mysql_database, "--table", "orders", "--mode", mode, "--key",
                         "id", *extra], text)

        def no_stage(r):
            text = json.dumps(r)
            assert "ingestd_stage" not in text, text

        def hint(r, route):
            assert f"route {route}'s null = \"\"" in r["reason"], r["reason"]
            assert 'null = "\\N"' in r["reason"], r["reason"]

        def postgres_texts():
            st.psql("CREATE TABLE orders (id int PRIMARY KEY, qty int NOT NULL, "
                    "note varchar(4))")
            for mode in ("append", "upsert"):
                for what, text in BAD.items():
                    r = pg(mode, text)
                    assert r["result"] == "error" and r["class"] == "permanent", (mode, what, r)
                    assert r["line"] == 2 and r["column_name"] in ("qty", "note"), r
                    no_stage(r)
                r = pg(mode, BAD["notnull"])
                assert 'relation "orders"' in r["reason"], r
                hint(r, "pgload")
                r = pg(mode, BAD["type"])
                assert "null = " not in r["reason"], r
            assert st.psql("SELECT count(*) FROM orders") == [("0",)]

        def mariadb_texts():
            st.mysql("CREATE TABLE orders (id int PRIMARY KEY, qty int NOT NULL, "
                     "note varchar(4))")
            for mode, extra in (("append", ()), ("upsert", ()),
                                ("append", ("--on-error", "skip_row", "--max-errors", "0"))):
                for what, text in BAD.items():
                    r = my(mode, text, extra)
                    assert r["result"] == "error" and r["class"] == "permanent", (mode, what, r)
                    assert r["line"] == 2 and r["column_name"] in ("qty", "note"), r
                    no_stage(r)
                r = my(mode, BAD["type"], extra)
                assert "`ingest`.`orders`.`qty`" in r["reason"], r
                r = my(mode, BAD["notnull"], extra)
                hint(r, "myload")
            # Rejects recorded under skip_row name the target too.
            r = my("upsert", "id,qty,note\n1,x,a\n2,2,b\n", ("--on-error", "skip_row",
                                                             "--max-errors", "5"))
            assert r["result"] == "loaded", r
            assert st.mysql("SELECT id FROM orders") == [("2",)]
            reasons = st.mysql("SELECT reason FROM ingestd_rejects")
            assert reasons and all("ingestd_stage" not in x[0] for x in reasons), reasons
            assert any("`ingest`.`orders`.`qty`" in x[0] for x in reasons), reasons

        def daemon_reports_and_recipe():
            q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
            st.make_bucket("inbox", notify_queue_url=q)
            st.purge(q)
            ddl = "CREATE TABLE people (id int PRIMARY KEY, name varchar(20) NOT NULL, city " \
                  "varchar(20))"
            st.psql(ddl)
            st.mysql(ddl)
            conf = st.ingestd_config(ROUTES, queue_url=q, dlq_url=dlq, wait_time_seconds=1)
            body = "id,name,city\n3,,\\N\n4,dee,\n"
            for db in ("pg", "my"):
                st.put_object("inbox", f"{db}/default/p.csv", body)
            rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=120)
            assert rc == 0, err[-3000:]
            reports = [m["body"] for m in st.receive_all(dlq, wait=0.5)]
            for db, route in (("pg", "nullpg"), ("my", "nullmy")):
                mine = [r for r in reports if r.get("key") == f"{db}/default/p.csv"]
                assert len(mine) == 1, reports
                hint(mine[0], route)
                assert mine[0]["line"] == 2 and "name" in mine[0]["reason"], mine[0]
            for db in ("pg", "my"):
                st.put_object("inbox", f"{db}/ldlike/p.csv", body)
            rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=120)
            assert rc == 0, err[-3000:]
            assert [m["body"] for m in st.receive_all(dlq, wait=0.5)] == []
            expect = [("3", "", None), ("4", "dee", "")]
            got = st.psql("SELECT id, name, city FROM people ORDER BY id")
            assert got == expect, got
            got = st.mysql("SELECT id, name, IFNULL(city, 'is-null') FROM people ORDER BY id")
            assert got == [("3", "", "is-null"), ("4", "dee", "")], got

        c.check("PostgreSQL append and upsert: no text names ingestd_stage; NOT NULL names "
                "the route's null setting", postgres_texts)
        c.check("MariaDB append, upsert and skip_row: the target's name, never ingestd_stage "
                "(reasons and rejects); NOT NULL names the null setting", mariadb_texts)
        c.check("daemon: DLQ report names the route's null; null = \"\\N\" loads empty fields "
                "as empty strings", daemon_reports_and_recipe)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

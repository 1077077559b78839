#!/usr/bin/env python3
"""Lua transforms end to end: S3 upload -> event -> ingestd -> script -> PostgreSQL, MariaDB
and DynamoDB (moto).

Runs the examples in data/transforms/ (the seed jobs: processed_at on every upsert,
user_name upper-cased with the e-mail address as the item key; per-object aggregates in
finish(); one row per item) and the failure cases: a script error under on_error = abort
(DLQ report with the input line and the script line, nothing committed) and skip_row
(rejected and counted), sandbox escapes, an endless loop and a memory bomb stopped while
the daemon goes on loading other objects, a syntax error at --check-config and at SIGHUP
(the running configuration, script included, is kept).
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
EXAMPLES = os.path.join(SRCDIR, "data", "transforms")


def example(name):
    return os.path.join(EXAMPLES, name)


def read(name):
    with open(example(name), "rb") as f:
        return f.read()


ROUTES = f"""
[route seed002]
sink = pg
match_prefix = data/
table = {{basename}}
create_table = true
mode = upsert
key = id
transform = {example("processed_at.lua")}
output_columns = id, first_name, last_name, email, ip_address, timestamp, amount, processed_at

[route seed003]
sink = ddb
match_prefix = users/
table = UserInfoTable
mode = upsert
transform = {example("upper_user_name.lua")}
output_columns = id, user_name, pincode
validate.email = regex:^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}$
validate.pincode = regex:^([0-9]{{4}}|[0-9]{{6}})$
on_error = skip_row
max_errors = 5

[route totals]
sink = mysql
match_prefix = totals/
table = customer_totals
create_table = true
transform = {example("customer_totals.lua")}
output_columns = customer, orders, total

[route items]
sink = mysql
match_prefix = items/
table = order_items
transform = {example("order_items.lua")}
output_columns = order_id, item, qty

[route strict]
sink = pg
match_prefix = strict/
table = scripted
transform = scripts/faulty.lua

[route lenient]
sink = pg
match_prefix = lenient/
table = scripted
transform = scripts/faulty.lua
on_error = skip_row
max_errors = 3

[route bombs]
sink = pg
match_prefix = bombs/
table = scripted
transform = scripts/bombs.lua
transform_memory = 16M
transform_timeout = 300ms
"""

FAULTY = """\
function transform(row, ctx)
  if row.v == 'boom' then
    error('no boom allowed')
  end
  if row.v == 'io' then
    return {id = row.id, v = io.open('/etc/passwd'):read('a')}
  end
  if row.v == 'exec' then
    os.execute('touch /tmp/ingestd-transform-escape')
  end
  if row.v == 'table' then
    return {id = row.id, v = {}}
  end
  if row.v == 'half' then
    return {{id = row.id, v = 'first half'}, {id = row.id + 100, v = {}}}
  end
  row.v = row.v:upper()
  return row
end
"""

BOMBS = """\
function transform(row)
  if row.v == 'loop' then while true do end end
  if row.v == 'memory' then
    local t = {}
    while true do t[#t + 1] = ('x'):rep(1 << 20) .. #t end
  end
  if row.v == 'rep' then return {id = row.id, v = ('x'):rep(1e9)} end
  if row.v == 'pattern' then return {id = row.id, v = tostring(('a'):rep(1e5):find('.-.-.-.-.-b'))} end
  return row
end
"""


def drain(st, conf, timeout=180):
    rc, out, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=timeout)
    assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
    return err


def reports(st, dlq):
    return {m["body"]["key"]: m["body"] for m in st.receive_all(dlq, wait=0.5)
            if isinstance(m["body"], dict) and "key" in m["body"]}


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        scripts = st.path("scripts")
        os.makedirs(scripts, exist_ok=True)
        with open(os.path.join(scripts, "faulty.lua"), "w") as f:
            f.write(FAULTY)
        with open(os.path.join(scripts, "bombs.lua"), "w") as f:
            f.write(BOMBS)
        st.psql("CREATE TABLE scripted (id int PRIMARY KEY, v text)")
        st.mysql("CREATE TABLE order_items (order_id int, item varchar(40), qty int)")
        ddb = st.client("dynamodb")
        ddb.create_table(TableName="UserInfoTable", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1)

        def seed002_processed_at_refreshed_by_upsert():
            data = read("../aws-data-pipeline/data.csv")
            st.put_object("inbox", "data/data.csv", data)
            drain(st, conf)
            got = st.psql("SELECT count(*), count(DISTINCT processed_at), min(processed_at) "
                          "FROM data")
            assert got[0][0] == "10" and got[0][1] == "1", got
            first = got[0][2]
            kind = st.psql("SELECT data_type FROM information_schema.columns WHERE "
                           "table_name = 'data' AND column_name = 'processed_at'")
            assert kind == [("timestamp with time zone",)], kind
            time.sleep(0.05)
            st.put_object("inbox", "data/data.csv", data.replace(b"42.50", b"43.50"))
            drain(st, conf)
            got = st.psql("SELECT count(*), min(processed_at) > %s::timestamptz, "
                          "count(*) FILTER (WHERE amount = 43.50) FROM data" % repr(first))
            assert got == [("10", "t", "1")], got

        def seed003_upper_case_user_name_into_dynamodb():
            st.put_object("inbox", "users/users.csv", read("users.csv"))
            err = drain(st, conf)
            items = ddb.scan(TableName="UserInfoTable")["Items"]
            got = sorted((i["id"]["S"], i["user_name"]["S"], i["pincode"]["S"]) for i in items)
            assert got == [("ada@example.org", "ADA LOVELACE", "110001"),
                           ("avc@example.com", "USER_NAME=RISHABH", "3055"),
                           ("elodie@example.fr", "ÉLODIE", "7500"),
                           ("rishabh@example.com", "RISHABH", "3055")], got
            assert "4 rows (2 rejected)" in err, err[-3000:]

        def finish_writes_per_object_aggregates():
            st.put_object("inbox", "totals/orders.csv", read("orders.csv"))
            drain(st, conf)
            got = st.mysql("SELECT customer, orders, total FROM customer_totals ORDER BY customer")
            assert got == [("alice", "2", "15.0000000000"), ("bob", "2", "4.0000000000"),
                           ("carol", "1", "100.0000000000")], got

        def one_row_to_many_and_dropped_rows():
            st.put_object("inbox", "items/o.csv",
                          "order_id,items\n1,apple:2;pear:1\n2,\n3,fig:12\n")
            drain(st, conf)
            got = st.mysql("SELECT order_id, item, qty FROM order_items ORDER BY order_id, item")
            assert got == [("1", "apple", "2"), ("1", "pear", "1"), ("3", "fig", "12")], got

        def script_error_aborts_with_positions():
            st.put_object("inbox", "strict/a.csv", "id,v\n1,ok\n2,boom\n3,fine\n")
            drain(st, conf)
            r = reports(st, dlq).get("strict/a.csv")
            assert r, "no DLQ report"
            assert r["class"] == "permanent" and r["line"] == 3, r
            assert "faulty.lua:3: no boom allowed" in r["reason"], r
            assert "2,boom" in (r["sample"] or ""), r
            assert st.psql("SELECT count(*) FROM scripted WHERE id < 10") == [("0",)]

        def skip_row_rejects_script_errors():
            st.put_object("inbox", "lenient/b.csv",
                          "id,v\n11,ok\n12,boom\n13,table\n14,fine\n15,half\n")
            err = drain(st, conf)
            got = st.psql("SELECT id, v FROM scripted WHERE id BETWEEN 11 AND 115 ORDER BY id")
            assert got == [("11", "OK"), ("14", "FINE")], got
            rej = st.psql("SELECT line, column_name, reason FROM ingestd_rejects "
                          "WHERE key = 'lenient/b.csv' ORDER BY line")
            assert [r[0] for r in rej] == ["3", "4", "6"], rej
            assert "faulty.lua:3: no boom allowed" in rej[0][2], rej
            assert rej[1][1] == "v" and "a table is not a value" in rej[1][2], rej
            assert "2 rows (3 rejected)" in err, err[-3000:]

        def sandbox_escapes_are_refused():
            st.put_object("inbox", "strict/io.csv", "id,v\n21,io\n")
            st.put_object("inbox", "strict/exec.csv", "id,v\n22,exec\n")
            drain(st, conf)
            reps = reports(st, dlq)
            assert "attempt to index a nil value (global 'io')" in reps["strict/io.csv"]["reason"]
            assert "field 'execute'" in reps["strict/exec.csv"]["reason"], reps["strict/exec.csv"]
            assert not os.path.exists("/tmp/ingestd-transform-escape")

        def bombs_fail_their_object_and_the_daemon_goes_on():
            cases = {"loop": "time limit exceeded", "memory": "memory limit exceeded",
                     "rep": "memory limit exceeded", "pattern": "pattern too complex"}
            for i, name in enumerate(cases):
                st.put_object("inbox", f"bombs/{name}.csv", f"id,v\n{30 + i},{name}\n")
            st.put_object("inbox", "bombs/good.csv", "id,v\n40,good\n")
            t0 = time.monotonic()
            drain(st, conf)
            assert time.monotonic() - t0 < 60
            reps = reports(st, dlq)
            for name, what in cases.items():
                r = reps.get(f"bombs/{name}.csv")
                assert r and r["class"] == "permanent" and r["line"] == 2, (name, r)
                assert what in r["reason"] and "bombs.lua" in r["reason"], (name, r)
            assert st.psql("SELECT v FROM scripted WHERE id >= 30 AND id <= 40") == [("good",)]
            # and once more after the bombs: the states were replaced, loads go on
            st.put_object("inbox", "bombs/after.csv", "id,v\n41,after\n")
            drain(st, conf)
            assert st.psql("SELECT v FROM scripted WHERE id = 41") == [("after",)]

        def check_config_names_the_script_line():
            bad = os.path.join(scripts, "syntax.lua")
            with open(bad, "w") as f:
                f.write("function transform(row)\n  return row\nend end\n")
            text = open(conf).read() + "\n[route broken]\nsink = pg\ntransform = scripts/syntax.lua\n"
            path = st.write_config(text, "broken.conf")
            line = text.splitlines().index("transform = scripts/syntax.lua") + 1
            rc, out, err = run(["--check-config", "-c", path], env=st.env())
            assert rc == 1, (rc, out, err)
            assert f"broken.conf:{line}: [route broken] transform: " in err, err
            assert "syntax.lua:3:" in err, err
            rc, out, err = run(["--check-config", "-c", conf], env=st.env())
            assert rc == 0, (rc, out, err)
            missing = st.write_config(text.replace("syntax.lua", "missing.lua"), "missing.conf")
            rc, out, err = run(["--check-config", "-c", missing], env=st.env())
            assert rc == 1 and "missing.lua: No such file or directory" in err, err

        def sighup_with_a_broken_script_keeps_the_running_one():
            script = os.path.join(scripts, "live.lua")
            with open(script, "w") as f:
                f.write("function transform(row) row.v = 'v1:' .. row.v return row end\n")
            path = st.ingestd_config(ROUTES + "\n[route live]\nsink = pg\nmatch_prefix = live/\n"
                                     "table = scripted\ntransform = scripts/live.lua\n",
                                     name="live.conf", workers=2, wait_time_seconds=1)
            d = Ingestd(path, env=st.env(), log=st.path("live.log"))
            try:
                st.put_object("inbox", "live/1.csv", "id,v\n51,a\n")
                wait_rows(st, 51)
                with open(script, "w") as f:
                    f.write("function transform(row)\n  return row +\nend\n")
                d.signal(signal.SIGHUP)
                d.wait_for_log("reload failed, keeping the running configuration")
                assert "live.lua:3:" in d.log_text(), d.log_text()[-2000:]
                st.put_object("inbox", "live/2.csv", "id,v\n52,b\n")
                wait_rows(st, 52)
                with open(script, "w") as f:
                    f.write("function transform(row) row.v = 'v2:' .. row.v return row end\n")
                d.signal(signal.SIGHUP)
                d.wait_for_log("configuration reloaded")
                st.put_object("inbox", "live/3.csv", "id,v\n53,c\n")
                wait_rows(st, 53)
                got = st.psql("SELECT id, v FROM scripted WHERE id BETWEEN 51 AND 53 ORDER BY id")
                assert got == [("51", "v1:a"), ("52", "v1:b"), ("53", "v2:c")], got
            finally:
                assert d.stop() == 0

        c.check("seed 002: processed_at = ctx.now, upsert refreshes it",
                seed002_processed_at_refreshed_by_upsert)
        c.check("seed 003: user_name upper-cased, e-mail as the key, into DynamoDB",
                seed003_upper_case_user_name_into_dynamodb)
        c.check("finish() writes per-object aggregates (MariaDB, create_table)",
                finish_writes_per_object_aggregates)
        c.check("one input row to many, and dropped rows (MariaDB)",
                one_row_to_many_and_dropped_rows)
        c.check("script error under abort: DLQ report with input and script line",
                script_error_aborts_with_positions)
        c.check("script errors under skip_row: rejected and counted",
                skip_row_rejects_script_errors)
        c.check("sandbox: io and os.execute are not there", sandbox_escapes_are_refused)
        c.check("endless loop, memory and pattern bombs: permanent, other objects load",
                bombs_fail_their_object_and_the_daemon_goes_on)
        c.check("--check-config names the configuration line and the script line",
                check_config_names_the_script_line)
        c.check("SIGHUP with a broken script keeps the running script",
                sighup_with_a_broken_script_keeps_the_running_one)
    return c.done()


def wait_rows(st, ident, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st.psql(f"SELECT count(*) FROM scripted WHERE id = {ident}") == [("1",)]:
            return
        time.sleep(0.2)
    raise AssertionError(f"row {ident} not loaded within {timeout}s")


if __name__ == "__main__":
    if os.path.exists("/tmp/ingestd-transform-escape"):
        os.remove("/tmp/ingestd-transform-escape")
    sys.exit(main())

#!/usr/bin/env python3
"""What a load may touch: hostile object keys against ingestd's own tables and the catalogs.

Someone who may only put objects under a routed prefix chooses the table name through
`table = {basename}` (or `{dirname}.{basename}`). Each check uploads the hostile object to
moto's S3, runs `ingestd --exit-when-idle` against real PostgreSQL 15, MariaDB and moto's
DynamoDB, and asserts on the tables and on the DLQ reports:

- an object named after the ledger (`incoming/ingestd_ledger.csv`, rows forging the ledger
  row of `incoming/payments.csv`) is a permanent failure with a report, the ledger holds
  nothing forged, and the real payments.csv then loads; the same for ingestd_rejects;
- a planted ledger row with sequencer FFFF... cannot block an upsert route: the planted
  object is refused, and the upsert (its event carrying a real sequencer) loads;
- with a superuser sink, `pg_description.csv` never writes into pg_catalog.pg_description:
  the name resolves in the sink's schema only (missing table: refused; create_table: a new
  public.pg_description), and `pg_catalog/pg_description.csv` under `{dirname}.{basename}`
  is refused as a catalog schema;
- `[sink] schema = app` puts targets, the ledger and the rejects into schema app;
- MariaDB: `ingestd_ledger.csv` refused, `mysql/user.csv` under `{dirname}.{basename}`
  refused (system database), a plain table still loads into the sink's database;
- DynamoDB: objects named after the DynamoDB sink's ledger table and after the SQS sink's
  ledger table are refused, no forged ledger item exists, and the real object loads;
- --check-config refuses `schema = pg_catalog` and `database = mysql`.
"""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route incoming]
sink = pg
match_prefix = incoming/
table = {basename}

[route prices]
sink = pg
match_prefix = prices/
table = {basename}
mode = upsert
key = id

[route sys]
sink = pgsu
match_prefix = sys/
table = {basename}

[route sysq]
sink = pgsu
match_prefix = sysq/
table = {dirname}.{basename}

[route syscreate]
sink = pgsu
match_prefix = syscreate/
table = {basename}
create_table = true

[route app]
sink = pgapp
match_prefix = app/
table = {basename}

[route my]
sink = mysql
match_prefix = my/
table = {basename}

[route myq]
sink = mysql
match_prefix = myq/
table = {dirname}.{basename}

[route ddb]
sink = ddb
match_prefix = ddb/
table = {basename}
"""


def etag_of(data):
    return hashlib.md5(data.encode()).hexdigest()


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        rows_q, _ = st.make_queue("rows", dlq=False)
        st.make_bucket("inbox", notify_queue_url=q)
        st.make_bucket("quiet")
        st.purge(q)
        st.psql("CREATE SCHEMA app AUTHORIZATION ingest", superuser=True)
        sinks = "\n".join([
            "[sink pg]", "type = postgres",
            f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest",
            f"password = {st.pg_password}", "",
            "[sink pgsu]", "type = postgres",
            f"conninfo = host={st.pg_socket_dir} port={st.pg_port} dbname=ingest user=postgres",
            "",
            "[sink pgapp]", "type = postgres", "schema = app",
            f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest",
            f"password = {st.pg_password}", "",
            "[sink mysql]", "type = mysql", "host = 127.0.0.1", f"port = {st.mysql_port}",
            f"user = {st.mysql_user}", f"database = {st.mysql_database}",
            f"password = {st.mysql_password}", "",
            "[sink ddb]", "type = dynamodb", "",
            "[sink rows]", "type = sqs", f"queue_url = {rows_q}", "ledger_table = sqs_ledger",
            "",
        ])
        conf = st.ingestd_config(ROUTES, sinks=sinks, queue_url=q, dlq_url=dlq, workers=2,
                                 wait_time_seconds=1)

        def drain():
            rc, _, err = run(["--exit-when-idle", "-c", conf], env=st.env(), timeout=180)
            assert rc == 0, f"ingestd exited {rc}:\n{err[-3000:]}"
            if os.environ.get("INGESTD_TEST_VERBOSE"):
                print(err[-6000:], file=sys.stderr)
            return err

        def reports():
            return [m["body"] for m in st.receive_all(dlq, wait=0.5)
                    if isinstance(m["body"], dict) and m["body"].get("ingestd_error") == 1]

        def refused(reps, key, words):
            mine = [r for r in reps if r.get("key") == key]
            assert len(mine) == 1, f"{key}: reports {reps}"
            r = mine[0]
            assert r["class"] == "permanent", r
            assert words in r["reason"], r["reason"]
            return r

        def pg_ledger_forgery():
            # A running system: the ledger exists, as after any first load.
            st.psql("CREATE TABLE warmup (id int)")
            st.put_object("inbox", "incoming/warmup.csv", "id\n1\n")
            drain()
            assert st.psql("SELECT count(*) FROM ingestd_ledger") == [("1",)]
            st.psql("CREATE TABLE payments (id int, amount numeric)")
            payments = "id,amount\n1,10\n2,20\n3,30\n"
            forged = ("bucket,key,etag,rows\n"
                      f"inbox,incoming/payments.csv,{etag_of(payments)},3\n")
            st.put_object("inbox", "incoming/ingestd_ledger.csv", forged)
            st.put_object("inbox", "incoming/ingestd_rejects.csv",
                          "bucket,key,etag,reason\ninbox,incoming/x.csv,e,forged\n")
            st.put_object("inbox", "incoming/ingestd_stage.csv", "id\n1\n")
            drain()
            reps = reports()
            r = refused(reps, "incoming/ingestd_ledger.csv", "one of ingestd's own tables")
            assert '"public"."ingestd_ledger"' in r["reason"], r
            refused(reps, "incoming/ingestd_rejects.csv", "one of ingestd's own tables")
            refused(reps, "incoming/ingestd_stage.csv", "one of ingestd's own tables")
            assert st.psql("SELECT count(*) FROM ingestd_ledger WHERE key = "
                           "'incoming/payments.csv'") == [("0",)]
            assert st.psql("SELECT count(*) FROM ingestd_rejects WHERE reason = 'forged'") == \
                [("0",)]
            st.put_object("inbox", "incoming/payments.csv", payments)
            drain()
            assert st.psql("SELECT id, amount FROM payments ORDER BY id") == \
                [("1", "10"), ("2", "20"), ("3", "30")]
            assert st.psql("SELECT rows FROM ingestd_ledger WHERE key = "
                           "'incoming/payments.csv'") == [("3",)]
            assert reports() == []
            assert st.queue_count(q) == 0

        def planted_sequencer_cannot_block_upsert():
            st.psql("CREATE TABLE prices (id int PRIMARY KEY, price numeric)")
            planted = ("bucket,key,etag,sequencer,rows\n"
                       "quiet,prices/prices.csv,planted,FFFFFFFFFFFFFFFFFFFFFFFF,1\n")
            st.put_object("inbox", "incoming/ingestd_ledger.csv", planted)
            drain()
            refused(reports(), "incoming/ingestd_ledger.csv", "one of ingestd's own tables")
            assert st.psql("SELECT count(*) FROM ingestd_ledger WHERE etag = 'planted'") == \
                [("0",)]
            body = "id,price\n1,9.5\n2,7\n"
            etag = st.put_object("quiet", "prices/prices.csv", body)
            st.send(q, {"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "quiet"},
                       "object": {"key": "prices/prices.csv", "size": len(body), "eTag": etag,
                                  "sequencer": "0055AED6DCD90281E5"}}}]})
            drain()
            assert st.psql("SELECT id, price FROM prices ORDER BY id") == \
                [("1", "9.5"), ("2", "7")]
            assert st.psql("SELECT sequencer FROM ingestd_ledger WHERE key = "
                           "'prices/prices.csv'") == [("0055AED6DCD90281E5",)]
            assert reports() == []

        def pg_description_never_reaches_the_catalog():
            forged = ("objoid,classoid,objsubid,description\n"
                      "4294967000,1259,7,forged by an object\n")

            def catalog_rows():
                return st.psql("SELECT count(*) FROM pg_catalog.pg_description WHERE "
                               "description = 'forged by an object'", superuser=True)

            st.put_object("inbox", "sys/pg_description.csv", forged)
            st.put_object("inbox", "sysq/pg_catalog/pg_description.csv", forged)
            drain()
            reps = reports()
            refused(reps, "sys/pg_description.csv", 'table "public"."pg_description" does not '
                    'exist')
            refused(reps, "sysq/pg_catalog/pg_description.csv",
                    "system catalog schema pg_catalog")
            assert catalog_rows() == [("0",)]
            # create_table: a table of that name is made where names resolve, nowhere else.
            st.put_object("inbox", "syscreate/pg_description.csv", forged)
            drain()
            assert reports() == []
            assert catalog_rows() == [("0",)]
            assert st.psql("SELECT description FROM public.pg_description",
                           superuser=True) == [("forged by an object",)]

        def schema_holds_targets_and_ledger():
            st.psql("CREATE TABLE app.things (id int, name text)")
            st.psql("CREATE TABLE public.things (id int, name text)")
            st.put_object("inbox", "app/things.csv", "id,name\n1,a\n2,b\n")
            drain()
            assert reports() == []
            assert st.psql("SELECT count(*) FROM app.things") == [("2",)]
            assert st.psql("SELECT count(*) FROM public.things") == [("0",)]
            assert st.psql("SELECT rows FROM app.ingestd_ledger WHERE key = 'app/things.csv'") \
                == [("2",)]
            assert st.psql("SELECT count(*) FROM public.ingestd_ledger WHERE key = "
                           "'app/things.csv'", superuser=True) == [("0",)]

        def mysql_own_tables_and_system_databases():
            st.mysql("CREATE TABLE warmup (id int)")
            st.put_object("inbox", "my/warmup.csv", "id\n1\n")
            drain()
            assert st.mysql("SELECT count(*) FROM ingestd_ledger") == [("1",)]
            st.mysql("CREATE TABLE payments (id int, amount decimal(10,2))")
            payments = "id,amount\n1,10.00\n2,20.00\n"
            forged = ("bucket,key,etag,rows\n"
                      f"inbox,my/payments.csv,{etag_of(payments)},2\n")
            st.put_object("inbox", "my/ingestd_ledger.csv", forged)
            st.put_object("inbox", "myq/mysql/user.csv", "Host,User\n%,forged\n")
            drain()
            reps = reports()
            r = refused(reps, "my/ingestd_ledger.csv", "one of ingestd's own tables")
            assert "`ingest`.`ingestd_ledger`" in r["reason"], r
            refused(reps, "myq/mysql/user.csv", "system catalog schema mysql")
            assert st.mysql("SELECT count(*) FROM ingestd_ledger WHERE `key` = "
                            "'my/payments.csv'") == [("0",)]
            assert st.mysql("SELECT count(*) FROM mysql.user WHERE User = 'forged'",
                            root=True) == [("0",)]
            st.put_object("inbox", "my/payments.csv", payments)
            drain()
            assert st.mysql("SELECT id, amount FROM payments ORDER BY id") == \
                [("1", "10.00"), ("2", "20.00")]
            assert st.mysql("SELECT `rows` FROM ingestd_ledger WHERE `key` = "
                            "'my/payments.csv'") == [("2",)]
            assert reports() == []

        def dynamodb_ledger_forgery():
            ddb = st.client("dynamodb")
            ddb.create_table(TableName="items", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id",
                                                    "AttributeType": "S"}])
            items = "id,name\na,apple\nb,banana\n"
            forged_id = f"s3://inbox/ddb/items.csv#{etag_of(items)}"
            # A first load creates the DynamoDB sink's ledger table, so a forged item could
            # land in it; the SQS sink's ledger table is made here for the same reason.
            st.put_object("inbox", "ddb/items_warmup.csv", "id,name\nz,zed\n")
            ddb.create_table(TableName="items_warmup", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id",
                                                    "AttributeType": "S"}])
            ddb.create_table(TableName="sqs_ledger", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id",
                                                    "AttributeType": "S"}])
            drain()
            assert reports() == []
            st.put_object("inbox", "ddb/ingestd_ledger.csv", f"id,rows\n{forged_id},2\n")
            st.put_object("inbox", "ddb/sqs_ledger.csv", f"id,rows\n{forged_id},2\n")
            drain()
            reps = reports()
            refused(reps, "ddb/ingestd_ledger.csv", "is a ledger table of ingestd")
            refused(reps, "ddb/sqs_ledger.csv", "is a ledger table of ingestd")
            for table in ("ingestd_ledger", "sqs_ledger"):
                got = ddb.get_item(TableName=table, Key={"id": {"S": forged_id}},
                                   ConsistentRead=True)
                assert "Item" not in got, (table, got)
            st.put_object("inbox", "ddb/items.csv", items)
            drain()
            assert reports() == []
            names = sorted(i["name"]["S"] for i in ddb.scan(TableName="items")["Items"])
            assert names == ["apple", "banana"], names
            got = ddb.get_item(TableName="ingestd_ledger", Key={"id": {"S": forged_id}},
                               ConsistentRead=True)
            assert got["Item"]["rows"]["N"] == "2", got

        def check_config_refuses_catalogs():
            text = open(conf).read()
            for name, old, new, words in [
                    ("pgcat.conf", "[sink pgapp]\ntype = postgres\nschema = app",
                     "[sink pgapp]\ntype = postgres\nschema = pg_catalog",
                     "schema: \"pg_catalog\" is a system catalog schema"),
                    ("mysqlcat.conf", f"database = {st.mysql_database}", "database = mysql",
                     "database: \"mysql\" is a system database")]:
                assert old in text, old
                bad = st.write_config(text.replace(old, new), name=name)
                rc, out, err = run(["--check-config", "-c", bad])
                assert rc == 1 and words in err, (rc, out, err)
                line = next(i + 1 for i, t in enumerate(open(bad))
                            if t.startswith(new.split("\n")[-1]))
                assert f"{name}:{line}:" in err, err
            rc, out, err = run(["--check-config", "-c", conf])
            assert rc == 0, (rc, out, err)

        c.check("PostgreSQL: incoming/ingestd_ledger.csv (and rejects, stage) refused with a "
                "report; the ledger holds nothing forged; payments.csv then loads",
                pg_ledger_forgery)
        c.check("a planted FFFF... sequencer row is refused; the upsert with a real "
                "sequencer loads", planted_sequencer_cannot_block_upsert)
        c.check("superuser sink: pg_description.csv never writes into pg_catalog "
                "(missing, {dirname} = pg_catalog refused, create_table lands in public)",
                pg_description_never_reaches_the_catalog)
        c.check("[sink] schema = app: target and ledger in app, nothing in public",
                schema_holds_targets_and_ledger)
        c.check("MariaDB: ingestd_ledger.csv and mysql/user.csv refused; payments.csv loads",
                mysql_own_tables_and_system_databases)
        c.check("DynamoDB: the ddb and sqs sinks' ledger tables are never targets; no forged "
                "item; items.csv loads", dynamodb_ledger_forgery)
        c.check("--check-config refuses schema = pg_catalog and database = mysql at their line",
                check_config_refuses_catalogs)
        leftover = reports()
        if leftover:
            print(f"# unexpected DLQ reports: {json.dumps(leftover)[:2000]}", flush=True)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

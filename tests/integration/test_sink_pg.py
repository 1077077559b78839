#!/usr/bin/env python3
"""The PostgreSQL sink (src/sinks/postgres/) against a real PostgreSQL 15, through
tests/sinks/pgload.

Covers append, upsert (duplicate keys in one file: the last row wins; a second object keeps
the row count; MERGE where the key's index allows, INSERT ... ON CONFLICT after a unique
violation from another session and on a table with inheritance children; upsert_unchanged
= skip leaving rows the table holds byte for byte unwritten), replace (also on a table other tables reference), create_table with inferred
types and the key as primary key, the ledger (a second load is already_loaded; two processes
racing on one object: exactly one loads), type errors mapped to the object's line and column
(also after multi-line records, deep in a large object and in upsert's staging table) with
nothing committed, an extra column, a missing table, a NOT NULL column the object lacks, an
upsert key without a unique index, late events older than the loaded version (S3 sequencer)
skipped in upsert and replace modes, PostgreSQL stopped (transient) and the same sink
reconnecting after the restart, rejects under skip_row recorded in the same transaction
(and rolled back with it; many rejects flushed mid-load), COPY escaping round trips,
weird identifiers (spaces, quotes, upper case, schemas), a role without CREATE on the schema,
check(), password_file and bad passwords.
"""
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from stack import Stack, StackError  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
SRC = os.environ.get("INGESTD_SRCDIR", os.path.join(HERE, "..", ".."))
PGLOAD = os.path.join(BUILD, "tests", "sinks", "pgload")
IN_CI = os.environ.get("CI") == "true"
PRIOR_ART = "/work/shared/prior-art-data/aws-data-pipeline/data.csv"
DATA_CSV = (open(PRIOR_ART).read() if os.path.exists(PRIOR_ART) else
            "id,first_name,last_name,email,ip_address,timestamp,amount\n" +
            "".join(f"{i},F{i},L{i},u{i}@example.com,192.168.1.{i},2023-06-15T10:{i:02d}:00Z,"
                    f"{i}.50\n" for i in range(1, 11)))

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-20:]:
            print("#   " + line, flush=True)


class Loader:
    def __init__(self, st):
        self.st = st
        self.n = 0
        self.sanitizer_reports = []

    def file(self, text, name=None):
        self.n += 1
        path = self.st.path(name or f"f{self.n}.csv")
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        return path

    def argv(self, table, path, mode="append", key=None, etag=None, extra=(), conninfo=None):
        self.n += 1
        a = [PGLOAD, "--conninfo", conninfo or self.st.pg_conninfo, "--table", table,
             "--mode", mode, "--file", path, "--bucket", "inbox",
             "--object-key", os.path.basename(path), "--etag", etag or f"etag{self.n}"]
        if key:
            a += ["--key", key]
        return a + list(extra)

    def load(self, table, text_or_path, **kw):
        path = text_or_path if os.path.exists(str(text_or_path)) else self.file(text_or_path)
        p = subprocess.run(self.argv(table, path, **kw), capture_output=True, timeout=300)
        out = p.stdout.decode().strip().splitlines()
        try:
            res = json.loads(out[-1])
        except (IndexError, ValueError):
            res = {"result": "crash", "stderr": p.stderr.decode()[-2000:]}
        res["rc"] = p.returncode
        res["stderr"] = p.stderr.decode()[-2000:]
        if "Sanitizer" in res["stderr"]:
            self.sanitizer_reports.append(res["stderr"])
        return res


def count(st, table):
    return int(st.psql(f"SELECT count(*) FROM {table}")[0][0])


def ledger(st, etag):
    return st.psql(f"SELECT rows, bytes FROM ingestd_ledger WHERE etag = '{etag}'")


def test_append_and_ledger(st, L):
    st.psql("CREATE TABLE people (id bigint PRIMARY KEY, name text, score numeric)")
    text = "id,name,score\n1,ann,1.5\n2,bob,\n3,\"c, d\",3\n"
    path = L.file(text)
    r = L.load("people", path, etag="app1")
    check("append loads 3 rows", r["result"] == "loaded" and r["rows"] == 3 and r["rc"] == 0, r)
    check("append rows in the table", st.psql("SELECT id, name, score FROM people ORDER BY id")
          == [("1", "ann", "1.5"), ("2", "bob", None), ("3", "c, d", "3")])
    check("ledger row has rows and bytes", ledger(st, "app1") == [("3", str(len(text)))],
          ledger(st, "app1"))
    r = L.load("people", path, etag="app1")
    check("same object again: already_loaded", r["result"] == "already_loaded" and r["rc"] == 3, r)
    check("already_loaded leaves the table", count(st, "people") == 3)
    check("already_loaded leaves the ledger",
          st.psql("SELECT count(*) FROM ingestd_ledger WHERE etag = 'app1'") == [("1",)])
    r = L.load("people", "id,name,score\n4,dan,4\n", etag="app2")
    check("new etag of the same key loads", r["result"] == "loaded" and count(st, "people") == 4, r)
    r = L.load("people", "id,name,score\n", etag="app3")
    check("header-only object commits a ledger row with 0 rows",
          r["result"] == "loaded" and ledger(st, "app3") == [("0", "14")], r)


def test_upsert(st, L):
    st.psql('CREATE TABLE data ("id" NUMERIC, "first_name" TEXT, "last_name" TEXT, "email" TEXT,'
            ' "ip_address" TEXT, "timestamp" TEXT, "amount" NUMERIC, "processed_at" TEXT,'
            ' PRIMARY KEY ("id"))')
    path = L.file(DATA_CSV, "data.csv")
    r1 = L.load("data", path, mode="upsert", key="id", etag="d1")
    r2 = L.load("data", path, mode="upsert", key="id", etag="d2")
    check("upsert data.csv twice (two etags): both load", r1["result"] == "loaded" and
          r2["result"] == "loaded", (r1, r2))
    check("upsert data.csv twice keeps 10 rows", count(st, "data") == 10)
    st.psql("UPDATE data SET first_name = 'changed' WHERE id = 3")
    r = L.load("data", "id,first_name\n3,Robert\n3,Bobby\n11,new\n11,newer\n",
               mode="upsert", key="id", etag="d3")
    check("upsert with duplicate keys in one file loads", r["result"] == "loaded", r)
    check("duplicate keys: the last row wins",
          st.psql("SELECT id, first_name FROM data WHERE id IN (3, 11) ORDER BY id") ==
          [("3", "Bobby"), ("11", "newer")])
    check("upsert keeps columns the object lacks",
          st.psql("SELECT last_name FROM data WHERE id = 3") == [("Jones",)] or
          st.psql("SELECT last_name FROM data WHERE id = 3") != [(None,)])
    check("upsert row count", count(st, "data") == 11)

    st.psql("CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b))")
    r = L.load("pairs", "a,b\n1,1\n1,2\n1,1\n", mode="upsert", key="a,b", etag="p1")
    r2 = L.load("pairs", "a,b\n1,1\n2,2\n", mode="upsert", key="a,b", etag="p2")
    check("key-only table: DO NOTHING, composite key", r["result"] == "loaded" and
          r2["result"] == "loaded" and count(st, "pairs") == 3, (r, r2))

    st.psql("CREATE TABLE nokey (id int, v text)")
    r = L.load("nokey", "id,v\n1,x\n", mode="upsert", key="id", etag="nk1")
    check("upsert without a unique index on the key: permanent at begin",
          r["result"] == "error" and r["class"] == "permanent" and "unique" in r["reason"], r)
    r = L.load("data", "first_name\nx\n", mode="upsert", key="id", etag="nk2")
    check("upsert key missing from the object: permanent",
          r["result"] == "error" and r["class"] == "permanent" and "id" in r["reason"], r)


def test_upsert_merge(st, L):
    """Upsert runs MERGE where the key's unique index allows it, and goes on with INSERT ...
    ON CONFLICT where MERGE cannot finish or would reach further."""
    st.psql("CREATE TABLE mj (id int PRIMARY KEY, v text, note text); "
            "INSERT INTO mj SELECT g, 'old', 'kept' FROM generate_series(1, 5) g; "
            "CREATE TABLE mj_inserts (id int); "
            "CREATE FUNCTION mj_count() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN INSERT INTO mj_inserts VALUES (NEW.id); RETURN NEW; END$$; "
            "CREATE TRIGGER mj_count BEFORE INSERT ON mj FOR EACH ROW EXECUTE FUNCTION mj_count()")
    r = L.load("mj", "id,v\n1,a\n2,b\n6,f\n", mode="upsert", key="id", etag="mj1")
    check("upsert by MERGE: updates and inserts",
          r["result"] == "loaded" and st.psql("SELECT id, v, note FROM mj ORDER BY id") ==
          [("1", "a", "kept"), ("2", "b", "kept"), ("3", "old", "kept"), ("4", "old", "kept"),
           ("5", "old", "kept"), ("6", "f", None)], (r, st.psql("SELECT * FROM mj")))
    # INSERT ... ON CONFLICT runs BEFORE INSERT triggers for every row, MERGE for new rows.
    check("upsert by MERGE: an insert trigger fires for the new row only",
          st.psql("SELECT id FROM mj_inserts") == [("6",)], st.psql("SELECT id FROM mj_inserts"))

    r = L.load("mj", "id,v\n7,x\n8,y\n7,z\n", mode="upsert", key="id", etag="mj2")
    check("a new key twice in one file: the last row wins",
          r["result"] == "loaded" and st.psql("SELECT id, v FROM mj WHERE id > 6 ORDER BY id")
          == [("7", "z"), ("8", "y")], (r, st.psql("SELECT id, v FROM mj WHERE id > 6")))

    # Another session inserts key 9 and commits while the load waits on it: MERGE fails
    # with a unique violation, INSERT ... ON CONFLICT then updates the row.
    other = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", st.pg_conninfo], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=st.env())
    other.stdin.write("BEGIN;\nINSERT INTO mj (id, v) VALUES (9, 'other');\n"
                      "SELECT pg_sleep(3);\nCOMMIT;\n")
    other.stdin.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and st.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'mj' AND l.mode = 'RowExclusiveLock' AND l.granted") == [("0",)]:
        time.sleep(0.05)
    t0 = time.monotonic()
    r = L.load("mj", "id,v\n9,file\n", mode="upsert", key="id", etag="mj3")
    waited = time.monotonic() - t0
    other.wait(timeout=30)
    check("a key another session inserts meanwhile: updated, not an error",
          r["result"] == "loaded" and other.returncode == 0 and waited > 1 and
          st.psql("SELECT v FROM mj WHERE id = 9") == [("file",)],
          (r, waited, st.psql("SELECT v FROM mj WHERE id = 9")))

    # MERGE INTO a parent would update a child's row; INSERT (ON CONFLICT) touches the
    # parent alone, as its unique index does.
    st.psql("CREATE TABLE mj_parent (id int PRIMARY KEY, v text); "
            "CREATE TABLE mj_child () INHERITS (mj_parent); "
            "INSERT INTO mj_child VALUES (1, 'child')")
    r = L.load("mj_parent", "id,v\n1,file\n", mode="upsert", key="id", etag="mj4")
    check("a table with inheritance children: the child's row untouched",
          r["result"] == "loaded" and st.psql("SELECT v FROM mj_child") == [("child",)] and
          st.psql("SELECT v FROM ONLY mj_parent") == [("file",)],
          (r, st.psql("SELECT * FROM mj_child"), st.psql("SELECT * FROM ONLY mj_parent")))


def test_upsert_unchanged(st, L):
    """upsert_unchanged = skip: rows the table holds byte for byte are not written again,
    through MERGE and through INSERT ... ON CONFLICT alike."""
    st.psql("CREATE TABLE uc_updates (tbl text, id int); "
            "CREATE FUNCTION uc_count() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN INSERT INTO uc_updates VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END$$; "
            "CREATE TABLE uc (id int PRIMARY KEY, v text, n numeric, j json, note text); "
            "INSERT INTO uc VALUES (1, 'a', 1.0, '{\"x\": 1}', NULL), (2, 'b', 2, '[]', 'x'), "
            "(3, 'c', 1.0, 'null', NULL), (4, 'd', 4, '{\"y\": 2}', ''); "
            "CREATE TRIGGER uc_count BEFORE UPDATE ON uc FOR EACH ROW EXECUTE FUNCTION uc_count(); "
            "CREATE TABLE ucp (id int PRIMARY KEY, v text); CREATE TABLE ucc () INHERITS (ucp); "
            "INSERT INTO ucp VALUES (1, 'a'), (2, 'b'); "
            "CREATE TRIGGER ucp_count BEFORE UPDATE ON ucp FOR EACH ROW "
            "EXECUTE FUNCTION uc_count()")
    updated = lambda: st.psql("SELECT tbl, id FROM uc_updates ORDER BY tbl, id")  # noqa: E731
    text = ('id,v,n,j,note\n1,a,1.0,"{""x"": 1}",\n2,B,2,[],x\n3,c,1.00,null,\n'
            '4,d,4,"{""y"": 2}",""\n5,e,5,{},\n')
    r = L.load("uc", text, mode="upsert", key="id", etag="uc1", extra=["--skip-unchanged"])
    check("skip: only changed rows are updated (1.00 is not 1.0), new rows inserted",
          r["result"] == "loaded" and updated() == [("uc", "2"), ("uc", "3")] and
          st.psql("SELECT id, v, n FROM uc ORDER BY id") ==
          [("1", "a", "1.0"), ("2", "B", "2"), ("3", "c", "1.00"), ("4", "d", "4"),
           ("5", "e", "5")], (r, updated(), st.psql("SELECT * FROM uc ORDER BY id")))
    r = L.load("ucp", "id,v\n1,a\n2,z\n3,c\n", mode="upsert", key="id", etag="uc2",
               extra=["--skip-unchanged"])
    check("skip through INSERT ... ON CONFLICT (a table with children): the same",
          r["result"] == "loaded" and updated()[2:] == [("ucp", "2")] and
          st.psql("SELECT id, v FROM ucp ORDER BY id") == [("1", "a"), ("2", "z"), ("3", "c")],
          (r, updated(), st.psql("SELECT * FROM ucp ORDER BY id")))
    st.psql("TRUNCATE uc_updates")
    r = L.load("uc", text, mode="upsert", key="id", etag="uc3")
    check("update, the default: every row the file holds is written again",
          r["result"] == "loaded" and [i for _, i in updated()] == ["1", "2", "3", "4", "5"],
          (r, updated()))


def test_replace(st, L):
    st.psql("CREATE TABLE snap (k text PRIMARY KEY, v int); INSERT INTO snap VALUES ('old', 1)")
    r = L.load("snap", "k,v\na,1\nb,2\n", mode="replace", etag="r1")
    check("replace loads", r["result"] == "loaded", r)
    check("replace: only the object's rows remain",
          st.psql("SELECT k FROM snap ORDER BY k") == [("a",), ("b",)])
    r = L.load("snap", "k,v\nc,x\n", mode="replace", etag="r2")
    check("failed replace keeps the old content", r["result"] == "error" and
          st.psql("SELECT k FROM snap ORDER BY k") == [("a",), ("b",)], r)
    st.psql("CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1), (2);"
            "CREATE TABLE child (pid int REFERENCES parent(id))")
    r = L.load("parent", "id\n5\n6\n", mode="replace", etag="r3")
    check("replace of a referenced table falls back to DELETE", r["result"] == "loaded" and
          st.psql("SELECT id FROM parent ORDER BY id") == [("5",), ("6",)], r)


def test_create_table(st, L):
    text = ("id,name,price,active,day,at\n"
            "1,ann,1.25,true,2024-01-02,2024-01-02T03:04:05Z\n"
            "2,bob,3,false,2024-02-03,2024-02-03 04:05:06+02:00\n")
    r = L.load("made", text, mode="upsert", key="id", etag="c1", extra=["--create-table"])
    check("create_table loads", r["result"] == "loaded" and count(st, "made") == 2, r)
    types = st.psql("SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'made' ORDER BY ordinal_position")
    check("create_table: inferred types",
          types == [("id", "bigint"), ("name", "text"), ("price", "numeric"),
                    ("active", "boolean"), ("day", "date"),
                    ("at", "timestamp with time zone")], types)
    pk = st.psql("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                 "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'made'::regclass "
                 "AND i.indisprimary")
    check("create_table: key is the primary key", pk == [("id",)], pk)
    r = L.load("absent", "a\n1\n", etag="c2")
    check("missing table without create_table: permanent 'does not exist'",
          r["result"] == "error" and r["class"] == "permanent" and
          "does not exist" in r["reason"], r)
    check("failed load leaves no ledger row", ledger(st, "c2") == [])


def test_type_errors(st, L):
    st.psql("CREATE TABLE typed (id bigint, amount bigint, note varchar(5) NOT NULL)")
    r = L.load("typed", "id,amount,note\n1,10,a\n2,20,b\n3,abc,c\n", etag="t1")
    check("type error: permanent", r["result"] == "error" and r["class"] == "permanent", r)
    check("type error: object line and column", r.get("line") == 4 and r.get("column") == 2 and
          r.get("column_name") == "amount", r)
    check("type error: sample is the value", r.get("sample") == "abc", r)
    check("type error: nothing committed", count(st, "typed") == 0 and ledger(st, "t1") == [])
    # Multi-line records before the bad row: the line is where its record starts.
    text = ('id,amount,note\n1,1,"x\ny"\n2,2,"p\n\nq"\n3,3,ok\n4,4,toolong\n')
    r = L.load("typed", text, etag="t2")
    check("value too long after multi-line records: line of the record",
          r.get("result") == "error" and r.get("line") == 8 and r.get("column_name") == "note",
          r)
    r = L.load("typed", "id,amount\n1,1\n", etag="t3")
    check("NOT NULL column missing from the object: permanent",
          r["result"] == "error" and r["class"] == "permanent" and "note" in r["reason"], r)
    r = L.load("typed", "id,amount,note,extra\n1,1,a,z\n", etag="t4")
    check("extra column in the file: permanent naming column and table",
          r["result"] == "error" and r["class"] == "permanent" and "extra" in r["reason"] and
          "typed" in r["reason"] and r.get("column") == 4, r)
    r = L.load("typed", "id,amount,note\n1,1,\n", etag="t5")
    check("NULL into NOT NULL: permanent with the line", r["result"] == "error" and
          r["class"] == "permanent" and r.get("line") == 2 and r.get("column_name") == "note", r)
    # Deep in a large object, past many 256 KB chunks.
    rows = ["id,amount,note"] + [f"{i},{i},n" for i in range(1, 200001)]
    rows[150000] = "150000,1.5,n"
    r = L.load("typed", "\n".join(rows) + "\n", etag="t6")
    check("type error at line 150001 of a 200,000-row object",
          r["result"] == "error" and r.get("line") == 150001 and r.get("sample") == "1.5", r)
    check("large failed object commits nothing", count(st, "typed") == 0)
    st.psql("CREATE TABLE typed_u (id bigint PRIMARY KEY, amount bigint)")
    r = L.load("typed_u", "id,amount\n1,1\n2,x2\n", mode="upsert", key="id", etag="t7")
    check("type error in upsert staging: line and column", r["result"] == "error" and
          r.get("line") == 3 and r.get("column_name") == "amount", r)
    r = L.load("typed_u", "id,amount\n1,1\n2,2\n,3\n4,4\n", mode="upsert", key="id", etag="t9")
    check("NULL key in upsert: permanent with the object line", r["result"] == "error" and
          r["class"] == "permanent" and r.get("line") == 4 and r.get("column_name") == "id" and
          count(st, "typed_u") == 0, r)
    r = L.load("typed_u", "id,amount\n1,1\n\xff\n".encode("latin-1"), etag="t8")
    check("invalid UTF-8 is a permanent error", r["result"] == "error" and
          r["class"] == "permanent", r)


def test_rejects(st, L):
    st.psql("CREATE TABLE rj (id int, v text)")
    r = L.load("rj", "id,v\n1,a\n2,b,EXTRA\n3,c\n", etag="j1",
               extra=["--on-error", "skip_row", "--max-errors", "5"])
    check("skip_row: loads the good rows", r["result"] == "loaded" and count(st, "rj") == 2 and
          r["rejected"] == 1, r)
    rej = st.psql("SELECT bucket, key, etag, line, raw IS NOT NULL, reason IS NOT NULL "
                  "FROM ingestd_rejects WHERE etag = 'j1'")
    check("skip_row: the reject is in ingestd_rejects with its line",
          len(rej) == 1 and rej[0][0] == "inbox" and rej[0][2] == "j1" and rej[0][3] == "3" and
          rej[0][4] == "t", rej)
    r = L.load("rj", "id,v\n1,a\n2,b,EXTRA\nnotint,c\n", etag="j2",
               extra=["--on-error", "skip_row", "--max-errors", "5"])
    check("rejects roll back with a failed load", r["result"] == "error" and
          st.psql("SELECT count(*) FROM ingestd_rejects WHERE etag = 'j2'") == [("0",)], r)
    # Enough rejects to pass the 1 MB buffer: the data COPY is ended and restarted.
    lines = ["id,v"]
    for i in range(1, 6001):
        lines.append(f"{i},ok" if i % 2 else f"{i},bad,{'x' * 400}")
    r = L.load("rj", "\n".join(lines) + "\n", etag="j3",
               extra=["--on-error", "skip_row", "--max-errors", "100000"])
    check("3000 rejects (1.2 MB): loads 3000 rows", r["result"] == "loaded" and
          r["rows"] == 3000 and r["rejected"] == 3000, r)
    check("3000 rejects recorded", st.psql(
        "SELECT count(*), min(line), max(line) FROM ingestd_rejects WHERE etag = 'j3'") ==
        [("3000", "3", "6001")])
    lines.append("6001,ok")
    lines.append("notint,ok")
    r = L.load("rj", "\n".join(lines) + "\n", etag="j4",
               extra=["--on-error", "skip_row", "--max-errors", "100000"])
    check("error after a mid-load rejects flush: right line, nothing kept",
          r["result"] == "error" and r.get("line") == 6003 and st.psql(
              "SELECT count(*) FROM ingestd_rejects WHERE etag = 'j4'") == [("0",)], r)


def test_escaping(st, L):
    st.psql("CREATE TABLE esc (id int, v text)")
    vals = ["tab\there", "back\\slash", "\\N", "\\.", "line1\nline2", "cr\rlf", "quote\"q",
            "ünïcødé ✓", "", "end\\"]
    text = "id,v\n" + "".join('%d,"%s"\n' % (i, v.replace('"', '""'))
                              for i, v in enumerate(vals)) + "99,\n"
    r = L.load("esc", text.encode(), etag="e1")
    got = st.psql("SELECT id, v FROM esc ORDER BY id")
    check("COPY escaping round trips", r["result"] == "loaded" and
          got == [(str(i), v) for i, v in enumerate(vals)] + [("99", None)], (r, got))


def test_identifiers(st, L):
    st.psql('CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."we""ird Tab" '
            '("Id" int PRIMARY KEY, "first name" text, "quo""te" text)')
    text = 'Id,first name,"quo""te"\n1,a,b\n1,c,d\n'
    r = L.load('"My Schema"."we""ird Tab"', text, mode="upsert", key="Id", etag="w1")
    check("weird identifiers: schema, spaces, quotes, case", r["result"] == "loaded" and
          st.psql('SELECT "Id", "first name", "quo""te" FROM "My Schema"."we""ird Tab"') ==
          [("1", "c", "d")], r)
    st.psql('CREATE TABLE "Upper Case" ("ID" int)')
    r = L.load("Upper Case", "id\n7\n", etag="w2")
    check("header matched case-insensitively, unqualified name with a space",
          r["result"] == "loaded" and st.psql('SELECT "ID" FROM "Upper Case"') == [("7",)], r)
    r = L.load('"My Schema"."we""ird Tab"', 'Id,first name,"quo""te"\n2,x,y\nz,x,y\n',
               etag="w3")
    check("error column name with a space reported", r["result"] == "error" and
          r.get("line") == 3 and r.get("column_name") == "Id", r)


def test_race(st, L):
    st.psql("CREATE TABLE race (id int)")
    path = L.file("id\n" + "".join(f"{i}\n" for i in range(1000)))
    procs = []
    for i in range(2):
        procs.append(subprocess.Popen(L.argv("race", path, etag="same", extra=[
            "--sleep-before-commit", "1500"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        time.sleep(0.3)
    outs = [json.loads(p.communicate(timeout=60)[0].decode().strip().splitlines()[-1])
            for p in procs]
    kinds = sorted(o["result"] for o in outs)
    check("two processes, one object: one loads, one already_loaded",
          kinds == ["already_loaded", "loaded"], outs)
    check("race: rows loaded once", count(st, "race") == 1000)

    # If the first racer fails, the second one (waiting on the ledger row) loads.
    bad = L.file("id\n1\n2\nnotint\n")
    good = L.file("id\n1\n2\n3\n")
    p1 = subprocess.Popen(L.argv("race", bad, etag="same2", extra=[
        "--sleep-before-commit", "1500"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    p2 = subprocess.Popen(L.argv("race", good, etag="same2"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    o1 = json.loads(p1.communicate(timeout=60)[0].decode().strip().splitlines()[-1])
    o2 = json.loads(p2.communicate(timeout=60)[0].decode().strip().splitlines()[-1])
    check("first racer fails, the waiting one loads", o1["result"] == "error" and
          o2["result"] == "loaded" and count(st, "race") == 1003, (o1, o2))


def test_sequencer(st, L):
    st.psql("CREATE TABLE seq (id int PRIMARY KEY, v text)")

    def up(v, etag, seq, mode="upsert"):
        path = L.file(f"id,v\n1,{v}\n", "seq.csv")   # one S3 key, several versions
        return L.load("seq", path, mode=mode, key="id", etag=etag, extra=["--sequencer", seq])

    def value():
        return st.psql("SELECT v FROM seq")[0][0]

    r = up("new", "s2", "0055AED6DCD90281E6")
    check("sequencer: newer version loads", r["result"] == "loaded" and value() == "new", r)
    r = up("old", "s1", "0055AED6DCD90281E5")
    check("sequencer: a late older event is skipped as already loaded",
          r["result"] == "already_loaded" and value() == "new" and ledger(st, "s1") == [], r)
    r = up("longer", "s3", "0055AED6DCD90281E6AB")
    check("sequencer: longer and greater after right padding loads",
          r["result"] == "loaded" and value() == "longer", r)
    r = up("shorter", "s4", "0055AED6DCD90281E7")
    check("sequencer: shorter but greater after padding loads",
          r["result"] == "loaded" and value() == "shorter", r)
    r = up("lower", "s5", "0055aed6dcd90281e6ff")
    check("sequencer: lower-case hex compared as hex", r["result"] == "already_loaded" and
          value() == "shorter", r)
    r = up("replace", "s6", "0055AED6DCD90281E0", mode="replace")
    check("sequencer: replace mode skips an older event too",
          r["result"] == "already_loaded" and value() == "shorter", r)


def test_outage(st, L):
    st.psql("CREATE TABLE outage (id int)")
    path = L.file("id\n1\n2\n")
    p = subprocess.Popen(L.argv("outage", path, extra=["--stdin-loads"]), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def one(etag):
        p.stdin.write((etag + "\n").encode())
        p.stdin.flush()
        return json.loads(p.stdout.readline().decode())

    r1 = one("o1")
    st.pg_stop()
    r2 = one("o2")
    st.pg_start()
    r3 = one("o2")
    p.stdin.close()
    p.wait(timeout=30)
    check("before the outage: loads", r1["result"] == "loaded", r1)
    check("PostgreSQL stopped: transient error", r2["result"] == "error" and
          r2["class"] == "transient", r2)
    check("after the restart the same sink reconnects and loads", r3["result"] == "loaded" and
          count(st, "outage") == 4, r3)


def test_check(st, L):
    p = subprocess.run([PGLOAD, "--conninfo", st.pg_conninfo, "--check"], capture_output=True,
                       timeout=60)
    check("check(): connects and reports the server version", p.returncode == 0 and
          b"PostgreSQL 15" in p.stderr, p.stderr.decode()[-500:])
    p = subprocess.run([PGLOAD, "--conninfo", f"host=127.0.0.1 port={st.pg_port} dbname=ingest "
                        "user=ingest password=wrong", "--check"], capture_output=True, timeout=60)
    check("check(): wrong password is a config error", p.returncode == 1 and
          b'"config"' in p.stdout, p.stdout + p.stderr)


def test_least_privilege(st, L):
    # A role that may not create tables: the ledger and rejects tables made by an
    # administrator are used as they are.
    st.psql("CREATE TABLE lp (id int)")
    st.psql("CREATE ROLE loader LOGIN PASSWORD 'lp-pass'; "
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO loader; "
            "GRANT SELECT, INSERT, UPDATE ON ingestd_ledger, ingestd_rejects, lp TO loader",
            superuser=True)
    ci = f"host=127.0.0.1 port={st.pg_port} dbname=ingest user=loader password=lp-pass"
    r = L.load("lp", "id\n1\n", etag="lp1", conninfo=ci)
    check("role without CREATE loads with existing ledger tables",
          r["result"] == "loaded" and count(st, "lp") == 1, r)
    r = L.load("lp_new", "id\n1\n", etag="lp2", conninfo=ci, extra=["--create-table"])
    check("role without CREATE: create_table fails as permanent", r["result"] == "error" and
          r["class"] == "permanent" and "42501" in r["reason"], r)


def test_passwords(st, L):
    st.psql("CREATE TABLE pw (id int)")
    base = " ".join(w for w in st.pg_conninfo.split() if not w.startswith("password="))
    pwf = st.path("pg.pass")
    with open(pwf, "w") as f:
        f.write("  " + st.pg_password + "  \n# second line ignored\n")
    path = L.file("id\n1\n")
    r = L.load("pw", path, conninfo=base, extra=["--password-file", pwf])
    check("password_file (first line, trimmed)", r["result"] == "loaded", r)
    r = L.load("pw", path, conninfo=base, extra=["--password-file", st.path("nope.pass")])
    check("unreadable password_file: config error naming the file",
          r["result"] == "error" and r["class"] == "config" and "nope.pass" in r["stderr"] and
          "No such file" in r["stderr"], r)
    r = L.load("pw", path, conninfo=base + " password=wrong")
    check("wrong password: config error", r["result"] == "error" and r["class"] == "config", r)
    r = L.load("pw", path, conninfo=f"host=127.0.0.1 port={st.pg_port + 0} dbname=nodb "
               f"user=ingest password={st.pg_password}")
    check("unknown database: config error", r["class"] == "config", r)


def main():
    if not os.path.exists(PGLOAD):
        print(f"# {PGLOAD} not built")
        return 1 if IN_CI else 77
    try:
        with Stack(moto=False, postgres=True) as st:
            L = Loader(st)
            for t in (test_append_and_ledger, test_upsert, test_upsert_merge,
                      test_upsert_unchanged, test_replace,
                      test_create_table,
                      test_type_errors, test_rejects, test_escaping, test_identifiers,
                      test_race, test_sequencer, test_outage, test_check, test_least_privilege,
                      test_passwords):
                try:
                    t(st, L)
                except (StackError, subprocess.SubprocessError, ValueError, KeyError) as e:
                    check(t.__name__ + " ran to the end", False, repr(e))
            check("no sanitizer reports from pgload", not L.sanitizer_reports,
                  "\n".join(L.sanitizer_reports)[-3000:])
    except StackError as e:
        print(f"# stack: {e}")
        return 1 if IN_CI else 77
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

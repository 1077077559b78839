#!/usr/bin/env python3
"""CSV edge cases end to end, against what the databases' own loaders make of the same file.

Each object is put into moto's S3 and loaded with `ingestd load`; the same bytes, from local
disk, go through `psql \\copy ... (FORMAT csv)` into PostgreSQL and `LOAD DATA LOCAL INFILE`
into MariaDB, and the tables must hold the same rows in the same order:

  - blank lines in a one-column file are records of one empty field (RFC 4180): NULL under
    the default null, as psql's \\copy loads them; the empty string with null = "\\N", as
    LOAD DATA loads them. LF and CRLF; a final newline is no blank line;
  - in a wider file blank lines are skipped, and the load's line (`ingestd load`'s and the
    daemon's log, with BLANK_LINES=) says how many;
  - with header = true and columns, the header's fields are mapped by name (`bar,foo` under
    columns = foo, bar is not swapped), as psql's \\copy and LOAD DATA do with a column list;
    a header naming other columns is refused naming the first one, and nothing is loaded;
  - renaming by position: header = false, skip_lines = 1, columns (a bank export);
  - a JSON array written over several lines: the error names the member's line;
  - configuration traps refused by --check-config: `delimiter = ;` and skip_row without
    max_errors.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route pg_one]
sink = pg
match_prefix = pg/one/
table = one_ing
header = false
columns = v

[route pg_wide]
sink = pg
match_prefix = pg/wide/
table = wide_ing
header = false
columns = a, b

[route pg_named]
sink = pg
match_prefix = pg/named/
table = named_ing
columns = foo, bar

[route pg_three]
sink = pg
match_prefix = pg/three/
table = three
columns = foo, bar, baz

[route pg_txns]
sink = pg
match_prefix = pg/txns/
table = txns_ing
header = false
skip_lines = 1
columns = txn_date, description, amount

[route pg_json]
sink = pg
match_prefix = pg/json/
format = json
table = named_ing

[route my_one]
sink = mysql
match_prefix = my/one/
table = one_ing
header = false
columns = v
null = "\\N"

[route my_wide]
sink = mysql
match_prefix = my/wide/
table = wide_ing
header = false
columns = a, b
null = "\\N"

[route my_named]
sink = mysql
match_prefix = my/named/
table = named_ing
columns = foo, bar
"""

# One-column files: (name, bytes). Every blank line is a record.
ONE_COLUMN = [
    ("foo-blank", b"foo\n\n"),
    ("two-blank", b"\n\n"),
    ("crlf", b"foo\r\n\r\nbar\r\n"),
    ("no-final-newline", b"foo\n\nbar"),
    ("several", b"a\n\n\nb\n\"\"\n"),
    ("final-newline-only", b"foo\nbar\n"),
]

TXNS = b"Date,Description,Amount\n2024-01-02,Coffee,-3.50\n2024-01-03,Salary,2500.00\n"


def load(st, conf, key, body):
    st.put_object("inbox", key, body)
    return run(["load", "-c", conf, f"s3://inbox/{key}"], env=st.env())


def write(st, name, body):
    path = st.path(name)
    with open(path, "wb") as f:
        f.write(body)
    return path


def pg_rows(st, table, cols="v"):
    return st.psql(f"SELECT {cols} FROM {table} ORDER BY n")


def my_rows(st, table, cols=("v",)):
    # NULL and '' apart, and no empty output line for a row of one empty string
    shown = ", ".join(f"IF({c} IS NULL, 'NULL', CONCAT('<', {c}, '>'))" for c in cols)
    return st.mysql(f"SELECT {shown} FROM {table} ORDER BY n")


def load_data(path, table, cols, crlf=False, ignore=0):
    term = "\\r\\n" if crlf else "\\n"
    return (f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '{term}' "
            f"IGNORE {ignore} LINES ({cols})")


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox")
        for t in ("one_ref", "one_ing"):
            st.psql(f"CREATE TABLE {t} (n serial PRIMARY KEY, v text)")
            st.mysql(f"CREATE TABLE {t} (n INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
        for t in ("wide_ref", "wide_ing"):
            st.psql(f"CREATE TABLE {t} (n serial PRIMARY KEY, a text, b text)")
            st.mysql(f"CREATE TABLE {t} (n INT AUTO_INCREMENT PRIMARY KEY, a VARCHAR(20), "
                     "b VARCHAR(20))")
        for t in ("named_ref", "named_ing"):
            st.psql(f"CREATE TABLE {t} (n serial PRIMARY KEY, foo text, bar text)")
            st.mysql(f"CREATE TABLE {t} (n INT AUTO_INCREMENT PRIMARY KEY, foo VARCHAR(20), "
                     "bar VARCHAR(20))")
        st.psql("CREATE TABLE three (foo text, bar text, baz text)")
        for t in ("txns_ref", "txns_ing"):
            st.psql(f"CREATE TABLE {t} (n serial PRIMARY KEY, txn_date date, description text, "
                    "amount numeric(12,2))")
        conf = st.ingestd_config(ROUTES, workers=1)

        def one_column_blank_lines_pg():
            for name, body in ONE_COLUMN:
                st.psql("TRUNCATE one_ref, one_ing")
                path = write(st, f"{name}.csv", body)
                st.psql(f"\\copy one_ref (v) FROM '{path}' WITH (FORMAT csv)\n")
                rc, out, err = load(st, conf, f"pg/one/{name}.csv", body)
                assert rc == 0, (name, rc, out, err)
                want, got = pg_rows(st, "one_ref"), pg_rows(st, "one_ing")
                assert got == want, (name, "psql \\copy", want, "ingestd", got)
                assert "blank line" not in out, (name, out)
            # the cases the contract spells out
            st.psql("TRUNCATE one_ing")
            load(st, conf, "pg/one/again-foo-blank.csv", b"foo\n\n")
            assert pg_rows(st, "one_ing") == [("foo",), (None,)], pg_rows(st, "one_ing")

        def one_column_blank_lines_mysql():
            for name, body in ONE_COLUMN:
                st.mysql("TRUNCATE one_ref; TRUNCATE one_ing")
                path = write(st, f"{name}.csv", body)
                st.mysql(load_data(path, "one_ref", "v", crlf=b"\r\n" in body))
                rc, out, err = load(st, conf, f"my/one/{name}.csv", body)
                assert rc == 0, (name, rc, out, err)
                want, got = my_rows(st, "one_ref"), my_rows(st, "one_ing")
                assert got == want, (name, "LOAD DATA", want, "ingestd", got)
            st.mysql("TRUNCATE one_ing")
            load(st, conf, "my/one/again-two-blank.csv", b"\n\n")
            assert my_rows(st, "one_ing") == [("<>",), ("<>",)], my_rows(st, "one_ing")

        def wide_blank_lines_skipped_and_counted():
            body = b"1,x\n\n2,y\r\n\r\n3,z\n"
            dense = b"".join(ln + b"\n" for ln in body.replace(b"\r", b"").split(b"\n") if ln)
            path = write(st, "wide-dense.csv", dense)
            st.psql(f"\\copy wide_ref (a, b) FROM '{path}' WITH (FORMAT csv)\n")
            rc, out, err = load(st, conf, "pg/wide/w.csv", body)
            assert rc == 0 and "3 rows" in out and "2 blank lines skipped" in out, (rc, out, err)
            want, got = pg_rows(st, "wide_ref", "a, b"), pg_rows(st, "wide_ing", "a, b")
            assert got == want == [("1", "x"), ("2", "y"), ("3", "z")], (want, got)
            st.mysql(load_data(path, "wide_ref", "a, b"))
            rc, out, err = load(st, conf, "my/wide/w.csv", body)
            assert rc == 0 and "2 blank lines skipped" in out, (rc, out, err)
            assert my_rows(st, "wide_ing", ("a", "b")) == my_rows(st, "wide_ref", ("a", "b"))
            # the daemon's log line: the count in the text and as BLANK_LINES
            q, _ = st.make_queue("wide", dlq=True, max_receive=3, visibility=20)
            st.make_bucket("daemonrun", notify_queue_url=q)
            st.purge(q)
            dconf = st.ingestd_config(ROUTES, name="daemon.conf", queue_url=q, workers=1)
            st.put_object("daemonrun", "pg/wide/d.csv", b"7,p\n\n\n\n8,q\n")
            rc, out, err = run(["--exit-when-idle", "-c", dconf], env=st.env(), timeout=120)
            line = [ln for ln in err.splitlines() if "loaded s3://daemonrun/pg/wide/d.csv" in ln]
            assert rc == 0 and len(line) == 1, (rc, err[-3000:])
            assert "3 blank lines skipped" in line[0] and "BLANK_LINES=3" in line[0], line

        def header_fields_mapped_by_name():
            body = b"bar,foo\n1,2\n"
            path = write(st, "named.csv", body)
            st.psql(f"\\copy named_ref (bar, foo) FROM '{path}' WITH (FORMAT csv, HEADER true)\n")
            rc, out, err = load(st, conf, "pg/named/n.csv", body)
            assert rc == 0, (rc, out, err)
            got = pg_rows(st, "named_ing", "foo, bar")
            assert got == pg_rows(st, "named_ref", "foo, bar") == [("2", "1")], got
            st.mysql(load_data(path, "named_ref", "bar, foo", ignore=1))
            rc, out, err = load(st, conf, "my/named/n.csv", body)
            assert rc == 0, (rc, out, err)
            got = my_rows(st, "named_ing", ("foo", "bar"))
            assert got == my_rows(st, "named_ref", ("foo", "bar")) == [("<2>", "<1>")], got

        def header_naming_other_columns_is_refused():
            rc, out, err = load(st, conf, "pg/three/q.csv", b"qux,quux,quuz\n1,2,3\n")
            assert rc == 3 and "permanent failure" in err, (rc, out, err)
            assert 'column 1 is "qux"' in err and 'lacks "foo"' in err, err
            assert st.psql("SELECT count(*) FROM three") == [("0",)]
            rc, out, err = load(st, conf, "my/named/bad.csv", b"foo,baz\n1,2\n")
            assert rc == 3 and 'column 2 is "baz"' in err and 'lacks "bar"' in err, (rc, err)

        def positional_rename_of_a_bank_export():
            path = write(st, "txns.csv", TXNS)
            st.psql(f"\\copy txns_ref (txn_date, description, amount) FROM '{path}' "
                    "WITH (FORMAT csv, HEADER true)\n")
            rc, out, err = load(st, conf, "pg/txns/txns.csv", TXNS)
            assert rc == 0 and "2 rows" in out, (rc, out, err)
            cols = "txn_date, description, amount"
            got = pg_rows(st, "txns_ing", cols)
            assert got == pg_rows(st, "txns_ref", cols) == [
                ("2024-01-02", "Coffee", "-3.50"), ("2024-01-03", "Salary", "2500.00")], got

        def json_error_names_the_member_line():
            body = (b'[\n  {\n    "foo": "1",\n    "bar": "2"\n  },\n  {\n    "foo": "3",\n'
                    b'    "bar": "4",\n    "extra": true\n  }\n]\n')
            rc, out, err = load(st, conf, "pg/json/pretty.json", body)
            assert rc == 3 and "line 9" in err and 'unknown field "extra"' in err, (rc, err)
            assert "line 6" not in err, err

        def config_traps_refused_at_check():
            text = open(conf).read()
            bad = st.write_config(text.replace("[route pg_wide]\nsink = pg\n",
                                               "[route pg_wide]\nsink = pg\ndelimiter = ;\n"),
                                  name="semicolon.conf")
            rc, out, err = run(["--check-config", "-c", bad], env=st.env())
            assert rc == 1 and 'delimiter: empty value' in err and 'delimiter = ";"' in err, \
                (rc, err)
            bad = st.write_config(text.replace("[route pg_wide]\nsink = pg\n",
                                               "[route pg_wide]\nsink = pg\non_error = skip_row\n"),
                                  name="skiprow.conf")
            rc, out, err = run(["--check-config", "-c", bad], env=st.env())
            assert rc == 1 and "on_error = skip_row needs max_errors >= 1" in err, (rc, err)

        c.check("one-column file: blank lines load as psql \\copy loads them (NULL)",
                one_column_blank_lines_pg)
        c.check("one-column file: blank lines load as LOAD DATA loads them (null = \\N)",
                one_column_blank_lines_mysql)
        c.check("wider file: blank lines skipped and counted in the load's line",
                wide_blank_lines_skipped_and_counted)
        c.check("header bar,foo with columns foo, bar: mapped by name, as psql and LOAD DATA",
                header_fields_mapped_by_name)
        c.check("header qux,quux,quuz: refused naming qux, nothing loaded",
                header_naming_other_columns_is_refused)
        c.check("header = false + skip_lines = 1 + columns renames a bank export by position",
                positional_rename_of_a_bank_export)
        c.check("JSON array over several lines: the error names the member's line",
                json_error_names_the_member_line)
        c.check("--check-config refuses delimiter = ; and skip_row without max_errors",
                config_traps_refused_at_check)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

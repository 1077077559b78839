#!/usr/bin/env python3
"""A lock another session holds on the target: shutdown in time, lock_timeout, exactly once.

For PostgreSQL (a psql session holding ACCESS EXCLUSIVE through LOCK TABLE) and MariaDB (a
mariadb client session holding LOCK TABLES ... WRITE), against the running daemon:

- SIGTERM while a load waits for the lock, with shutdown_timeout = 2 and a long
  lock_timeout: the daemon exits 0 within shutdown_timeout + 4 s (the waiting statement is
  cancelled: PQcancel / KILL QUERY), nothing is committed, the message is visible again at
  once, and once the lock is gone a new daemon loads the object exactly once (one ledger
  row, no DLQ report);
- lock_timeout = 2: the waiting load fails as transient ("lock timeout", retried with
  backoff) instead of waiting; once the lock is released the retry loads the object
  exactly once, with no DLQ report.
"""

import json
import os
import subprocess
import sys
import time
from urllib.parse import unquote_plus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary, run  # noqa: E402
from faults import dlq_reports, sanitizer_report, stop_cleanly, wait_until  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import _c_env  # noqa: E402

SHUTDOWN_TIMEOUT = 2
EXIT_SLACK = 4

ROUTES = """
[route pglocked]
sink = pg
match_prefix = pglocked/
table = locked

[route mylocked]
sink = mysql
match_prefix = mylocked/
table = locked
"""


class PgHolder:
    """A psql session that takes ACCESS EXCLUSIVE on a table and keeps it until release()."""

    name = "PostgreSQL"

    def __init__(self, st, table):
        self.st = st
        self.table = table
        self.proc = None

    def hold(self):
        self.proc = subprocess.Popen(
            ["psql", f"host=127.0.0.1 port={self.st.pg_port} dbname=ingest user=ingest",
             "-X", "-q", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=_c_env({"PGPASSWORD": self.st.pg_password}))
        self.proc.stdin.write(f"BEGIN;\nLOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE;\n"
                              .encode())
        self.proc.stdin.flush()
        wait_until(lambda: self.st.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            f"WHERE c.relname = '{self.table}' AND l.mode = 'AccessExclusiveLock' "
            "AND l.granted", superuser=True) == [("1",)], 20, "the lock")

    def waiting(self):
        """True while an ingestd statement waits for a lock."""
        return self.st.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                            "= 'ingestd' AND wait_event_type = 'Lock'",
                            superuser=True) != [("0",)]

    def release(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.write(b"COMMIT;\n")
            self.proc.stdin.close()
            self.proc.wait(20)
        self.proc = None

    def count(self):
        return int(self.st.psql(f"SELECT count(*) FROM {self.table}")[0][0])

    def ledger(self, key):
        return self.st.psql(f"SELECT rows FROM ingestd_ledger WHERE key = '{key}'")


class MyHolder(PgHolder):
    """A mariadb client session holding LOCK TABLES ... WRITE."""

    name = "MariaDB"

    def hold(self):
        self.proc = subprocess.Popen(
            ["mariadb", f"--defaults-file={self.st.path('mysql-client.cnf')}", "--batch",
             "--unbuffered", "--skip-column-names"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_c_env())
        self.proc.stdin.write(f"LOCK TABLES {self.table} WRITE;\nSELECT 'held';\n".encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.strip() == b"held", line

    def waiting(self):
        return self.st.mysql("SELECT count(*) FROM information_schema.PROCESSLIST WHERE "
                             "USER = 'ingest' AND STATE LIKE '%lock%' AND INFO NOT LIKE "
                             "'%PROCESSLIST%'", root=True) != [("0",)]

    def release(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.write(b"UNLOCK TABLES;\n")
            self.proc.stdin.close()
            self.proc.wait(20)
        self.proc = None

    def count(self):
        return int(self.st.mysql(f"SELECT count(*) FROM {self.table}")[0][0])

    def ledger(self, key):
        return self.st.mysql(f"SELECT `rows` FROM ingestd_ledger WHERE `key` = '{key}'")


def sinks_text(st, lock_timeout):
    return "\n".join([
        "[sink pg]", "type = postgres",
        f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest",
        f"password = {st.pg_password}", f"lock_timeout = {lock_timeout}", "",
        "[sink mysql]", "type = mysql", "host = 127.0.0.1", f"port = {st.mysql_port}",
        f"user = {st.mysql_user}", f"database = {st.mysql_database}",
        f"password = {st.mysql_password}", f"lock_timeout = {lock_timeout}", ""])


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=30, visibility=30)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE locked (id bigint, payload text)")
        st.mysql("CREATE TABLE locked (id bigint, payload text)")
        # Create the ledgers first, so the locked loads wait on the target alone.
        st.psql("CREATE TABLE warm (id int)")
        st.mysql("CREATE TABLE warm (id int)")
        warm = st.ingestd_config("[route warm]\nsink = pg\nmatch_prefix = warm/pg/\n"
                                 "table = warm\n[route warmmy]\nsink = mysql\n"
                                 "match_prefix = warm/my/\ntable = warm\n",
                                 name="warm.conf", queue_url=q, dlq_url=dlq,
                                 sinks=sinks_text(st, 60))
        st.put_object("inbox", "warm/pg/a.csv", "id\n1\n")
        st.put_object("inbox", "warm/my/a.csv", "id\n1\n")
        rc, _, err = run(["--exit-when-idle", "-c", warm], env=st.env(), timeout=120)
        assert rc == 0, err[-3000:]
        common = dict(queue_url=q, dlq_url=dlq, workers=2, wait_time_seconds=1,
                      visibility_timeout=30, log_level="info")
        long_conf = st.ingestd_config(ROUTES, name="long.conf", sinks=sinks_text(st, 600),
                                      **common)
        short_conf = st.ingestd_config(ROUTES, name="short.conf", sinks=sinks_text(st, 2),
                                       **common)
        for path in (long_conf, short_conf):
            text = open(path).read().replace(
                "[ingestd]\n", f"[ingestd]\nshutdown_timeout = {SHUTDOWN_TIMEOUT}\n", 1)
            with open(path, "w") as f:
                f.write(text)
        rows = "id,payload\n" + "".join(f"{i},row {i}\n" for i in range(1, 101))

        def visible_now(key):
            """Receives at once (visibility 0: left visible) the messages naming key."""
            got = st.client("sqs").receive_message(QueueUrl=q, MaxNumberOfMessages=10,
                                                   WaitTimeSeconds=1, VisibilityTimeout=0)
            out = []
            for m in got.get("Messages", []):
                body = json.loads(m["Body"])
                keys = [unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", [])]
                if key in keys:
                    out.append(m)
            return out

        def shutdown_while_waiting(holder, prefix):
            def run_it():
                key = f"{prefix}/shutdown.csv"
                holder.hold()
                d = None
                try:
                    with NotifySocket(st.tmp) as ns:
                        d = Ingestd(long_conf, st.env(ns.env()),
                                    st.path(f"{prefix}-shutdown.log"))
                        ns.expect("READY=1", timeout=30)
                        st.put_object("inbox", key, rows)
                        wait_until(holder.waiting, 30, f"an ingestd statement waiting on the "
                                   f"{holder.name} lock")
                        time.sleep(0.5)
                        t0 = time.monotonic()
                        d.signal(15)
                        status = d.wait(SHUTDOWN_TIMEOUT + 30)
                        took = time.monotonic() - t0
                    log = d.log_text()
                    print(f"# {holder.name}: SIGTERM to exit {took:.2f} s with a lock held "
                          f"(shutdown_timeout {SHUTDOWN_TIMEOUT})", flush=True)
                    assert status == 0, f"exit status {status}: {log[-2000:]}"
                    assert took <= SHUTDOWN_TIMEOUT + EXIT_SLACK, f"exit took {took:.2f} s"
                    assert sanitizer_report(log) is None, sanitizer_report(log)
                    assert "cancelled: rolled back" in log, log[-3000:]
                    assert not holder.waiting(), "a statement still waits after the exit"
                    back = visible_now(key)
                    assert len(back) == 1, f"the message is not visible again: {back}"
                finally:
                    holder.release()
                    if d:
                        d.kill()
                assert holder.count() == 0, "rows committed by a cancelled load"
                assert holder.ledger(key) == []
                # A new daemon loads it once, now that the lock is gone.
                rc, _, err = run(["--exit-when-idle", "-c", long_conf], env=st.env(),
                                 timeout=120)
                assert rc == 0, err[-3000:]
                assert holder.count() == 100, holder.count()
                assert holder.ledger(key) == [("100",)], holder.ledger(key)
                assert dlq_reports(st, dlq) == []
                assert st.queue_count(q) == 0
            return run_it

        def lock_timeout_is_transient(holder, prefix):
            def run_it():
                key = f"{prefix}/timeout.csv"
                before = holder.count()
                holder.hold()
                d = None
                try:
                    d = Ingestd(short_conf, st.env(), st.path(f"{prefix}-timeout.log"))
                    d.wait_for_log("ready", timeout=30)
                    st.put_object("inbox", key, rows)
                    d.wait_for_log(f"transient failure loading s3://inbox/{key}", timeout=30)
                    log = d.log_text()
                    assert "lock" in log.split(f"transient failure loading s3://inbox/{key}")[1]\
                        .split("\n")[0].lower(), log[-2000:]
                    assert "will be retried in" in log, log[-2000:]
                    holder.release()
                    wait_until(lambda: holder.count() == before + 100, 60,
                               "the retried load")
                    time.sleep(1)
                    assert holder.count() == before + 100
                    assert holder.ledger(key) == [("100",)], holder.ledger(key)
                    assert dlq_reports(st, dlq) == []
                    wait_until(lambda: st.queue_count(q) == 0, 30, "an empty queue")
                    stop_cleanly(d)
                finally:
                    holder.release()
                    if d:
                        d.kill()
            return run_it

        pg = PgHolder(st, "locked")
        my = MyHolder(st, "locked")
        c.check(f"PostgreSQL: SIGTERM while a load waits on ACCESS EXCLUSIVE exits within "
                f"{SHUTDOWN_TIMEOUT}+{EXIT_SLACK} s; message back, later loaded once",
                shutdown_while_waiting(pg, "pglocked"))
        c.check(f"MariaDB: SIGTERM while a load waits on LOCK TABLES WRITE exits within "
                f"{SHUTDOWN_TIMEOUT}+{EXIT_SLACK} s; message back, later loaded once",
                shutdown_while_waiting(my, "mylocked"))
        c.check("PostgreSQL: lock_timeout = 2 fails the load as transient; retried and loaded "
                "once after the lock is released", lock_timeout_is_transient(pg, "pglocked"))
        c.check("MariaDB: lock_timeout = 2 fails the load as transient; retried and loaded "
                "once after the lock is released", lock_timeout_is_transient(my, "mylocked"))
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""PostgreSQL failing under a running daemon: crash-restarts mid-load, an unreadable password.

- PostgreSQL stopped in immediate mode (a crash: no checkpoint, recovery at start) and started
  again, each time while a COPY runs, as 20 files of about 2 MB load. Interrupted loads roll
  back, fail as transient, come back and load: every row exactly once, one ledger row per
  object, main queue empty, no DLQ report. (MariaDB: test_faults_mysql.py.)
- password_file that cannot be read: the load fails with an error naming the file, classed
  "config" (retried, never reported to the DLQ), nothing is loaded; once the file is fixed the
  next attempt loads it, without a restart or a reload.
INGESTD_LONG=1: 10 restarts over 60 files.
"""

import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from faults import (LONG, Pg, crash_restarts, csv_rows, dlq_reports,  # noqa: E402
                    stop_cleanly, wait_until)
from stack import Stack  # noqa: E402

FILES = 60 if LONG else 20
RESTARTS = 10 if LONG else 3
ROWS = 30_000              # about 2 MB a file

ROUTES = """
[route pgrows]
sink = pg
match_prefix = pg/
table = items

[route secret]
sink = pgfile
match_prefix = pwfile/
table = pwitems
"""


def main():
    require_binary()
    c = Checks()
    # Committed must mean durable across a server crash: synchronous_commit (off in the stack
    # for speed) would lose the last commits, which no client could prevent.
    with Stack(moto=True, postgres=True, pg_options={"synchronous_commit": "on"}) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=20, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        pwfile = st.path("pg-password")
        pgfile = ("[sink pgfile]\ntype = postgres\n"
                  f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest\n"
                  f"password_file = {pwfile}\n")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=10,
                                 log_level="info", extra=pgfile)
        d = Ingestd(conf, st.env(), st.path("db.log"))

        def unreadable_password_file():
            st.psql("DROP TABLE IF EXISTS pwitems; CREATE TABLE pwitems (id bigint, payload text)")
            # Unreadable for root too: a directory opens but cannot be read as a file.
            if os.geteuid() == 0:
                os.mkdir(pwfile)
            else:
                with open(pwfile, "w") as f:
                    f.write(st.pg_password + "\n")
                os.chmod(pwfile, 0)
            log_before = len(d.log_text())
            st.put_object("inbox", "pwfile/a.csv", csv_rows(0, 300))
            wait_until(lambda: "password_file" in d.log_text()[log_before:], 60,
                       "the password_file error")
            log = d.log_text()[log_before:]
            line = next(ln for ln in log.splitlines() if "password_file" in ln)
            assert pwfile in line and "config failure" in line and "ERROR_CLASS=config" in line, \
                line
            assert re.search(r"(Is a directory|Permission denied)", line), line
            assert int(st.psql("SELECT count(*) FROM pwitems")[0][0]) == 0
            assert dlq_reports(st, dlq) == [], "a configuration problem went to the DLQ"
            assert st.queue_count(q) == 1, "the message must stay for a retry"
            # Fix it in place: the file is read when a connection opens.
            if os.path.isdir(pwfile):
                shutil.rmtree(pwfile)
            else:
                os.unlink(pwfile)
            with open(pwfile, "w") as f:
                f.write(st.pg_password + "\n")
            os.chmod(pwfile, 0o600)
            wait_until(lambda: int(st.psql("SELECT count(*) FROM pwitems")[0][0]) > 0 and
                       st.queue_count(q) == 0, 90, "the load after the fix")
            time.sleep(0.5)
            assert st.psql("SELECT count(*), count(DISTINCT id) FROM pwitems") == [("300", "300")]
            assert Pg(st, "pwitems").ledger("pwfile/") == {"pwfile/a.csv": 1}
            assert d.alive()

        try:
            d.wait_for_log("ready", timeout=30)
            only = os.environ.get("ONLY", "")
            if only in ("", "pg"):
                c.check(f"PostgreSQL crash-restarted {RESTARTS}x during {FILES} loads: every "
                        "row once, no DLQ report",
                        lambda: crash_restarts(st, d, Pg(st, "items"), q, dlq, "pg/", FILES,
                                               ROWS, RESTARTS))
            if only in ("", "pw"):
                c.check("unreadable password_file: config error naming the file, nothing "
                        "loaded, loads once fixed without a restart", unreadable_password_file)
            c.check("SIGTERM: exit status 0, no sanitizer report", lambda: stop_cleanly(d))
        finally:
            d.kill()
            if c.failed:
                print(d.log_text()[-8000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

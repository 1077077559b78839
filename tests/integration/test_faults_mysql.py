#!/usr/bin/env python3
"""MariaDB crashing under a running daemon: killed mid-load and restarted, every row once.

MariaDB is killed with SIGKILL (InnoDB recovers at start) and started again, each time while a
LOAD DATA runs, as 20 files of about 2 MB load (INGESTD_LONG=1: 10 kills over 60 files).
Interrupted loads roll back, fail as transient, come back and load: every row exactly once,
one ledger row per object, main queue empty, no DLQ report; SIGTERM exits 0.
(PostgreSQL: test_faults_db.py.)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from faults import LONG, My, crash_restarts, stop_cleanly  # noqa: E402
from stack import Stack  # noqa: E402

FILES = 60 if LONG else 20
RESTARTS = 10 if LONG else 3
ROWS = 30_000              # about 2 MB a file

ROUTES = """
[route myrows]
sink = mysql
match_prefix = my/
table = items
"""


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, mariadb=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=20, visibility=10)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, visibility_timeout=10,
                                 log_level="info")
        d = Ingestd(conf, st.env(), st.path("mysql.log"))
        try:
            d.wait_for_log("ready", timeout=30)
            c.check(f"MariaDB killed and restarted {RESTARTS}x during {FILES} loads: every row "
                    "once, no DLQ report",
                    lambda: crash_restarts(st, d, My(st, "items"), q, dlq, "my/", FILES, ROWS,
                                           RESTARTS))
            c.check("SIGTERM: exit status 0, no sanitizer report", lambda: stop_cleanly(d))
        finally:
            d.kill()
            if c.failed:
                print(d.log_text()[-8000:], file=sys.stderr)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The running daemon's lifecycle: sd_notify protocol, reload, watchdog, stop, command line.

Runs ingestd against moto (exact SigV4 checking) and PostgreSQL from tests/stack.py and plays
systemd's side of sd_notify through a NOTIFY_SOCKET it creates.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route orders]
sink = pg
match_prefix = orders/
table = {basename}
"""


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        st.make_queue("events", dlq=True, max_receive=3)
        conf = st.ingestd_config(ROUTES, workers=2)
        bad = st.write_config(open(conf).read().replace("workers = 2", "workers = many"),
                              name="bad.conf")

        def version():
            rc, out, _ = run(["--version"])
            assert rc == 0 and out.startswith("ingestd "), (rc, out)

        def help_and_usage():
            rc, out, _ = run(["--help"])
            assert rc == 0 and "--check-config" in out, rc
            rc, _, err = run(["--no-such-option"])
            assert rc == 2, rc
            rc, _, err = run(["frobnicate"])
            assert rc == 2 and "unknown command" in err, (rc, err)

        def check_config():
            rc, out, err = run(["--check-config", "-c", conf])
            assert rc == 0 and "configuration is valid" in out, (rc, out, err)
            rc, out, err = run(["--check-config", "-c", bad])
            assert rc == 1, rc
            line = next(i + 1 for i, t in enumerate(open(bad)) if t.startswith("workers"))
            assert f"bad.conf:{line}:" in err and "workers" in err, err
            rc, _, err = run(["--check-config", "-c", st.path("missing.conf")])
            assert rc == 1 and "missing.conf" in err, (rc, err)

        def preflight():
            rc, out, err = run(["check", "-c", conf], env=st.env())
            assert rc == 0, (rc, out, err)
            assert "ok   credentials: config" in out, out
            assert "redrive to arn:aws:sqs:" in out and "after 3 receives" in out, out
            assert "ok   dlq:" in out and "ok   sink pg:" in out, out
            assert st.secret_access_key not in out + err
            broken = st.write_config(open(conf).read().replace(
                f"password = {st.pg_password}", "password = wrong"), name="broken.conf")
            rc, out, err = run(["check", "-c", broken], env=st.env())
            assert rc == 3 and "FAIL sink pg:" in out, (rc, out, err)
            assert "wrong" not in out + err, "a password was printed"

        c.check("--version", version)
        c.check("ingestd check: credentials, queue with redrive, DLQ, sinks", preflight)
        c.check("--help and usage errors", help_and_usage)
        c.check("--check-config good, bad (names the line), missing", check_config)

        with NotifySocket(st.tmp) as ns:
            d = Ingestd(conf, env=st.env(ns.env(watchdog_usec=1_000_000)),
                        log=st.path("ingestd.log"))
            try:
                def ready():
                    ns.expect("READY=1", timeout=20)
                    ns.expect("STATUS=", timeout=5)

                def watchdog():
                    first = ns.expect("WATCHDOG=1", timeout=3)
                    ns.expect("WATCHDOG=1", timeout=3, start=first + 1)

                def reload_good():
                    start = len(ns.messages)
                    with open(conf, "a") as f:
                        f.write("\n[route extra]\nsink = pg\nmatch_prefix = extra/\n")
                    d.signal(signal.SIGHUP)
                    i = ns.expect("RELOADING=1", timeout=10, start=start)
                    ns.expect("MONOTONIC_USEC=", timeout=5, start=i)
                    ns.expect("READY=1", timeout=10, start=i)
                    d.wait_for_log("configuration reloaded", timeout=10)
                    assert "2 routes" in d.log_text()

                def reload_bad_keeps_running():
                    start = len(ns.messages)
                    good = open(conf).read()
                    with open(conf, "w") as f:
                        f.write(good.replace("[route extra]", "[route extra]\nmode = sideways"))
                    d.signal(signal.SIGHUP)
                    i = ns.expect("RELOADING=1", timeout=10, start=start)
                    ns.expect("READY=1", timeout=10, start=i)
                    d.wait_for_log("reload failed, keeping the running configuration")
                    assert "mode" in d.log_text()
                    time.sleep(1.5)
                    assert d.alive(), "daemon died after a bad reload"
                    # The previous configuration is still in force and reloads still work.
                    with open(conf, "w") as f:
                        f.write(good)
                    start = len(ns.messages)
                    d.signal(signal.SIGHUP)
                    ns.expect("READY=1", timeout=10, start=start)

                def term_exits_zero_fast():
                    start = len(ns.messages)
                    t0 = time.monotonic()
                    d.signal(signal.SIGTERM)
                    ns.expect("STOPPING=1", timeout=5, start=start)
                    rc = d.wait(10)
                    took = time.monotonic() - t0
                    assert rc == 0, f"exit status {rc}"
                    assert took < 1.0, f"idle TERM took {took:.2f}s"

                c.check("READY=1 and STATUS= after the first poll", ready)
                c.check("WATCHDOG=1 at half of WATCHDOG_USEC", watchdog)
                c.check("SIGHUP with a good file: RELOADING=1, READY=1, applied", reload_good)
                c.check("SIGHUP with a bad file keeps the old configuration", reload_bad_keeps_running)
                c.check("idle SIGTERM: STOPPING=1, exit 0 within a second", term_exits_zero_fast)
            finally:
                d.kill()
                if c.failed:
                    print(d.log_text()[-4000:], file=sys.stderr)

        def int_also_stops():
            d2 = Ingestd(conf, env=st.env(), log=st.path("ingestd2.log"))
            try:
                d2.wait_for_log("ready", timeout=20)
                d2.signal(signal.SIGINT)
                assert d2.wait(10) == 0
            finally:
                d2.kill()

        c.check("SIGINT stops too, exit 0", int_also_stops)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

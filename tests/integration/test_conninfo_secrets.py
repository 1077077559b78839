#!/usr/bin/env python3
"""Malformed connection strings never show the password; readable password files warn.

libpq's parse errors quote the text they stumble on ('invalid percent-encoded token:
"Hunter2%ZZsecret"', 'missing "=" after "horse"'), and in a conninfo that text is a piece of
the password. For each malformed conninfo, against PostgreSQL and moto from tests/stack.py:
`ingestd --check-config`, the daemon's start, a SIGHUP reload of a running daemon and
`ingestd check` each report a configuration error naming the file, the line and the key,
and no fragment of the secret appears in their stdout or stderr. A password_file readable
by others (0644) is warned about at --check-config, start, reload and `ingestd check`; at
0600 it is not.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary, run  # noqa: E402
from faults import stop_cleanly  # noqa: E402
from stack import Stack  # noqa: E402

ROUTES = """
[route r]
sink = pg
match_prefix = r/
table = t
"""


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True)
        base = f"host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest"
        # (conninfo, fragments of the secret that must never be shown)
        cases = [
            (f"postgresql://ingest:Hunter2%ZZsecret@127.0.0.1:{st.pg_port}/ingest",
             ["Hunter2", "ZZsecret"]),
            (f"{base} password=correct horse battery staple",
             ["correct", "horse", "battery", "staple"]),
            (f"{base} password='Tr0ub4dor&3", ["Tr0ub4dor"]),
            (f"{base} password=abc Zebra9secret=1", ["Zebra9secret"]),
        ]

        def config_with(conninfo, name, password_line=""):
            sinks = "\n".join(["[sink pg]", "type = postgres", f"conninfo = {conninfo}",
                               password_line, ""])
            return st.ingestd_config(ROUTES, name=name, sinks=sinks, queue_url=q, dlq_url=dlq,
                                     log_level="debug")

        def line_of(path, prefix):
            return next(i + 1 for i, t in enumerate(open(path)) if t.startswith(prefix))

        def assert_clean(text, secrets, what):
            for s in secrets:
                assert s not in text, f"{what} shows {s!r}:\n{text[-2000:]}"

        def malformed_everywhere():
            for i, (conninfo, secrets) in enumerate(cases):
                conf = config_with(conninfo, f"bad{i}.conf")
                where = f"bad{i}.conf:{line_of(conf, 'conninfo')}: [sink pg] conninfo:"
                rc, out, err = run(["--check-config", "-c", conf])
                assert rc == 1 and where in err, (conninfo, rc, out, err)
                assert_clean(out + err, secrets, "--check-config")
                rc, out, err = run(["-c", conf], env=st.env(), timeout=60)
                assert rc == 1 and where in err, (conninfo, rc, out, err)
                assert_clean(out + err, secrets, "the daemon")
                rc, out, err = run(["check", "-c", conf], env=st.env(), timeout=60)
                assert rc == 1 and where in err, (conninfo, rc, out, err)
                assert_clean(out + err, secrets, "ingestd check")

        def malformed_on_reload():
            good = config_with(base, "reload.conf", f"password = {st.pg_password}")
            text = open(good).read()
            with NotifySocket(st.tmp) as ns:
                d = Ingestd(good, st.env(ns.env()), st.path("reload.log"))
                try:
                    ns.expect("READY=1", timeout=30)
                    for conninfo, secrets in cases:
                        start = len(ns.messages)
                        with open(good, "w") as f:
                            f.write(text.replace(f"conninfo = {base}", f"conninfo = {conninfo}"))
                        d.signal(signal.SIGHUP)
                        i = ns.expect("RELOADING=1", timeout=10, start=start)
                        ns.expect("READY=1", timeout=10, start=i)
                        d.wait_for_log("reload failed, keeping the running configuration")
                        assert_clean(d.log_text(), secrets, "a reload")
                    log = d.log_text()
                    assert log.count("[sink pg] conninfo:") >= len(cases), log[-3000:]
                    time.sleep(0.5)
                    assert d.alive()
                    with open(good, "w") as f:
                        f.write(text)
                    stop_cleanly(d)
                finally:
                    d.kill()

        def readable_password_file_warns():
            pw = st.path("pg-password")
            with open(pw, "w") as f:
                f.write(st.pg_password + "\n")
            conf = config_with(base, "pwfile.conf", f"password_file = {pw}")
            warning = f"password_file {pw} is readable by others (mode 0644)"
            os.chmod(pw, 0o644)
            rc, out, err = run(["--check-config", "-c", conf])
            assert rc == 0 and warning in err, (rc, out, err)
            assert f"pwfile.conf:{line_of(conf, 'password_file')}:" in err, err
            rc, out, err = run(["check", "-c", conf], env=st.env(), timeout=60)
            assert rc == 0 and warning in err and "ok   sink pg:" in out, (rc, out, err)
            assert st.pg_password not in out + err
            with NotifySocket(st.tmp) as ns:
                d = Ingestd(conf, st.env(ns.env()), st.path("pwfile.log"))
                try:
                    ns.expect("READY=1", timeout=30)
                    assert warning in d.log_text(), d.log_text()[-2000:]
                    before = d.log_text().count(warning)
                    start = len(ns.messages)
                    d.signal(signal.SIGHUP)
                    ns.expect("READY=1", timeout=10, start=ns.expect("RELOADING=1", timeout=10,
                                                                     start=start))
                    d.wait_for_log("configuration reloaded")
                    assert d.log_text().count(warning) == before + 1, d.log_text()[-2000:]
                    stop_cleanly(d)
                finally:
                    d.kill()
            os.chmod(pw, 0o640)
            rc, out, err = run(["--check-config", "-c", conf])
            assert rc == 0 and "is readable by its group (mode 0640)" in err, (rc, err)
            os.chmod(pw, 0o600)
            rc, out, err = run(["--check-config", "-c", conf])
            assert rc == 0 and "readable by" not in err, (rc, err)
            rc, out, err = run(["check", "-c", conf], env=st.env(), timeout=60)
            assert rc == 0 and "readable by" not in err, (rc, out, err)

        c.check("malformed conninfo: --check-config, start and `ingestd check` name the line "
                "and key, never the secret", malformed_everywhere)
        c.check("malformed conninfo on SIGHUP: reload refused, secret never logged",
                malformed_on_reload)
        c.check("password_file 0644 / 0640 warned at check-config, check, start and reload; "
                "0600 not", readable_password_file_warns)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

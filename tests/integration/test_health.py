#!/usr/bin/env python3
"""`ingestd health`: the container health check against a running daemon.

Runs ingestd against moto (exact SigV4 checking) and PostgreSQL with a metrics listener and
checks that `ingestd health -c FILE` exits 0 and prints nothing while the daemon is healthy,
and exits 1 with exactly one line on stderr when it is not: no listener configured, a daemon
whose queue does not answer (503 and the daemon's reason), a stopped daemon (refused), a
listener that never answers (timeout), and a listener whose reason holds control characters.
A good object still loads while the check runs, so the daemon under test is a working one.
"""

import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary, run  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

ROUTES = """
[route people]
sink = pg
bucket = inbox
match_prefix = people/
table = people
"""


def with_listen(conf_text, addr):
    return conf_text.replace("[ingestd]\n", f"[ingestd]\nmetrics_listen = {addr}\n", 1)


def health(conf, env=None, timeout=30):
    """(status, stdout, stderr, seconds) of `ingestd health -c conf`."""
    t0 = time.monotonic()
    rc, out, err = run(["health", "-c", conf], env=env, timeout=timeout)
    return rc, out, err, time.monotonic() - t0


def one_line(err):
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("ingestd: unhealthy: "), err
    return err


def wait_until(what, fn, timeout, step=0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


class Hostile(BaseHTTPRequestHandler):
    """Answers /healthz with 503 and a reason meant to forge a second output line."""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"\x1b[31mqueue gone\rforged: ok\nsecond line\n" + b"x" * 5000
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, _ = st.make_queue("health", dlq=True, max_receive=3)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)")
        base = open(st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1)).read()
        port = free_port()
        conf = st.write_config(with_listen(base, f"127.0.0.1:{port}"))
        no_listener = st.write_config(base, name="no-listener.conf")

        def without_listener():
            rc, out, err, _ = health(no_listener)
            assert rc == 1 and out == "", (rc, out, err)
            assert "metrics_listen is not set" in one_line(err), err

        def invalid_configuration():
            bad = st.write_config(base.replace("workers = 2", "workers = many"), name="bad.conf")
            rc, _, err, _ = health(bad)
            assert rc == 1 and "workers" in err, (rc, err)

        def usage():
            rc, _, err = run(["health", "extra", "-c", conf])
            assert rc == 2 and "unexpected arguments" in err, (rc, err)

        c.check("no metrics_listen: exit 1, one line naming the key", without_listener)
        c.check("an invalid configuration: exit 1 with the error", invalid_configuration)
        c.check("an extra argument: usage error (2)", usage)

        with NotifySocket(st.tmp) as ns:
            d = Ingestd(conf, env=st.env(ns.env()), log=st.path("ingestd.log"))
            try:
                def healthy():
                    ns.expect("READY=1", timeout=20)
                    rc, out, err, took = health(conf)
                    assert (rc, out, err) == (0, "", ""), (rc, out, err)
                    assert took < 3, took

                def healthy_while_loading():
                    st.put_object("inbox", "people/a.csv", b"id,name\n1,Ann\n2,Bob\n")
                    wait_until("2 rows", lambda: st.psql("SELECT count(*) FROM people")
                               == [("2",)], 30)
                    rc, _, err, _ = health(conf)
                    assert rc == 0, (rc, err)

                c.check("a ready daemon: exit 0, nothing printed", healthy)
                c.check("healthy after a load committed", healthy_while_loading)

                def refused_after_stop():
                    assert d.stop(timeout=30) == 0
                    rc, out, err, _ = health(conf)
                    assert rc == 1 and out == "", (rc, out, err)
                    assert f"http://127.0.0.1:{port}/healthz" in one_line(err), err
                    assert "connect" in err.lower(), err

                c.check("the daemon stopped: exit 1, connection refused", refused_after_stop)
            finally:
                d.kill()
                if c.failed:
                    sys.stderr.write(d.log_text()[-3000:])

        # A daemon whose queue does not exist never polls successfully: /healthz 503.
        port2 = free_port()
        gone = st.write_config(with_listen(base.replace(f"queue_url = {q}", f"queue_url = {q}-gone"),
                                           f"127.0.0.1:{port2}"), name="gone.conf")
        d2 = Ingestd(gone, env=st.env(), log=st.path("ingestd-gone.log"))
        try:
            def unreachable_queue():
                def listening():
                    try:
                        socket.create_connection(("127.0.0.1", port2), timeout=1).close()
                        return True
                    except OSError:
                        return False
                wait_until("the listener of a daemon without its queue", listening, 20)
                # the reason names the failed ReceiveMessage once the first one has failed
                def reported():
                    rc, out, err, _ = health(gone)
                    return (rc, out, err) if "ReceiveMessage" in err else None
                rc, out, err = wait_until("a reason naming ReceiveMessage", reported, 20)
                assert rc == 1 and out == "", (rc, out, err)
                assert ": HTTP 503: starting: the queue has not answered yet" in one_line(err), err
            c.check("a queue that does not answer: exit 1, HTTP 503 and the daemon's reason",
                    unreachable_queue)
        finally:
            d2.kill()
            if c.failed:
                sys.stderr.write(d2.log_text()[-3000:])

    # A listener that accepts and never answers: the check gives up after 5 s.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hung = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ingestd-health-{os.getpid()}.conf")
        with open(hung, "w") as f:
            f.write(with_listen(base, f"127.0.0.1:{silent.getsockname()[1]}"))
        hostile = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
        threading.Thread(target=hostile.serve_forever, daemon=True).start()
        forged = hung + ".forged"
        with open(forged, "w") as f:
            f.write(with_listen(base, f"127.0.0.1:{hostile.server_address[1]}"))
        try:
            def timeout():
                rc, out, err, took = health(hung)
                assert rc == 1 and out == "", (rc, out, err)
                assert "timed out" in one_line(err).lower(), err
                assert 4.5 <= took <= 9, took

            def control_characters():
                rc, out, err, _ = health(forged)
                assert rc == 1 and out == "", (rc, out, err)
                line = one_line(err)
                assert "HTTP 503: ?[31mqueue gone" in line, line
                assert "forged" not in line and "\x1b" not in line and "\r" not in line, line

            c.check("a listener that never answers: exit 1 after the 5 s timeout", timeout)
            c.check("a reason with control characters stays one clean line", control_characters)
        finally:
            hostile.shutdown()
            for p in (hung, forged):
                os.unlink(p)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The metrics and health listener of a running daemon ([ingestd] metrics_listen).

Runs ingestd against moto (exact SigV4 checking) and PostgreSQL, loads a good and a bad
object, and reads /metrics for the exact counter values; checks the text format, that
every exposed metric is documented in ingestd(8), the HTTP edge cases (404, 405, HEAD,
malformed, oversized and slow requests), the move to another port on SIGHUP, and
/healthz turning 503 while moto is frozen (within the documented window) and 200 again
after it continues.
"""

import http.client
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, NotifySocket, require_binary  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

ROUTES = """
[route people]
sink = pg
bucket = inbox
match_prefix = people/
table = people
"""

WAIT = 1                                   # wait_time_seconds
WINDOW = 3 * (WAIT + 10)                   # ingestd(8): /healthz queue window
GOOD = b"id,name\n1,Ann\n2,Bob\n"
BAD = b"id,name\n3,Cy\n4,Dee,extra\n"      # a record with one field too many

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? '
                    r'(-?[0-9.e+-]+|[+-]Inf|NaN)$')


def with_listen(conf_text, addr):
    return conf_text.replace("[ingestd]\n", f"[ingestd]\nmetrics_listen = {addr}\n", 1)


def get(port, path, method="GET", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def raw(port, data, timeout=10):
    """Sends data, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def parse_metrics(text):
    """{(name, frozenset(labels)): value}; asserts every line is valid text format 0.0.4."""
    values, types, helps = {}, {}, set()
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        pairs = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, f"sample without TYPE: {line}"
        values[(name, pairs)] = float(value)
    assert set(types) == helps, (set(types) ^ helps)
    return values, types


def val(values, name, **labels):
    return values.get((name, frozenset(labels.items())))


def documented_metrics():
    page = open(os.path.join(SRCDIR, "man", "ingestd.8")).read()
    start = page.index(".Sh METRICS")
    end = page.index("\n.Sh ", start + 1)
    return set(re.findall(r"\bingestd_[a-z0-9_]+\b", page[start:end]))


def wait_until(what, fn, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("metrics", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL)")
        port = free_port()
        base = open(st.ingestd_config(ROUTES, workers=2, wait_time_seconds=WAIT)).read()
        conf = st.write_config(with_listen(base, f"127.0.0.1:{port}"))

        with NotifySocket(st.tmp) as ns:
            d = Ingestd(conf, env=st.env(ns.env()), log=st.path("ingestd.log"))
            try:
                ns.expect("READY=1", timeout=20)
                state = {"port": port}

                def scrape():
                    status, headers, body = get(state["port"], "/metrics")
                    assert status == 200, status
                    return headers, body.decode()

                def healthy_after_start():
                    status, headers, body = get(port, "/healthz")
                    assert (status, body) == (200, b"ok\n"), (status, body)
                    assert headers["connection"] == "close", headers

                def loads_counted():
                    st.put_object("inbox", "people/good.csv", GOOD)
                    st.put_object("inbox", "people/bad.csv", BAD)
                    st.put_object("inbox", "elsewhere/x.csv", b"a\n1\n")       # no route
                    st.send(q, {"Service": "Amazon S3", "Event": "s3:TestEvent",
                                "Bucket": "inbox"})

                    def settled():
                        v, _ = parse_metrics(scrape()[1])
                        return v if val(v, "ingestd_sqs_messages_deleted_total") == 4 else None

                    v = wait_until("4 messages deleted", settled, 60)
                    expect = {
                        ("ingestd_objects_loaded_total", (("route", "people"), ("sink", "pg"))): 1,
                        ("ingestd_objects_failed_total",
                         (("route", "people"), ("class", "permanent"))): 1,
                        ("ingestd_objects_failed_total",
                         (("route", "people"), ("class", "transient"))): 0,
                        ("ingestd_rows_loaded_total", (("route", "people"), ("sink", "pg"))): 2,
                        ("ingestd_bytes_loaded_total", (("route", "people"), ("sink", "pg"))):
                            len(GOOD),
                        ("ingestd_dlq_reports_total", ()): 1,
                        ("ingestd_sqs_messages_received_total", ()): 4,
                        ("ingestd_sqs_messages_deleted_total", ()): 4,
                        ("ingestd_sqs_messages_returned_total", ()): 0,
                        ("ingestd_inflight_messages", ()): 0,
                        ("ingestd_events_ignored_total", (("reason", "no_route"),)): 1,
                        ("ingestd_events_ignored_total", (("reason", "test_event"),)): 1,
                        ("ingestd_load_duration_seconds_count", (("route", "people"),)): 1,
                        ("ingestd_event_lag_seconds_count", ()): 1,
                        ("ingestd_workers", ()): 2,
                        ("ingestd_up", ()): 1,
                        ("ingestd_config_generation", ()): 1,
                        ("ingestd_credential_refreshes_total",
                         (("source", "config"), ("result", "success"))): 1,
                    }
                    for (name, labels), want in expect.items():
                        got = val(v, name, **dict(labels))
                        assert got == want, f"{name}{dict(labels)} = {got}, expected {want}"
                    assert not any(k[0] == "ingestd_sqs_request_errors_total" for k in v), v
                    assert st.psql("SELECT count(*) FROM people") == [("2",)]
                    reports = st.receive_all(dlq, wait=0.5)
                    assert len(reports) == 1 and reports[0]["body"]["class"] == "permanent"

                def s3_error_by_code():
                    event = {"Records": [{
                        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "inbox"},
                               "object": {"key": "people/missing.csv", "size": 10,
                                          "eTag": "0123456789abcdef0123456789abcdef",
                                          "sequencer": "0A1B2C3D4E5F678901"}}}]}
                    st.send(q, event)

                    def settled():
                        v, _ = parse_metrics(scrape()[1])
                        return v if val(v, "ingestd_sqs_messages_deleted_total") == 5 else None

                    v = wait_until("the fifth message deleted", settled, 60)
                    assert val(v, "ingestd_s3_request_errors_total", code="NoSuchKey") == 1, \
                        {k: x for k, x in v.items() if "s3_request" in k[0]}
                    assert val(v, "ingestd_objects_failed_total", route="people",
                               **{"class": "permanent"}) == 2
                    assert val(v, "ingestd_dlq_reports_total") == 2
                    # the lag of an event from the past is observed only for commits
                    assert val(v, "ingestd_event_lag_seconds_count") == 1
                    reports = st.receive_all(dlq, wait=0.5)
                    assert [r["body"]["key"] for r in reports] == ["people/missing.csv"], reports

                def sqs_error_by_code():
                    bad = base.replace(f"queue_url = {q}", f"queue_url = {q}-gone")
                    assert bad != base
                    st.write_config(with_listen(bad, f"127.0.0.1:{state['port']}"))
                    d.signal(signal.SIGHUP)
                    try:
                        def counted():
                            v, _ = parse_metrics(scrape()[1])
                            errs = {dict(k[1])["code"]: x for k, x in v.items()
                                    if k[0] == "ingestd_sqs_request_errors_total"
                                    and dict(k[1])["operation"] == "ReceiveMessage"}
                            return errs or None
                        errs = wait_until("a ReceiveMessage error", counted, 20)
                        assert set(errs) <= {"AWS.SimpleQueueService.NonExistentQueue",
                                             "QueueDoesNotExist"}, errs
                    finally:
                        st.write_config(with_listen(base, f"127.0.0.1:{state['port']}"))
                        d.signal(signal.SIGHUP)
                    wait_until("receiving again", lambda: _received_ok(d), 20)

                def format_and_docs():
                    headers, text = scrape()
                    assert headers["content-type"] == \
                        "text/plain; version=0.0.4; charset=utf-8", headers
                    assert headers["content-length"] == str(len(text.encode())), headers
                    _, types = parse_metrics(text)
                    for name, kind in types.items():
                        assert kind != "counter" or name.endswith("_total"), name
                    documented = documented_metrics()
                    assert set(types) <= documented, set(types) - documented
                    assert documented <= set(types), documented - set(types)
                    b = re.search(r'ingestd_load_duration_seconds_bucket\{route="people",'
                                  r'le="\+Inf"\} 1\n', text)
                    assert b, text

                def http_edges():
                    status, _, body = get(port, "/nope")
                    assert status == 404, status
                    status, headers, _ = get(port, "/metrics", method="POST")
                    assert status == 405 and headers.get("allow") == "GET, HEAD", headers
                    status, headers, body = get(port, "/metrics", method="HEAD")
                    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
                    status, _, body = get(port, "/healthz?probe=1")
                    assert status == 200, status
                    out = raw(port, b"HELLO THERE\r\n\r\n")
                    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out
                    out = raw(port, b"GET /metrics HTTP/1.1\r\n\r\n")            # no Host
                    assert out.startswith(b"HTTP/1.1 400 "), out
                    out = raw(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n")
                    assert out.startswith(b"HTTP/1.1 400 "), out
                    out = raw(port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
                    assert out.startswith(b"HTTP/1.1 505 "), out
                    out = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 +
                              b"\r\n\r\n")
                    assert out.startswith(b"HTTP/1.1 431 "), out
                    out = raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert out.startswith(b"HTTP/1.1 414 "), out
                    # a head that never ends is refused once it fills the connection's memory
                    out = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 30000)
                    assert out.startswith(b"HTTP/1.1 431 "), out
                    out = raw(port, b"GET /" + b"a" * 30000)
                    assert out.startswith(b"HTTP/1.1 414 "), out
                    # Up to 8 KiB as the listener counts a head (each header 64 bytes more),
                    # 200; beyond, 431; every one answered, none cut off without an answer.
                    for size in range(7680, 8704, 37):
                        start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: "
                        pad = size - len(start) - 4
                        out = raw(port, start + b"a" * pad + b"\r\n\r\n")
                        want = b"HTTP/1.1 200 " if size + 2 * 64 <= 8192 else b"HTTP/1.1 431 "
                        assert out.startswith(want), (size, out[:200])
                    out = raw(port, b"GET /healthz HTTP/1.0\n\n")                # bare LF
                    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\nok\n")

                def slow_client_cut_off():
                    t0 = time.monotonic()
                    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                        s.sendall(b"GET /metrics HTTP/1.1\r\n")
                        got = b""
                        # one header byte a second: the request never completes
                        while True:
                            try:
                                s.sendall(b"X")
                            except OSError:
                                break
                            s.settimeout(1.0)
                            try:
                                chunk = s.recv(4096)
                            except socket.timeout:
                                continue
                            except OSError:
                                break
                            if not chunk:
                                break
                            got += chunk
                            if time.monotonic() - t0 > 14:
                                break
                    took = time.monotonic() - t0
                    assert got.startswith(b"HTTP/1.1 408 "), got
                    assert 4.0 <= took <= 10.0, took
                    # the listener still serves others
                    assert get(port, "/healthz")[0] == 200

                def idle_connections_do_not_block():
                    # 40 idle sockets and 20 with half a request, held open throughout:
                    # every probe must still be answered at once
                    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
                    try:
                        for _ in range(20):
                            s = socket.create_connection(("127.0.0.1", port))
                            s.sendall(b"GET /metrics HTTP/1.1\r\n")
                            socks.append(s)
                        t0 = time.monotonic()
                        answers = [_try_health(port) for _ in range(24)]
                        took = time.monotonic() - t0
                        assert answers == [True] * 24, answers
                        # well inside the 5 s request timeout: nobody waited for the idle
                        # ones to time out
                        assert took < 4.0, took
                    finally:
                        for s in socks:
                            s.close()

                def rebind_on_sighup():
                    new_port = free_port()
                    st.write_config(with_listen(base, f"127.0.0.1:{new_port}"))
                    d.signal(signal.SIGHUP)
                    d.wait_for_log("configuration reloaded (generation 2)", timeout=15)
                    wait_until("new port", lambda: _try_health(new_port), 5, 0.2)
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=2).close()
                        raise AssertionError("the old port still accepts connections")
                    except ConnectionRefusedError:
                        pass
                    state["port"] = new_port
                    v, _ = parse_metrics(scrape()[1])
                    assert val(v, "ingestd_config_reloads_total", result="success") == 1
                    assert val(v, "ingestd_config_generation") == 2
                    # a port that cannot be bound: the configuration applies, the listener stays
                    with socket.socket() as busy:
                        busy.bind(("127.0.0.1", 0))
                        busy.listen(1)
                        taken = busy.getsockname()[1]
                        st.write_config(with_listen(base, f"127.0.0.1:{taken}"))
                        d.signal(signal.SIGHUP)
                        d.wait_for_log("configuration reloaded (generation 3)", timeout=15)
                        d.wait_for_log(f"metrics_listen = 127.0.0.1:{taken}: bind", timeout=5)
                    assert get(new_port, "/healthz")[0] == 200
                    st.write_config(with_listen(base, f"127.0.0.1:{new_port}"))

                def health_follows_the_queue():
                    hp = state["port"]
                    st.moto_pause()
                    t0 = time.monotonic()
                    try:
                        def unhealthy():
                            status, _, body = get(hp, "/healthz")
                            return body if status == 503 else None
                        body = wait_until("/healthz 503", unhealthy, WINDOW + 8, 0.5)
                        took = time.monotonic() - t0
                        assert took >= WINDOW - WAIT - 2, f"503 after only {took:.1f} s"
                        assert b"queue not reached for" in body, body
                        # the loop still turns while the queue hangs
                        assert get(hp, "/metrics")[0] == 200
                        expect_status(ns, "STATUS=queue-unreachable;", 8)
                    finally:
                        st.moto_resume()
                    wait_until("/healthz 200 again", lambda: get(hp, "/healthz")[0] == 200, 20)

                c.check("/healthz is 200 once the queue answered", healthy_after_start)
                c.check("exact counters after a good, a bad, an unrouted object and a test event",
                        loads_counted)
                c.check("a missing object: S3 errors by code, failed permanent, DLQ",
                        s3_error_by_code)
                c.check("text format 0.0.4, every metric documented in ingestd(8)",
                        format_and_docs)
                c.check("404, 405, HEAD, malformed, oversized, HTTP/2, bare LF", http_edges)
                c.check("a slow client is cut off with 408", slow_client_cut_off)
                c.check("40 idle sockets held open: 24 of 24 /healthz probes answered",
                        idle_connections_do_not_block)
                c.check("SIGHUP moves the listener; a failed bind keeps it", rebind_on_sighup)
                c.check("SQS errors by operation and code (a queue that does not exist)",
                        sqs_error_by_code)
                c.check(f"/healthz 503 within {WINDOW} s of a hung queue, 200 after",
                        health_follows_the_queue)

                def stops_cleanly():
                    rc = d.stop(timeout=30)
                    assert rc == 0, f"exit status {rc}\n{d.log_text()[-3000:]}"
                    try:
                        socket.create_connection(("127.0.0.1", state["port"]), timeout=2).close()
                        raise AssertionError("listener still open after exit")
                    except ConnectionRefusedError:
                        pass
                c.check("SIGTERM: exit 0, listener closed", stops_cleanly)
            finally:
                d.kill()
                if c.failed:
                    sys.stderr.write(d.log_text()[-4000:])
    return c.done()


def expect_status(ns, prefix, timeout):
    wait_until(f"a {prefix} notification",
               lambda: any(m.startswith(prefix) for m in list(ns.messages)), timeout, 0.2)


def _received_ok(d):
    return "receiving from" in d.log_text().rsplit("configuration reloaded", 1)[-1] or \
        "recovered" in d.log_text().rsplit("configuration reloaded", 1)[-1]


def _try_health(port):
    try:
        return get(port, "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Rows pushed over HTTP ([http] listen, POST and PUT /v1/ingest/ROUTE), with curl as the client.

Runs ingestd against moto (SQS, S3, DynamoDB) and PostgreSQL: the seed 003 records
(query-string parameters, e-mail and pincode validated, the user name upper-cased by its
Lua script) into DynamoDB; 100,000-row CSV bodies into PostgreSQL plain and gzip, JSON
lines and a JSON array; a bad row answered 400 with its line and nothing written; an
Idempotency-Key repeated; 401, 404, 405, 413 (by Content-Length and chunked), 415;
request heads up to 256 KiB taken and larger ones refused (414, 431) with nothing
written, every head near the cap answered, trailers counted with the head; token_file reread on SIGHUP; slow clients holding sockets while S3 objects still load
from the queue; the request metrics; HTTPS with a certificate made here.
"""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Checks, Ingestd, require_binary  # noqa: E402
from stack import Stack  # noqa: E402
from stack_db import free_port  # noqa: E402

SRCDIR = os.environ.get("INGESTD_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
TRANSFORMS = os.path.join(SRCDIR, "data", "transforms")
TOKEN = "s3cr3t-token-one"

ROUTES = f"""
[route users]
sink = ddb
http = true
match_prefix = pushed-only/
table = UserInfoTable
mode = upsert
columns = user_name, email, pincode
transform = {os.path.join(TRANSFORMS, "upper_user_name.lua")}
output_columns = id, user_name, pincode
validate.email = regex:^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}$
validate.pincode = regex:^([0-9]{{4}}|[0-9]{{6}})$

[route events]
sink = pg
http = true
match_prefix = pushed-only/
table = events

[route files]
sink = pg
match_prefix = files/
table = files

[route hidden]
sink = pg
table = hidden_table

[route down]
sink = nowhere
http = true
match_prefix = pushed-only/
table = down
"""


def curl(port, path, *args, token=TOKEN, scheme="http", extra=()):
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "120",
           f"{scheme}://127.0.0.1:{port}{path}", *extra, *args]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, timeout=150).stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


HEAD_MAX = 256 * 1024
RECORD = 64  # what each header and query parameter counts towards HEAD_MAX


def raw_request(port, data):
    """Sends one request with Connection: close; (status, body), status 0 when the
    connection closed without an answer."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except ConnectionError:  # refused before all of it was read: keep what came
            pass
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


def head_request(method, target, headers, body=b""):
    """The bytes of a request, and what its head counts towards HEAD_MAX: its bytes and
    RECORD for each header and query parameter."""
    headers = [("Host", "x"), ("Authorization", f"Bearer {TOKEN}"),
               ("Connection", "close")] + headers
    head = f"{method} {target} HTTP/1.1\r\n".encode()
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"
    params = target.partition("?")[2]
    cost = len(head) + RECORD * (len(headers) + (params.count("&") + 1 if params else 0))
    return head + body, cost


def put_of_cost(cost, id_):
    """A PUT into events whose head counts exactly cost, by the length of its name."""
    _, base = head_request("PUT", f"/v1/ingest/events?id={id_}&score=1&name=", [])
    n = cost - base
    data, got = head_request("PUT", f"/v1/ingest/events?id={id_}&score=1&name={'n' * n}", [])
    assert got == cost, (got, cost)
    return data, n


def post_of_cost(cost):
    """A POST of one CSV row into events whose head counts exactly cost, by an X-Pad."""
    body = b"id,name,score\n7,padded,3\n"
    hdrs = [("Content-Type", "text/csv"), ("Content-Length", str(len(body)))]
    _, base = head_request("POST", "/v1/ingest/events", hdrs + [("X-Pad", "")])
    data, got = head_request("POST", "/v1/ingest/events",
                             hdrs + [("X-Pad", "p" * (cost - base))], body)
    assert got == cost, (got, cost)
    return data


def jbody(body):
    return json.loads(body) if body.strip() else None


def csv_rows(n, start=0, bad_line=None):
    lines = ["id,name,score"]
    for i in range(start, start + n):
        lines.append(f"{i},name {i},{i % 97}")
    if bad_line:
        lines[bad_line - 1] = "x-not-a-number,broken,1"
    return ("\n".join(lines) + "\n").encode()


def main():
    require_binary()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, _ = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        ddb = st.client("dynamodb")
        ddb.create_table(TableName="UserInfoTable", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        st.psql("CREATE TABLE events (id int, name text, score int)")
        st.psql("CREATE TABLE files (id int, name text)")
        st.psql("CREATE TABLE hidden_table (id int)")
        tokens = st.path("tokens")
        with open(tokens, "w") as f:
            f.write("# bearer tokens\n\n" + TOKEN + "\n")
        port, mport = free_port(), free_port()
        extra = (f"[http]\nlisten = 127.0.0.1:{port}\ntoken_file = {tokens}\nmax_body = 16M\n")
        sinks = st._default_sinks() + (f"\n[sink nowhere]\ntype = postgres\nconninfo = host=127.0.0.1 "
                                       f"port={free_port()} dbname=x user=x connect_timeout=2\n")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, extra=extra,
                                 sinks=sinks)
        text = open(conf).read().replace("[ingestd]\n",
                                         f"[ingestd]\nmetrics_listen = 127.0.0.1:{mport}\n", 1)
        st.write_config(text)
        d = Ingestd(conf, st.env(), st.path("ingestd.log"))
        try:
            d.wait_for_log("rows over HTTP on", timeout=20)

            def count(table):
                return int(st.psql(f"SELECT count(*) FROM {table}")[0][0])

            def items():
                got = ddb.scan(TableName="UserInfoTable")["Items"]
                return sorted((i["id"]["S"], i["user_name"]["S"], i["pincode"]["S"])
                              for i in got)

            def seed003_valid_record():
                code, body = curl(port, "/v1/ingest/users?user_name=Rishabh"
                                  "&email=rishabh@gmail.com&pincode=3055", "-X", "PUT")
                assert code == 200, (code, body)
                assert jbody(body) == {"rows": 1, "rejected": 0}, body
                assert items() == [("rishabh@gmail.com", "RISHABH", "3055")], items()

            def seed003_bad_email_and_pincode():
                for q_, col in (("user_name=X&email=not-an-email&pincode=3055", "email"),
                                ("user_name=X&email=x@example.com&pincode=30555", "pincode")):
                    code, body = curl(port, "/v1/ingest/users?" + q_, "-X", "PUT")
                    assert code == 400, (code, body)
                    err = jbody(body)["errors"][0]
                    assert err["column_name"] == col and err["line"] == 1, err
                    assert set(err) == {"line", "column", "column_name", "reason", "sample"}, err
                assert len(items()) == 1, items()

            def seed003_tokens():
                q_ = "/v1/ingest/users?user_name=Y&email=y@example.com&pincode=3055"
                assert curl(port, q_, "-X", "PUT", token=None)[0] == 401
                assert curl(port, q_, "-X", "PUT", token="wrong")[0] == 401
                assert curl(port, q_, "-X", "PUT", token=TOKEN + "x")[0] == 401
                assert len(items()) == 1, items()

            def put_query_edges():
                base = "/v1/ingest/users?user_name=Z&email=z@example.com&pincode=3055"
                code, body = curl(port, base + "&user_name=W", "-X", "PUT")
                assert code == 400 and "more than once" in body, (code, body)
                code, body = curl(port, base + "&table=evil", "-X", "PUT")
                assert code == 400 and "not a column" in body, (code, body)
                code, body = curl(port, base, "-X", "PUT", "--data-binary", "x" * 5000)
                assert code == 400 and "no body" in body, (code, body)
                code, body = curl(port, "/v1/ingest/users?user_name=J%C3%BCrgen%20M"
                                  "&email=j%40example.com&pincode=110001", "-X", "PUT")
                assert code == 200, (code, body)
                assert ("j@example.com", "JüRGEN M", "110001") in items() or \
                    ("j@example.com", "JÜRGEN M", "110001") in items(), items()

            big = st.path("big.csv")
            with open(big, "wb") as f:
                f.write(csv_rows(100000))
            with open(big + ".gz", "wb") as f:
                f.write(gzip.compress(open(big, "rb").read(), 1))

            def post_100k_plain_and_gzip():
                code, body = curl(port, "/v1/ingest/events", "--data-binary", f"@{big}",
                                  "-H", "Content-Type: text/csv")
                assert code == 200 and jbody(body) == {"rows": 100000, "rejected": 0}, body
                code, body = curl(port, "/v1/ingest/events", "--data-binary", f"@{big}.gz",
                                  "-H", "Content-Type: text/csv", "-H", "Content-Encoding: gzip")
                assert code == 200 and jbody(body)["rows"] == 100000, body
                assert count("events") == 200000

            def json_lines_and_array():
                lines = b'{"id": 1, "name": "a", "score": 2}\n{"id": 2, "name": "b", "score": 3}\n'
                code, body = curl(port, "/v1/ingest/events", "--data-binary", lines,
                                  "-H", "Content-Type: application/x-ndjson")
                assert code == 200 and jbody(body)["rows"] == 2, body
                arr = b'[{"id": 3, "name": "c", "score": 4}]'
                code, body = curl(port, "/v1/ingest/events", "--data-binary", arr,
                                  "-H", "Content-Type: application/json")
                assert code == 200 and jbody(body)["rows"] == 1, body
                assert count("events") == 200003

            def bad_row_nothing_written():
                data = st.path("bad.csv")
                with open(data, "wb") as f:
                    f.write(csv_rows(5000, bad_line=4321))
                code, body = curl(port, "/v1/ingest/events", "--data-binary", f"@{data}",
                                  "-H", "Content-Type: text/csv")
                assert code == 400, (code, body)
                err = jbody(body)["errors"][0]
                assert err["line"] == 4321 and err["column_name"] == "id", err
                assert count("events") == 200003

            def idempotent_repeat():
                data = csv_rows(10, start=900000)
                hdr = ["-H", "Content-Type: text/csv", "-H", "Idempotency-Key: batch-0001"]
                code, body = curl(port, "/v1/ingest/events", "--data-binary", data, *hdr)
                assert code == 200 and jbody(body) == {"rows": 10, "rejected": 0}, body
                code, body = curl(port, "/v1/ingest/events", "--data-binary", data, *hdr)
                assert code == 200 and jbody(body).get("already_loaded") is True, body
                assert count("events") == 200013

            def refusals():
                code, _ = curl(port, "/v1/ingest/nope", "-X", "PUT")
                assert code == 404, code
                code, _ = curl(port, "/v1/ingest/hidden?id=1", "-X", "PUT")
                assert code == 404, code
                code, _ = curl(port, "/v1/ingest/events")
                assert code == 405, code
                code, _ = curl(port, "/v1/ingest/events", "--data-binary", "a,b",
                               "-H", "Content-Type: text/plain")
                assert code == 415, code
                code, _ = curl(port, "/v1/ingest/events", "--data-binary", "a,b",
                               "-H", "Content-Type: text/csv", "-H", "Content-Encoding: br")
                assert code == 415, code
                assert count("hidden_table") == 0

            def too_large():
                huge = st.path("huge.csv")
                with open(huge, "wb") as f:
                    f.write(csv_rows(1200000))
                assert os.path.getsize(huge) > 16 << 20
                code, body = curl(port, "/v1/ingest/events", "--data-binary", f"@{huge}",
                                  "-H", "Content-Type: text/csv")
                assert code == 413, (code, body)
                code, body = curl(port, "/v1/ingest/events", "--data-binary", f"@{huge}",
                                  "-H", "Content-Type: text/csv",
                                  "-H", "Transfer-Encoding: chunked")
                assert code == 413, (code, body)
                assert count("events") == 200013

            def still_answers():
                code, body = curl(port, "/v1/ingest/events?id=5&name=after&score=5", "-X", "PUT")
                assert code == 200 and jbody(body) == {"rows": 1, "rejected": 0}, (code, body)

            def head_over_cap_refused():
                before = count("events")
                q_ = "/v1/ingest/events?id=1&score=1&name=" + "q" * (300 * 1024)
                code, body = raw_request(port, head_request("PUT", q_, [])[0])
                assert code == 414, (code, body[:200])
                data = head_request("POST", "/v1/ingest/events",
                                    [("Content-Type", "text/csv"), ("Content-Length", "20"),
                                     ("X-Pad", "p" * (300 * 1024))], b"id,name,score\n7,b,3\n")[0]
                code, body = raw_request(port, data)
                assert code == 431, (code, body[:200])
                assert count("events") == before
                still_answers()
                assert count("events") == before + 1

            def head_of_256_kib_taken_one_byte_more_refused():
                before = count("events")
                data, n = put_of_cost(HEAD_MAX, 810001)
                code, body = raw_request(port, data)
                assert code == 200 and jbody(body) == {"rows": 1, "rejected": 0}, (code, body)
                got = st.psql("SELECT length(name) FROM events WHERE id = 810001")
                assert got == [(str(n),)], got
                code, body = raw_request(port, put_of_cost(HEAD_MAX + 1, 810002)[0])
                assert code == 431 and "over 256 KiB" in body.decode(), (code, body)
                code, body = raw_request(port, post_of_cost(HEAD_MAX))
                assert code == 200 and jbody(body) == {"rows": 1, "rejected": 0}, (code, body)
                code, body = raw_request(port, post_of_cost(HEAD_MAX + 1))
                assert code == 431 and "over 256 KiB" in body.decode(), (code, body)
                assert count("events") == before + 2
                still_answers()

            def every_head_near_the_cap_answered():
                # the connection's memory must still hold the answer, after a load as after
                # a refusal: a load without an answer would be sent again by its client
                before, taken = count("events"), 0
                for cost in range(HEAD_MAX - 1024, HEAD_MAX + 1024, 61):
                    code, body = raw_request(port, put_of_cost(cost, 820000 + cost)[0])
                    if cost <= HEAD_MAX:
                        assert code == 200, (cost, code, body[:200])
                        taken += 1
                    else:
                        assert code in (414, 431), (cost, code, body[:200])
                assert count("events") == before + taken
                still_answers()

            def trailers_over_cap_refused():
                # a chunked body's trailers count with the head: past the cap, 431 and the
                # load stopped, though its rows have all arrived
                hdrs = [("Content-Type", "text/csv"), ("Transfer-Encoding", "chunked")]
                rows = b"id,name,score\n9,trailed,1\n"
                chunk = b"%x\r\n%s\r\n" % (len(rows), rows)
                data, cost = head_request("POST", "/v1/ingest/events", hdrs)
                before = count("events")
                small = b"0\r\nX-Trail: " + b"t" * 1024 + b"\r\n\r\n"
                code, body = raw_request(port, data + chunk + small)
                assert code == 200 and jbody(body) == {"rows": 1, "rejected": 0}, (code, body)
                pad = HEAD_MAX - cost - len("X-Trail: \r\n") - RECORD + 8 * 1024
                big = b"0\r\nX-Trail: " + b"t" * pad + b"\r\n\r\n"
                code, body = raw_request(port, data + chunk + big)
                assert code == 431 and "trailers" in body.decode(), (code, body[:300])
                assert count("events") == before + 1
                still_answers()

            def sighup_rereads_tokens():
                with open(tokens, "w") as f:
                    f.write("second-token\n")
                d.signal(signal.SIGHUP)
                d.wait_for_log("1 bearer token from", timeout=15)
                deadline = time.monotonic() + 10
                q_ = "/v1/ingest/users?user_name=T&email=t@example.com&pincode=4000"
                while curl(port, q_, "-X", "PUT", token="second-token")[0] != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                assert curl(port, q_, "-X", "PUT")[0] == 401

            def slow_clients_while_queue_loads():
                socks = []
                for _ in range(40):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(b"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                # and slow bodies, more of them than workers: they must hold no worker
                for _ in range(6):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.sendall(b"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer second-token\r\n"
                              b"Content-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n"
                              b"id,name,score\n")
                    socks.append(s)
                try:
                    st.put_object("inbox", "files/a.csv", b"id,name\n1,Ann\n2,Bob\n")
                    deadline = time.monotonic() + 30
                    while count("files") != 2:
                        assert time.monotonic() < deadline, "the S3 object was not loaded"
                        for s in socks:
                            try:
                                s.sendall(b"1")
                            except OSError:
                                pass
                        time.sleep(0.3)
                    q_ = "/v1/ingest/users?user_name=S&email=s@example.com&pincode=5000"
                    t0 = time.monotonic()
                    assert curl(port, q_, "-X", "PUT", token="second-token")[0] == 200
                    assert time.monotonic() - t0 < 3
                finally:
                    for s in socks:
                        s.close()

            def request_metrics():
                import urllib.request
                text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics").read().decode()
                assert 'ingestd_http_requests_total{route="events",status="200"}' in text, text
                assert 'ingestd_http_requests_total{route="users",status="400"} 5' in text, text
                assert 'ingestd_http_requests_total{route="-",status="401"}' in text, text
                assert "ingestd_http_request_duration_seconds_bucket" in text
                assert TOKEN not in d.log_text()

            c.check("seed 003: a valid record is 200 and the item", seed003_valid_record)
            c.check("seed 003: bad email or pincode is 400 naming the column, nothing written",
                    seed003_bad_email_and_pincode)
            c.check("seed 003: no or a wrong token is 401", seed003_tokens)
            c.check("PUT: repeated and unknown parameters are 400, percent-decoding",
                    put_query_edges)
            c.check("POST of 100,000 CSV rows into PostgreSQL, plain and gzip",
                    post_100k_plain_and_gzip)
            c.check("POST of JSON lines and a JSON array", json_lines_and_array)
            c.check("one bad row: 400 with its line, the table unchanged", bad_row_nothing_written)
            c.check("Idempotency-Key repeated: 200 already_loaded, nothing written",
                    idempotent_repeat)
            c.check("404 (no route, no http), 405, 415", refusals)
            c.check("413 by Content-Length and for a chunked body", too_large)
            c.check("a 300 KiB query string is 414, a 300 KiB header 431, nothing written",
                    head_over_cap_refused)
            c.check("a head of 256 KiB is taken (PUT and POST), one byte more is 431",
                    head_of_256_kib_taken_one_byte_more_refused)
            c.check("every head within 1 KiB of the cap is answered, 200 or 414/431",
                    every_head_near_the_cap_answered)
            c.check("a chunked body's trailers past the head cap: 431, nothing written",
                    trailers_over_cap_refused)
            c.check("SIGHUP rereads token_file", sighup_rereads_tokens)

            def transient_is_503_with_retry_after():
                out = subprocess.run(["curl", "-sS", "-i", "-X", "PUT", "--max-time", "60",
                                      "-H", "Authorization: Bearer second-token",
                                      f"http://127.0.0.1:{port}/v1/ingest/down?id=1"],
                                     capture_output=True, timeout=90).stdout.decode()
                assert out.startswith("HTTP/1.1 503"), out
                assert "\nRetry-After: " in out.replace("\r", ""), out
            c.check("a database that cannot be reached: 503 with Retry-After",
                    transient_is_503_with_retry_after)
            c.check("40 slow heads and 6 slow bodies: S3 objects still load, requests answered",
                    slow_clients_while_queue_loads)
            c.check("request metrics by route and status; no token in the log", request_metrics)

            def stops_cleanly():
                rc = d.stop(timeout=30)
                assert rc == 0, f"exit status {rc}"
            c.check("SIGTERM: exit 0", stops_cleanly)

            def https_with_a_self_signed_certificate():
                cert, key = st.path("cert.pem"), st.path("key.pem")
                subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                "-keyout", key, "-out", cert, "-days", "2", "-subj",
                                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                               check=True, capture_output=True)
                tport = free_port()
                tls = text.replace(f"listen = 127.0.0.1:{port}\n",
                                   f"listen = 127.0.0.1:{tport}\ntls_cert = {cert}\n"
                                   f"tls_key = {key}\n")
                tconf = st.write_config(tls, "tls.conf")
                with open(tokens, "w") as f:
                    f.write(TOKEN + "\n")
                t = Ingestd(tconf, st.env(), st.path("tls.log"))
                try:
                    t.wait_for_log("rows over HTTPS on", timeout=20)
                    q_ = "/v1/ingest/users?user_name=Tls&email=tls@example.com&pincode=1234"
                    code, body = curl(tport, q_, "-X", "PUT", scheme="https",
                                      extra=("--cacert", cert))
                    assert code == 200 and jbody(body)["rows"] == 1, (code, body)
                    assert ("tls@example.com", "TLS", "1234") in items(), items()
                    code, _ = curl(tport, q_, "-X", "PUT")  # plain HTTP to the TLS port
                    assert code != 200, code
                    code, _ = curl(tport, q_, "-X", "PUT", scheme="https")  # unknown CA
                    assert code == 0, code
                    assert t.stop(timeout=30) == 0
                finally:
                    t.kill()
            c.check("HTTPS with tls_cert and tls_key (a self-signed certificate)",
                    https_with_a_self_signed_certificate)
        finally:
            d.kill()
            if c.failed:
                sys.stderr.write(d.log_text()[-6000:])
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An HTTP proxy that fails on purpose, in front of moto (or any HTTP/1.1 server).

It listens on 127.0.0.1, reads one request per client connection (head + Content-Length body),
takes the next action from its plan, and closes the client connection after the response (moto
answers `Connection: close` anyway). When the plan is used up, requests pass through untouched.
Only requests whose head contains the `match` text (default: every request) consume the plan.

Plan: comma-separated actions, each optionally repeated with `*N`:
    pass                      forward to the upstream, relay its answer
    status:CODE[:ERRCODE]     answer CODE without contacting the upstream; the body is an AWS
                              error: JSON {"__type", "message"} when the request has an
                              X-Amz-Target header, else XML <Error><Code>.. (S3 style).
                              ERRCODE defaults: 500 InternalError, 502 BadGateway,
                              503 SlowDown (XML) / ServiceUnavailable (JSON),
                              400 ThrottlingException, 429 TooManyRequestsException
    delay:SECONDS             wait, then forward
    drop                      read the request, close without answering
    reset                     read the request, close with a TCP RST
    hang                      read the request, never answer (until the client gives up)
    skew:SECONDS              answer 403 with a clock-skew error (RequestTimeTooSkewed in XML,
                              InvalidSignatureException "Signature expired" in JSON) and a Date
                              header SECONDS away from now
    cut:BYTES                 forward, relay the answer's head and BYTES of its body, then close
Example: "status:503*2,pass" fails two requests with 503 SlowDown, then passes.

Command line (prints "PORT <n>" on stdout when ready, runs until killed):
    python3 tests/fault_proxy.py --upstream http://127.0.0.1:5000 [--port 0]
                                 [--plan "status:500*3"] [--match AmazonSQS.ReceiveMessage]
While running, it is controlled over HTTP on the same port (not forwarded):
    POST /__fault__/plan   body: a plan (replaces the current one)
    POST /__fault__/match  body: the match text ("" = every request)
    GET  /__fault__/log    JSON list of {"head": request head (str), "action": str, "time": float}
    POST /__fault__/reset  clears the log and the plan

From Python:
    from fault_proxy import FaultProxy
    with FaultProxy("http://127.0.0.1:5000", plan="status:503:SlowDown*2") as fp:
        fp.url                  # "http://127.0.0.1:P"
        fp.set_plan("drop,pass"); fp.set_match("AmazonSQS.")
        fp.log                  # list of dicts as above
        fp.count(action=None, contains=None)   # how many logged requests match
"""
import argparse
import email.utils
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse

DEFAULT_CODES = {500: "InternalError", 502: "BadGateway", 503: "SlowDown",
                 400: "ThrottlingException", 429: "TooManyRequestsException",
                 403: "AccessDenied", 404: "NotFound"}
REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def parse_plan(text):
    """"status:503*2,pass" -> [["status", "503"], ["status", "503"], ["pass"]]"""
    plan = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        times = 1
        if "*" in item:
            item, n = item.rsplit("*", 1)
            times = int(n)
        parts = item.split(":")
        if parts[0] not in ("pass", "status", "delay", "drop", "reset", "hang", "skew", "cut"):
            raise ValueError(f"unknown action {parts[0]!r}")
        plan.extend([parts] * times)
    return plan


def _read_request(conn):
    """Returns (head bytes, body bytes) or None when the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n", body


def _header(head, name):
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower():
            return v.strip().decode("latin-1")
    return None


def _error_response(head, status, code, message, extra_headers=()):
    is_json = _header(head, b"x-amz-target") is not None
    if is_json:
        body = json.dumps({"__type": code, "message": message}).encode()
        ctype = "application/x-amz-json-1.0"
    else:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>").encode()
        ctype = "application/xml"
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", f"Content-Type: {ctype}",
             f"Content-Length: {len(body)}", "Connection: close"]
    if not any(h.lower().startswith("date:") for h in extra_headers):
        lines.append("Date: " + email.utils.formatdate(usegmt=True))
    lines.extend(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FaultProxy:
    def __init__(self, upstream, plan="", match="", port=0):
        u = urllib.parse.urlsplit(upstream if "://" in upstream else "http://" + upstream)
        self.up_host, self.up_port = u.hostname or "127.0.0.1", u.port or 80
        self.plan = parse_plan(plan)
        self.match = match
        self.log = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closing = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    # -- control --
    def set_plan(self, text):
        with self.lock:
            self.plan = parse_plan(text)

    def set_match(self, text):
        with self.lock:
            self.match = text or ""

    def reset(self):
        with self.lock:
            self.plan = []
            self.log = []

    def count(self, action=None, contains=None):
        with self.lock:
            return sum(1 for e in self.log
                       if (action is None or e["action"].split(":")[0] == action)
                       and (contains is None or contains in e["head"]))

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- serving --
    def _accept_loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _next_action(self, head):
        text = head.decode("latin-1")
        with self.lock:
            if self.plan and (not self.match or self.match in text):
                action = self.plan.pop(0)
            else:
                action = ["pass"]
            self.log.append({"head": text, "action": ":".join(action), "time": time.time()})
        return action

    def _control(self, conn, head, body):
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, path = line.split(" ")[:2]
        out = b""
        if path == "/__fault__/plan" and method == "POST":
            self.set_plan(body.decode())
        elif path == "/__fault__/match" and method == "POST":
            self.set_match(body.decode())
        elif path == "/__fault__/reset" and method == "POST":
            self.reset()
        elif path == "/__fault__/log":
            with self.lock:
                out = json.dumps(self.log).encode()
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(out)).encode() + b"\r\nConnection: close\r\n\r\n" + out)

    def _forward(self, conn, head, body, cut=None):
        up = socket.create_connection((self.up_host, self.up_port), timeout=120)
        try:
            up.sendall(head + body)
            sent_body = 0
            buf = b""
            head_done = False
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                if cut is None:
                    conn.sendall(chunk)
                    continue
                if not head_done:
                    buf += chunk
                    if b"\r\n\r\n" not in buf:
                        continue
                    rhead, _, chunk = buf.partition(b"\r\n\r\n")
                    conn.sendall(rhead + b"\r\n\r\n")
                    head_done = True
                take = max(0, min(len(chunk), cut - sent_body))
                conn.sendall(chunk[:take])
                sent_body += take
                if sent_body >= cut:
                    break
        finally:
            up.close()

    def _serve(self, conn):
        try:
            req = _read_request(conn)
            if req is None:
                return
            head, body = req
            if head.split(b" ", 2)[1].startswith(b"/__fault__/"):
                self._control(conn, head, body)
                return
            action = self._next_action(head)
            kind = action[0]
            if kind == "pass":
                self._forward(conn, head, body)
            elif kind == "delay":
                time.sleep(float(action[1]))
                self._forward(conn, head, body)
            elif kind == "cut":
                self._forward(conn, head, body, cut=int(action[1]))
            elif kind == "status":
                status = int(action[1])
                code = action[2] if len(action) > 2 else DEFAULT_CODES.get(status, "Error")
                if status == 503 and len(action) <= 2 and _header(head, b"x-amz-target"):
                    code = "ServiceUnavailable"
                conn.sendall(_error_response(head, status, code, f"injected {status} {code}"))
            elif kind == "skew":
                date = email.utils.formatdate(time.time() + float(action[1]), usegmt=True)
                if _header(head, b"x-amz-target"):
                    amz = _header(head, b"x-amz-date") or "?"
                    resp = _error_response(
                        head, 403, "InvalidSignatureException",
                        f"Signature expired: {amz} is now earlier than the server time",
                        ["Date: " + date])
                else:
                    resp = _error_response(
                        head, 403, "RequestTimeTooSkewed",
                        "The difference between the request time and the current time is "
                        "too large.", ["Date: " + date])
                conn.sendall(resp)
            elif kind == "drop":
                pass
            elif kind == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == "hang":
                conn.settimeout(300)
                while conn.recv(65536):
                    pass
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP proxy (see module docstring)")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--plan", default="")
    ap.add_argument("--match", default="")
    args = ap.parse_args()
    fp = FaultProxy(args.upstream, plan=args.plan, match=args.match, port=args.port)
    print(f"PORT {fp.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fp.close()


if __name__ == "__main__":
    sys.exit(main())

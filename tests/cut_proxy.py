#!/usr/bin/env python3
"""A tiny TCP proxy that misbehaves on purpose, for the S3 client's resume tests.

It sits between a client and an HTTP server (moto) on 127.0.0.1 and handles one request per
connection (moto answers every request with `Connection: close`). Each accepted connection
takes the next action from a plan; when the plan is used up, connections pass through.
Actions:

    ("pass",)                       forward both ways untouched
    ("cut", K)                      forward the response head and the first K body bytes,
                                    then close both sockets (a connection dropped mid-body)
    ("cut_then", K, fn)             as "cut", but call fn() (e.g. overwrite the object)
                                    before closing
    ("stall", K, seconds)           forward the head and K body bytes, then send nothing more
                                    for `seconds` (or until the client gives up), then close
    ("reply", raw_bytes)            do not contact the server: answer with raw_bytes (a whole
                                    HTTP response) and close

With ssl_context (an ssl.SSLContext holding a certificate), the proxy speaks TLS to the
client (plain HTTP to the server) and its url is https://.

Every request head the proxy saw is kept in `proxy.requests` (a list of str, latin-1), in
arrival order, so a test can check for example that a resumed request carried a Range header.

    with CutProxy(upstream_port, [("cut", 1 << 20)]) as px:
        url = px.url            # "http://127.0.0.1:P"
        ...
        px.requests[1]          # "GET /bkt/key HTTP/1.1\\r\\n...Range: bytes=1048576-..."
"""
import socket
import threading
import time

HEAD_END = b"\r\n\r\n"


def _read_head(sock):
    """Reads up to and including the blank line ending an HTTP head; returns (head, rest)."""
    data = b""
    while HEAD_END not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    i = data.index(HEAD_END) + len(HEAD_END)
    return data[:i], data[i:]


class CutProxy:
    def __init__(self, upstream_port, plan=(), upstream_host="127.0.0.1", ssl_context=None):
        self.upstream = (upstream_host, upstream_port)
        self.ssl_context = ssl_context
        self.plan = list(plan)
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.port)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.stopping.set()
        try:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and
            # the port would go on accepting.
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        try:
            self.lsock.close()
        except OSError:
            pass

    def set_plan(self, plan):
        with self.lock:
            self.plan = list(plan)
            self.requests = []

    def _next_action(self):
        with self.lock:
            return self.plan.pop(0) if self.plan else ("pass",)

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                csock, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(csock,), daemon=True).start()

    def _handle(self, csock):
        usock = None
        try:
            if self.ssl_context is not None:
                csock = self.ssl_context.wrap_socket(csock, server_side=True)
            head, rest = _read_head(csock)
            if head is None:
                return
            action = self._next_action()
            with self.lock:
                self.requests.append(head.decode("latin-1"))
            if action[0] == "reply":
                csock.sendall(action[1])
                return
            usock = socket.create_connection(self.upstream)
            usock.sendall(head + rest)
            self._pump_response(usock, csock, action)
        except (OSError, ValueError):
            pass
        finally:
            for s in (csock, usock):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def _pump_response(self, usock, csock, action):
        kind = action[0]
        limit = action[1] if kind in ("cut", "cut_then", "stall") else None
        head, body = _read_head(usock)
        if head is None:
            return
        csock.sendall(head)
        sent = 0
        while True:
            if limit is not None and sent + len(body) >= limit:
                csock.sendall(body[: limit - sent])
                break
            csock.sendall(body)
            sent += len(body)
            body = usock.recv(65536)
            if not body:
                return
        if kind == "cut_then":
            action[2]()
        elif kind == "stall":
            deadline = time.monotonic() + action[2]
            csock.settimeout(0.2)
            while time.monotonic() < deadline and not self.stopping.is_set():
                try:
                    if not csock.recv(1):
                        break          # the client closed its end: it gave up waiting
                except socket.timeout:
                    pass
        # "cut": returning closes both sockets with the body unfinished.

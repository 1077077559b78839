#!/usr/bin/env python3
"""A DynamoDB-aware fault-injecting HTTP proxy, in front of moto or dynalite.

tests/fault_proxy.py fails whole requests; DynamoDB's BatchWriteItem also fails part of one: a
200 answer that hands items back in UnprocessedItems. This proxy understands the AWS JSON
protocol well enough to do that: it takes items out of a BatchWriteItem request, forwards the
rest (re-signed with SigV4 when it knows the credentials, so that moto's signature check still
passes), and returns the taken items as unprocessed, merged into the upstream's own answer.

Only requests whose X-Amz-Target contains `match` (default "BatchWriteItem") consume the plan;
others pass untouched. When the plan is used up, requests pass. Plan actions, comma-separated,
each optionally repeated with `*N`:
    pass                 forward, relay the answer
    unprocessed:N        forward all but the last N items of the request (nothing is forwarded
                         when N covers them all) and answer 200 with those N in UnprocessedItems
    throttle             400 ThrottlingException (nothing forwarded)
    provisioned          400 ProvisionedThroughputExceededException
    status:CODE          CODE with an InternalServerError body (500) / ServiceUnavailable (503)
    validation           400 ValidationException
    cancel:CODE          (TransactWriteItems) 400 TransactionCanceledException whose
                         CancellationReasons give CODE to the first action and None to the
                         others (nothing forwarded): CODE = TransactionConflict, ThrottlingError
    lost                 forward, then answer 500 as if the answer had been lost on the way:
                         the request took effect and the client does not know it
Additionally, `fail_if` (a text) answers 400 ValidationException to every matching request whose
body contains that text, whatever the plan says: a row the server refuses.

    from ddb_fault_proxy import DdbFaultProxy
    with DdbFaultProxy("http://127.0.0.1:5000", creds=(akid, secret), region="us-east-1") as p:
        p.url                       # "http://127.0.0.1:P"
        p.set_plan("unprocessed:3*4,throttle*2")
        p.log                       # [{"target", "action", "items", "time"}]
        p.count("throttle")         # logged requests with that action
"""
import http.client
import http.server
import json
import threading
import time
import urllib.parse

ERRORS = {
    "throttle": (400, "com.amazonaws.dynamodb.v20120810#ThrottlingException", "Rate exceeded"),
    "provisioned": (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded"),
    "validation": (400, "com.amazon.coral.validate#ValidationException",
                   "One or more parameter values were invalid"),
}


def parse_plan(text):
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
        if parts[0] not in ("pass", "unprocessed", "throttle", "provisioned", "status",
                            "validation", "cancel", "lost"):
            raise ValueError(f"unknown action {parts[0]!r}")
        plan.extend([parts] * times)
    return plan


class DdbFaultProxy:
    def __init__(self, upstream, plan="", match="BatchWriteItem", creds=None,
                 region="us-east-1", fail_if=None):
        u = urllib.parse.urlsplit(upstream)
        self.up_host, self.up_port = u.hostname, u.port or 80
        self.plan = parse_plan(plan)
        self.match = match
        self.creds = creds
        self.region = region
        self.fail_if = fail_if
        self.log = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, out = proxy._handle(self.command, self.path, self.headers, body)
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass      # the client gave up on the request (a load that failed)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- control --
    def set_plan(self, text):
        with self.lock:
            self.plan = parse_plan(text)

    def set_fail_if(self, text):
        with self.lock:
            self.fail_if = text

    def reset(self):
        with self.lock:
            self.plan = []
            self.log = []
            self.fail_if = None

    def count(self, action=None):
        with self.lock:
            return sum(1 for e in self.log
                       if action is None or e["action"].split(":")[0] == action)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- serving --
    def _forward(self, method, path, headers, body, resign):
        hdrs = {k: v for k, v in headers.items()
                if k.lower() not in ("content-length", "connection", "accept-encoding")}
        if resign and self.creds:
            hdrs = self._sign(path, hdrs, body)
        conn = http.client.HTTPConnection(self.up_host, self.up_port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def _sign(self, path, hdrs, body):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        keep = {k: v for k, v in hdrs.items()
                if k.lower() not in ("authorization", "x-amz-date", "x-amz-security-token",
                                     "x-amz-content-sha256")}
        req = AWSRequest(method="POST", url=f"http://{hdrs.get('Host', hdrs.get('host'))}{path}",
                         data=body, headers=keep)
        SigV4Auth(Credentials(*self.creds), "dynamodb", self.region).add_auth(req)
        return dict(req.headers.items())

    def _error(self, status, code, message):
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.0")], body

    def _handle(self, method, path, headers, body):
        target = headers.get("X-Amz-Target", "")
        items = 0
        if "BatchWriteItem" in target:
            try:
                req = json.loads(body)
                items = sum(len(v) for v in req["RequestItems"].values())
            except (ValueError, KeyError):
                req = None
        with self.lock:
            action = ["pass"]
            if self.match in target:
                if self.fail_if and self.fail_if.encode() in body:
                    action = ["validation"]
                elif self.plan:
                    action = self.plan.pop(0)
            self.log.append({"target": target, "action": ":".join(action), "items": items,
                             "time": time.time()})
        kind = action[0]
        if kind in ERRORS:
            return self._error(*ERRORS[kind])
        if kind == "status":
            code = int(action[1])
            return self._error(code, "InternalServerError" if code == 500 else
                               "ServiceUnavailable", f"injected {code}")
        if kind == "cancel":
            try:
                n = len(json.loads(body)["TransactItems"])
            except (ValueError, KeyError):
                n = 1
            reasons = [{"Code": action[1], "Message": "injected"}] + [{"Code": "None"}] * (n - 1)
            out = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#"
                                        "TransactionCanceledException",
                              "Message": f"Transaction cancelled [{action[1]}]",
                              "CancellationReasons": reasons}).encode()
            return 400, [("Content-Type", "application/x-amz-json-1.0")], out
        if kind == "lost":
            self._forward(method, path, headers, body, resign=False)
            return self._error(500, "InternalServerError", "injected: the answer was lost")
        if kind == "unprocessed" and req is not None:
            return self._unprocessed(method, path, headers, req, int(action[1]))
        return self._forward(method, path, headers, body, resign=False)

    def _unprocessed(self, method, path, headers, req, n):
        (table, puts), = req["RequestItems"].items()
        n = min(n, len(puts))
        keep, taken = puts[:len(puts) - n], puts[len(puts) - n:]
        answer = {"UnprocessedItems": {}}
        status, hdrs = 200, [("Content-Type", "application/x-amz-json-1.0")]
        if keep:
            fwd = json.dumps({"RequestItems": {table: keep}}).encode()
            status, hdrs, out = self._forward(method, path, headers, fwd, resign=True)
            if status != 200:
                return status, hdrs, out
            answer = json.loads(out)
        un = answer.setdefault("UnprocessedItems", {})
        un.setdefault(table, []).extend(taken)
        return status, hdrs, json.dumps(answer).encode()

#!/usr/bin/env python3
"""A local stand-in for the two credential endpoints moto does not serve.

EC2 instance metadata, IMDSv2 as AWS documents it:
  PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600) returns a session
  token (400 without or with a bad TTL, 403 when X-Forwarded-For is present); every GET under
  /latest/ without a valid, unexpired X-aws-ec2-metadata-token gets 401;
  GET /latest/meta-data/iam/security-credentials/ lists the role name;
  GET /latest/meta-data/iam/security-credentials/ROLE returns {"Code": "Success", "LastUpdated",
  "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}; another role 404.
ECS container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI):
  GET ECS_PATH (default /v2/credentials/task) returns {"AccessKeyId", "SecretAccessKey", "Token",
  "Expiration", "RoleArn"}; when an authorization token is configured, a request whose
  Authorization header differs gets 401.

Credentials come from a callable (each request calls it: hand out fresh STS credentials from
moto so that signed calls made with them pass moto's signature check) and carry an Expiration
`lifetime` seconds from now, so refreshes can be tested with short lifetimes.

    from creds_responder import CredsResponder
    r = CredsResponder(fetch=lambda: {"AccessKeyId": ..., "SecretAccessKey": ..., "Token": ...},
                       lifetime=25, role="ingestd-role", ecs_token="s3cr3t")
    r.start(); r.url -> "http://127.0.0.1:P"; r.ecs_url -> r.url + ECS path
    r.stats -> counters: token_put, token_bad, imds_401, imds_list, imds_creds, ecs_ok, ecs_401,
               requests;  r.revoke_tokens() invalidates every IMDS token;  r.fail_creds(n) makes
               the next n credential requests (IMDS or ECS) answer 503;  r.stop()

Command line: creds_responder.py [--port P] --static AK:SK[:TOKEN] [--lifetime S]
[--role R] [--ecs-token T]  prints "ready URL" and serves until killed.
"""

import argparse
import datetime
import http.server
import json
import secrets
import sys
import threading
import time

MAX_TTL = 21600


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class CredsResponder:
    def __init__(self, fetch, lifetime=3600, role="ingestd-role", ecs_token=None,
                 ecs_path="/v2/credentials/task", port=0, host="127.0.0.1"):
        self.fetch = fetch
        self.lifetime = lifetime
        self.role = role
        self.ecs_token = ecs_token
        self.ecs_path = ecs_path
        self.lock = threading.Lock()
        self.tokens = {}          # token -> expiry (monotonic)
        self.fail_left = 0
        self.stats = {k: 0 for k in ("requests", "token_put", "token_bad", "imds_401",
                                     "imds_list", "imds_creds", "ecs_ok", "ecs_401",
                                     "failed")}
        self.issued = []          # access key ids handed out, in order
        self.server = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        self.ecs_url = self.url + ecs_path
        self.thread = None

    # ---- control ----
    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def revoke_tokens(self):
        with self.lock:
            self.tokens.clear()

    def fail_creds(self, n):
        with self.lock:
            self.fail_left = n

    def _count(self, key):
        with self.lock:
            self.stats[key] += 1

    def _document(self, ecs):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                self.stats["failed"] += 1
                return None
        c = self.fetch()
        now = time.time()
        with self.lock:
            self.issued.append(c["AccessKeyId"])
        doc = {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
               "Token": c.get("Token", ""), "Expiration": iso(now + self.lifetime)}
        if ecs:
            doc["RoleArn"] = "arn:aws:iam::123456789012:role/" + self.role
        else:
            doc = {"Code": "Success", "LastUpdated": iso(now), "Type": "AWS-HMAC", **doc}
        return doc

    # ---- HTTP ----
    def _handler_class(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _send(self, status, body=b"", ctype="text/plain", headers=()):
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _drain(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)

            def do_PUT(self):
                outer._count("requests")
                self._drain()
                if self.path != "/latest/api/token":
                    return self._send(404, "Not Found")
                if self.headers.get("X-Forwarded-For") is not None:
                    return self._send(403, "Forbidden")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                try:
                    ttl = int(ttl)
                except (TypeError, ValueError):
                    ttl = 0
                if not 1 <= ttl <= MAX_TTL:
                    outer._count("token_bad")
                    return self._send(400, "Bad Request")
                token = secrets.token_urlsafe(32)
                with outer.lock:
                    outer.tokens[token] = time.monotonic() + ttl
                    outer.stats["token_put"] += 1
                self._send(200, token, headers=[("X-aws-ec2-metadata-token-ttl-seconds",
                                                 str(ttl))])

            def _imds_token_ok(self):
                tok = self.headers.get("X-aws-ec2-metadata-token")
                with outer.lock:
                    exp = outer.tokens.get(tok)
                    return exp is not None and exp > time.monotonic()

            def do_GET(self):
                outer._count("requests")
                path = self.path.split("?", 1)[0]
                if path == outer.ecs_path:
                    return self._ecs()
                if not path.startswith("/latest/"):
                    return self._send(404, "Not Found")
                if not self._imds_token_ok():
                    outer._count("imds_401")
                    return self._send(401, "Unauthorized")
                prefix = "/latest/meta-data/iam/security-credentials/"
                if path == prefix:
                    outer._count("imds_list")
                    return self._send(200, outer.role)
                if path == prefix + outer.role:
                    doc = outer._document(ecs=False)
                    if doc is None:
                        return self._send(503, "Service Unavailable")
                    outer._count("imds_creds")
                    return self._send(200, json.dumps(doc, indent=2))
                return self._send(404, "Not Found")

            def _ecs(self):
                if outer.ecs_token is not None and \
                        self.headers.get("Authorization") != outer.ecs_token:
                    outer._count("ecs_401")
                    return self._send(401, json.dumps({"message": "unauthorized"}),
                                      "application/json")
                doc = outer._document(ecs=True)
                if doc is None:
                    return self._send(503, "Service Unavailable")
                outer._count("ecs_ok")
                self._send(200, json.dumps(doc), "application/json")

        return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--static", required=True, help="AK:SK[:TOKEN] to hand out")
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--role", default="ingestd-role")
    ap.add_argument("--ecs-token")
    a = ap.parse_args()
    parts = a.static.split(":", 2)
    if len(parts) < 2:
        ap.error("--static needs AK:SK")
    creds = {"AccessKeyId": parts[0], "SecretAccessKey": parts[1],
             "Token": parts[2] if len(parts) > 2 else ""}
    r = CredsResponder(lambda: creds, lifetime=a.lifetime, role=a.role, ecs_token=a.ecs_token,
                       port=a.port).start()
    print("ready " + r.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    r.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run moto's server on loopback with SigV4 verification that checks exactly what was sent.

moto 5.2.1 can verify signatures, but its checker (moto.iam.access_control.IAMRequestBase)
rebuilds the canonical request from Werkzeug's decoded-and-requoted URL and, for form posts, from
an empty body. It therefore rejects correct signatures for S3 keys with non-ASCII or
`+ = & ( ) !`, `%2F` in a query string, every form-encoded POST, and S3 requests that carry no
x-amz-content-sha256. This launcher keeps moto's access-key lookup and IAM policy evaluation
but replaces the signature check, at runtime and in this process only (installed files are not
touched): a WSGI middleware records the raw request target (environ RAW_URI), the headers as
received and the raw body bytes; the replacement check recomputes AWS Signature Version 4 from
those. It adds what moto lacks and AWS does:

- X-Amz-Date more than 15 minutes from the server clock: 403 RequestTimeTooSkewed;
- a credential scope whose date is not the date of X-Amz-Date, a scope that does not end in
  aws4_request, or a request whose SignedHeaders omit host: 403 SignatureDoesNotMatch;
- S3: a missing x-amz-content-sha256 is 400 InvalidRequest, a payload hash that does not match
  the body is 400 XAmzContentSHA256Mismatch, an x-amz-* header that is not signed is 403
  AccessDenied;
- no Authorization header (and no presigned query) while checking is on: 403
  MissingAuthenticationToken (AccessDenied for S3).
moto's own errors from the key lookup and policy check (InvalidClientTokenId,
InvalidAccessKeyId, AccessDenied, ...) are rendered the same way.
Errors are XML (`<Error><Code>..</Code><Message>..</Message></Error>`, wrapped in
`<ErrorResponse>` outside S3), except for AWS JSON protocol requests (Content-Type
application/x-amz-json-*), which get `{"__type": CODE, "message": ...}` as AWS sends them.

Canonical URI: for S3 the path is percent-decoded and re-encoded with AWS's rules (only
`A-Za-z0-9-_.~/` left as is; no dot-segment or `//` normalisation); for other services the path
as sent is encoded once more (SigV4's double encoding) after removing dot segments. Query
parameters are percent-decoded (a literal `+` stays a plus) and re-encoded, then sorted.
Presigned URLs (X-Amz-Signature in the query) are verified the same way with X-Amz-Expires.
Also fixed: an S3 PUT/POST whose Content-Type is application/x-www-form-urlencoded (curl's
default) no longer stores an empty body; moto sees it as application/octet-stream.
Not done: chunk signatures of aws-chunked (STREAMING-*) uploads; only the seed signature is
checked.

Usage: python3 tests/moto_launcher.py --port P [--host 127.0.0.1] [--auth] [--quiet]
  --port 0 picks a free port. When ready, prints one line to stdout:
  `ready {"port": P, "url": "http://127.0.0.1:P", "pid": N, ...}` (JSON after the word), and
  with --auth also "access_key_id"/"secret_access_key" of an IAM user `ingestd` that has an
  allow-all policy; checking is then already on. Without --auth checking stays off until
  `POST /moto-api/reset-auth` (Content-Type: text/plain, body `0`).
  SIGTERM/SIGINT stop the server; the launcher also exits when its parent dies.
"""

import argparse
import ctypes
import datetime
import hashlib
import hmac
import io
import json
import logging
import os
import signal
import sys
import threading
import urllib.parse

from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.authorization import ActionAuthenticatorMixin
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

MAX_SKEW = datetime.timedelta(minutes=15)
ALGORITHM = "AWS4-HMAC-SHA256"
# Headers botocore never signs; present but unsigned they are not an error.
UNSIGNED_OK = {"x-amz-content-sha256-unsigned"}

_tls = threading.local()


class AuthFailure(HTTPException):
    """Raised inside moto's handler; the middleware replaces moto's response with ours."""

    def __init__(self, status, code, message):
        super().__init__(description=message)
        self.code = status
        self.aws_code = code
        self.aws_message = message


def _error_body(service, json_protocol, code, message):
    if json_protocol:
        return json.dumps({"__type": code, "message": message}).encode()
    esc = (message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    if service == "s3":
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{esc}</Message><RequestId>0</RequestId></Error>").encode()
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{esc}</Message></Error>"
            f"<RequestId>0</RequestId></ErrorResponse>").encode()


def _fail(status, code, message):
    _tls.failure = (status, code, message)
    raise AuthFailure(status, code, message)


class RawRequest:
    """What arrived on the wire, as bytes where it matters."""

    def __init__(self, environ, body):
        self.method = environ["REQUEST_METHOD"]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        raw = raw.encode("latin-1")
        if raw.startswith(b"http://") or raw.startswith(b"https://"):
            raw = b"/" + raw.split(b"/", 3)[3] if raw.count(b"/") >= 3 else b"/"
        path, _, query = raw.partition(b"?")
        self.path = path or b"/"
        self.query = query
        self.headers = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:]
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = key
            else:
                continue
            self.headers[name.lower().replace("_", "-")] = value.encode("latin-1")
        self.body = body

    def header(self, name):
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def query_params(self):
        out = []
        for part in self.query.split(b"&"):
            if not part:
                continue
            name, eq, value = part.partition(b"=")
            out.append((urllib.parse.unquote_to_bytes(name),
                        urllib.parse.unquote_to_bytes(value) if eq else b""))
        return out


def _remove_dot_segments(path):
    out = []
    for seg in path.split(b"/"):
        if seg == b".":
            continue
        if seg == b"..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(seg)
    result = b"/".join(out)
    if path.endswith((b"/.", b"/..")):
        result += b"/"
    return result if result.startswith(b"/") else b"/" + result


def canonical_uri(req, service):
    if service == "s3":
        decoded = urllib.parse.unquote_to_bytes(req.path)
        return urllib.parse.quote(decoded, safe="/")
    path = _remove_dot_segments(req.path)
    return urllib.parse.quote(path, safe="/~")


def canonical_query(req, drop_signature):
    pairs = []
    for name, value in req.query_params():
        if drop_signature and name == b"X-Amz-Signature":
            continue
        pairs.append((urllib.parse.quote(name, safe="-_.~"),
                      urllib.parse.quote(value, safe="-_.~")))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _parse_authorization(value):
    if not value.startswith(ALGORITHM + " "):
        return None
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def _auth_params(req):
    """(credential, signed_headers, signature, amz_date, expires) from header or query."""
    auth = req.header("authorization")
    if auth is not None:
        fields = _parse_authorization(auth)
        if fields is None:
            _fail(400, "AuthorizationHeaderMalformed",
                  "The authorization header is malformed; expected " + ALGORITHM +
                  " Credential=..., SignedHeaders=..., Signature=...")
        amz_date = req.header("x-amz-date")
        return (fields["Credential"], fields["SignedHeaders"], fields["Signature"],
                amz_date, None)
    q = {n.decode("latin-1"): v.decode("utf-8", "replace") for n, v in req.query_params()}
    if "X-Amz-Signature" in q:
        if q.get("X-Amz-Algorithm") != ALGORITHM:
            _fail(400, "AuthorizationQueryParametersError",
                  "X-Amz-Algorithm only supports " + ALGORITHM)
        return (q.get("X-Amz-Credential", ""), q.get("X-Amz-SignedHeaders", ""),
                q["X-Amz-Signature"], q.get("X-Amz-Date"), q.get("X-Amz-Expires", "604800"))
    return None


def _parse_amz_date(value):
    try:
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def verify(req, service_hint, lookup_secret):
    """Check the request's SigV4 signature; raise AuthFailure on any mismatch.

    lookup_secret(access_key_id) returns (secret, session_token) or raises moto's own error.
    Returns the access key id.
    """
    s3 = service_hint == "s3"
    params = _auth_params(req)
    if params is None:
        if s3:
            _fail(403, "AccessDenied", "Access Denied")
        _fail(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    credential, signed_headers, signature, amz_date, expires = params
    scope = credential.split("/")
    if len(scope) != 5:
        _fail(400 if s3 else 403, "AuthorizationHeaderMalformed" if s3 else "IncompleteSignature",
              f"Credential should have 5 parts (AKID/date/region/service/aws4_request): "
              f"{credential!r}")
    akid, scope_date, region, service, terminator = scope
    when = _parse_amz_date(amz_date)
    if when is None:
        _fail(403, "AccessDenied" if s3 else "IncompleteSignature",
              "AWS authentication requires a valid Date or x-amz-date header")
    now = datetime.datetime.now(datetime.timezone.utc)
    if expires is None:
        if abs(now - when) > MAX_SKEW:
            _fail(403, "RequestTimeTooSkewed",
                  "The difference between the request time and the current time is too "
                  f"large. RequestTime: {amz_date}, ServerTime: "
                  f"{now.strftime('%Y%m%dT%H%M%SZ')}, MaxAllowedSkewMilliseconds: 900000")
    else:
        try:
            seconds = int(expires)
        except ValueError:
            seconds = -1
        if seconds < 1 or seconds > 604800:
            _fail(400, "AuthorizationQueryParametersError",
                  "X-Amz-Expires must be between 1 and 604800 seconds")
        if when - now > MAX_SKEW:
            _fail(403, "RequestTimeTooSkewed", "Request is not yet valid")
        if now > when + datetime.timedelta(seconds=seconds):
            _fail(403, "AccessDenied", "Request has expired")
    if scope_date != amz_date[:8]:
        _fail(403, "SignatureDoesNotMatch",
              f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
              f"from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    if terminator != "aws4_request":
        _fail(403, "SignatureDoesNotMatch",
              f"Credential should be scoped with a valid terminator: 'aws4_request', not "
              f"'{terminator}'.")
    signed = signed_headers.split(";")
    if "host" not in signed:
        _fail(403, "SignatureDoesNotMatch",
              "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if signed != sorted(signed) or any(h != h.lower() for h in signed):
        _fail(403, "SignatureDoesNotMatch", "SignedHeaders must be lowercase and sorted")

    if s3 and expires is None:
        unsigned = sorted(h for h in req.headers
                          if h.startswith("x-amz-") and h not in signed and h not in UNSIGNED_OK)
        if unsigned:
            _fail(403, "AccessDenied", "There were headers present in the request which were "
                  "not signed: HeadersNotSigned: " + ", ".join(unsigned))
        content_hash = req.header("x-amz-content-sha256")
        if content_hash is None:
            _fail(400, "InvalidRequest",
                  "Missing required header for this request: x-amz-content-sha256")
        actual = hashlib.sha256(req.body).hexdigest()
        if (content_hash != "UNSIGNED-PAYLOAD" and not content_hash.startswith("STREAMING-")
                and content_hash != actual):
            _fail(400, "XAmzContentSHA256Mismatch",
                  "The provided 'x-amz-content-sha256' header does not match what was "
                  f"computed. ClientComputedContentSHA256: {content_hash}, "
                  f"S3ComputedContentSHA256: {actual}")
        payload_hash = content_hash
    elif expires is not None:
        payload_hash = req.header("x-amz-content-sha256") or (
            "UNSIGNED-PAYLOAD" if s3 else hashlib.sha256(req.body).hexdigest())
    else:
        payload_hash = hashlib.sha256(req.body).hexdigest()

    lines = []
    for name in signed:
        value = req.headers.get(name)
        if value is None:
            _fail(403, "SignatureDoesNotMatch",
                  f"Header {name!r} is in SignedHeaders but not in the request")
        lines.append(name + ":" + " ".join(value.decode("latin-1").split()))
    canonical = "\n".join([
        req.method,
        canonical_uri(req, service),
        canonical_query(req, expires is not None),
        "\n".join(lines) + "\n",
        signed_headers,
        payload_hash,
    ])
    secret, _token = lookup_secret(akid)
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, f"{scope_date}/{region}/{service}/aws4_request",
        hashlib.sha256(canonical.encode("latin-1")).hexdigest()])
    key = signing_key(secret, scope_date, region, service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        msg = ("The request signature we calculated does not match the signature you "
               "provided. Check your AWS Secret Access Key and signing method.")
        if os.environ.get("MOTO_LAUNCHER_DEBUG"):
            msg += f" Canonical request: {canonical!r} String to sign: {string_to_sign!r}"
        _fail(403, "SignatureDoesNotMatch", msg)
    return akid


# STS actions AWS accepts without a signature: the token or assertion is the credential.
UNSIGNED_STS_ACTIONS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def _patched_authenticate(self, iam_request_cls, resource="*"):
    """Replacement for ActionAuthenticatorMixin._authenticate_and_authorize_action."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    req = getattr(_tls, "raw", None)
    if req is None:
        _fail(500, "InternalFailure", "launcher: raw request not recorded")
    from moto.iam.access_control import S3IAMRequest
    s3 = iam_request_cls is S3IAMRequest
    params = _auth_params(req)
    if params is None and not s3 and self._get_action() in UNSIGNED_STS_ACTIONS:
        return
    holder = {}

    def lookup(akid):
        # moto's request object resolves the key (IAM user or STS session) and raises
        # InvalidAccessKeyId / InvalidClientTokenId itself; it only reads the credential
        # and X-Amz-Security-Token from the headers we hand it.
        headers = dict(self.headers)
        if params is not None and "Authorization" not in headers:
            headers["Authorization"] = (f"{ALGORITHM} Credential={params[0]}, "
                                        f"SignedHeaders={params[1]}, Signature={params[2]}")
            tok = dict(req.query_params()).get(b"X-Amz-Security-Token")
            if tok is not None:
                headers["X-Amz-Security-Token"] = tok.decode()
        iam_request = iam_request_cls(
            account_id=self.current_account, method=self.method, path=self.path,
            data=self.data, body=self.raw_body, headers=headers, action=self._get_action())
        holder["iam"] = iam_request
        creds = iam_request._access_key.create_credentials()
        return creds.secret_key, creds.token

    try:
        verify(req, "s3" if s3 else "other", lookup)
        holder["iam"].check_action_permitted(resource)
    except AuthFailure:
        raise
    except Exception as e:  # moto's own InvalidClientTokenId, AccessDenied, ... errors
        code = getattr(e, "error_type", None) or getattr(e, "code", None)
        message = getattr(e, "message", None) or str(e)
        if not isinstance(code, str):
            raise
        status = e.code if isinstance(getattr(e, "code", None), int) else (
            400 if code == "InvalidToken" else 403)
        _fail(status, code, message)


class Middleware:
    """Records the raw request for the signature check and turns AuthFailure into a response."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop("wsgi.input_terminated", None)
        if not length and body:
            environ["CONTENT_LENGTH"] = str(len(body))
        _tls.raw = RawRequest(environ, body)
        _tls.failure = None
        service = "other"
        auth = environ.get("HTTP_AUTHORIZATION", "")
        cred = auth.partition("Credential=")[2].split(",")[0]
        if not cred:
            q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            cred = (q.get("X-Amz-Credential") or [""])[0]
        parts = cred.split("/")
        if len(parts) == 5:
            service = parts[3]
        if (service == "s3" and environ["REQUEST_METHOD"] in ("PUT", "POST")
                and environ.get("CONTENT_TYPE", "").startswith(
                    "application/x-www-form-urlencoded")):
            # Werkzeug would parse the body as a form and moto would then store an empty
            # object (curl and urllib send this type by default). S3 treats it as opaque
            # bytes; so do we. The signature check above still sees the original header.
            environ["CONTENT_TYPE"] = "application/octet-stream"
        try:
            result = self.app(environ, _Capture(start_response))
            failure = _tls.failure
            if failure is None:
                return result
            if hasattr(result, "close"):
                result.close()
        except AuthFailure:
            failure = _tls.failure
        finally:
            _tls.raw = None
        status, code, message = failure
        json_protocol = environ.get("CONTENT_TYPE", "").startswith("application/x-amz-json")
        body = _error_body(service, json_protocol, code, message)
        start_response(f"{status} {_REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/x-amz-json-1.0" if json_protocol
                         else "application/xml"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-ErrorType", code)])
        return [body]


class _Capture:
    """start_response wrapper that defers moto's call until we know the check passed."""

    def __init__(self, start_response):
        self.start_response = start_response

    def __call__(self, status, headers, exc_info=None):
        if getattr(_tls, "failure", None) is not None:
            def discard(_data):
                return None
            return discard
        return self.start_response(status, headers, exc_info)


_REASONS = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}


def install_patch():
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _patched_authenticate


def enable_auth():
    """Create IAM user `ingestd` with an allow-all policy and a key; turn checking on."""
    from moto.iam.models import iam_backends
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user("us-east-1", "ingestd")
    iam.put_user_policy("ingestd", "all", json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key("ingestd")
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return key.access_key_id, key.secret_access_key


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="moto server with exact SigV4 checking")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--auth", action="store_true",
                    help="create an IAM user and key and turn signature checking on")
    ap.add_argument("--quiet", action="store_true", help="do not log each request")
    args = ap.parse_args(argv)

    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING if args.quiet else logging.INFO)
    if not args.quiet:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

    install_patch()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, Middleware(app), threaded=True)
    port = server.server_address[1]
    os.environ.setdefault("MOTO_PORT", str(port))
    info = {"port": port, "url": f"http://{args.host}:{port}", "pid": os.getpid()}
    if args.auth:
        info["access_key_id"], info["secret_access_key"] = enable_auth()

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready " + json.dumps(info), flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes ingestd's extra SigV4 cases (aws-c-auth "v4" layout) with botocore's signer.

Each case folder gets request.txt and context.json (the inputs for tests/sigv4_suite) and the
expected header-canonical-request.txt, header-string-to-sign.txt and header-signature.txt,
computed by botocore.auth.SigV4Auth (other services) or S3SigV4Auth (S3). Nothing here calls
ingestd's code. Run from anywhere: python3 data/sigv4/generate.py
"""
import json
import os
import sys
from urllib.parse import unquote

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))

# AWS's documentation example keys: not real credentials.
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = ("IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample+token/"
         "with+plus/and=equals==")

CSV_BODY = b"id,name\n1,caf\xc3\xa9\n2,b  c\n"
S3_CTX = {"service": "s3", "normalize": False, "double_uri_encode": False}


def case(name, method, target, headers, body=b"", region="us-east-1", ts="2026-01-15T08:09:10Z",
         token=None, **ctx):
    """headers: list of (name, value); a value containing '\\n' is written as an obs-fold."""
    return dict(name=name, method=method, target=target, headers=headers, body=body,
                region=region, ts=ts, token=token, ctx=ctx)


CASES = [
    # ---- S3: wire path signed verbatim (no normalisation, no second encoding) ----
    case("s3-get-key-space", "GET", "/ingest-bucket/my%20folder/a%20b.csv",
         [("Host", "s3.us-east-1.amazonaws.com")],
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-get-key-plus-equals-amp", "GET", "/ingest-bucket/a%2Bb%3Dc%26d%20e.csv",
         [("Host", "s3.us-east-1.amazonaws.com")],
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-get-key-utf8", "GET",
         "/ingest-bucket/donn%C3%A9es/%E2%82%AC%20%F0%9F%93%88.csv",
         [("Host", "s3.eu-west-1.amazonaws.com")], region="eu-west-1",
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-get-key-dot-segments", "GET", "/ingest-bucket/dir//x/./y/../z.csv",
         [("Host", "s3.us-east-1.amazonaws.com"), ("Range", "bytes=0-1048575")],
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-get-key-leading-dots", "GET", "/ingest-bucket/../up/./.hidden/..csv/",
         [("Host", "s3.us-east-1.amazonaws.com")],
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-get-virtual-host-double-slash", "GET", "//leading/empty//segments.csv",
         [("Host", "ingest-bucket.s3.us-east-1.amazonaws.com")],
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    # Query written in a non-canonical form: raw '/', '+', lower-case hex, a bare key,
    # '=' inside a value, repeated keys. The expectation encodes the decoded pairs.
    case("s3-list-objects-query-token", "GET",
         "/ingest-bucket?list-type=2&prefix=my%20folder%2f&delimiter=/"
         "&continuation-token=1a+b%3D%3D&start-after=d%C3%A9j%C3%A0&x=a=b&fetch-owner&x=A",
         [("Host", "s3.us-east-1.amazonaws.com")], token=TOKEN,
         payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    case("s3-put-sign-body", "PUT", "/ingest-bucket/up%20load/r%C3%A9sum%C3%A9.csv",
         [("Host", "s3.us-east-1.amazonaws.com"), ("Content-Type", "text/csv"),
          ("Content-Length", str(len(CSV_BODY)))],
         body=CSV_BODY,
         sign_body=True, **S3_CTX),
    case("s3-post-uploads-token", "POST", "/ingest-bucket/big%2Bfile.csv?uploads",
         [("Host", "s3.us-east-1.amazonaws.com"),
          ("X-Amz-Meta-Note", "  two   spaces\tand tab  "),
          ("x-amz-meta-folded", "first\n   second")],
         token=TOKEN, payload_hash="UNSIGNED-PAYLOAD", **S3_CTX),
    # ---- other services: normalised, double-encoded path; body hashed; token signed ----
    case("dynamodb-batchwrite-json-token", "POST", "/",
         [("Host", "dynamodb.eu-central-1.amazonaws.com"),
          ("Content-Type", "application/x-amz-json-1.0"),
          ("X-Amz-Target", "DynamoDB_20120810.BatchWriteItem")],
         body=json.dumps({"RequestItems": {"events": [{"PutRequest": {"Item": {
             "pk": {"S": "s3://ingest-bucket/a b.csv#1"}, "v": {"N": "42"},
             "note": {"S": "caf\u00e9 \u20ac"}}}}]}}, ensure_ascii=False).encode(),
         region="eu-central-1", token=TOKEN, service="dynamodb", normalize=True),
    case("sqs-receive-json-token", "POST", "/",
         [("Host", "sqs.us-east-1.amazonaws.com"),
          ("Content-Type", "application/x-amz-json-1.0"),
          ("X-Amz-Target", "AmazonSQS.ReceiveMessage")],
         body=json.dumps({"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/ingest",
                          "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20,
                          "VisibilityTimeout": 300}).encode(),
         token=TOKEN, service="sqs", normalize=True),
    case("sqs-path-normalize-double-encode", "GET",
         "/123456789012/queue%20name/./a//b/../c%2Bd/?Action=ReceiveMessage&b=%7e&a=",
         [("Host", "sqs.us-east-1.amazonaws.com")], service="sqs", normalize=True),
    case("service-duplicate-and-folded-headers", "POST", "/path/..",
         [("Host", "example.us-west-2.amazonaws.com"), ("X-Multi", "b"),
          ("x-multi", "  a  "), ("X-Folded", "one\n\ttwo\n  three"), ("X-Empty", ""),
          ("X-MULTI", "c   d")],
         body=b"\x00\x01binary\xff", region="us-west-2", ts="2026-12-31T23:59:59Z",
         service="execute-api", normalize=True),
]


def split_target(target):
    path, _, query = target.partition("?")
    return path, query if "?" in target else None


def botocore_sign(c):
    ctx = c["ctx"]
    s3 = ctx["service"] == "s3"
    creds = Credentials(AKID, SECRET, c["token"])
    auth = (S3SigV4Auth if s3 else SigV4Auth)(creds, ctx["service"], c["region"])
    path, query = split_target(c["target"])
    params = None
    if query:
        # Decoded pairs; botocore AWS-encodes and sorts them itself. Empty pieces are skipped.
        params = []
        for piece in query.split("&"):
            if piece:
                k, _, v = piece.partition("=")
                params.append((unquote(k), unquote(v)))
    host = dict((k.lower(), v) for k, v in c["headers"])["host"]
    req = AWSRequest(method=c["method"], url="http://" + host + path, data=c["body"],
                     params=params)
    for k, v in c["headers"]:
        req.headers[k] = v          # HTTPHeaders appends: duplicates are kept in order
    stamp = c["ts"].replace("-", "").replace(":", "")
    req.context["timestamp"] = stamp
    if s3 and ctx.get("payload_hash") == "UNSIGNED-PAYLOAD":
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    elif s3:
        assert ctx.get("sign_body"), "S3 cases either sign the body or use UNSIGNED-PAYLOAD"
    auth._modify_request_before_signing(req)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    return creq, sts, auth.signature(sts, req)


def request_text(c):
    out = [f"{c['method']} {c['target']} HTTP/1.1"]
    for k, v in c["headers"]:
        lines = v.split("\n")
        out.append(f"{k}: {lines[0]}" if lines[0] else f"{k}:")
        out.extend(lines[1:])       # continuation lines keep their leading whitespace
    text = "\n".join(out).encode() + b"\n"
    if c["body"]:
        text += b"\n" + c["body"]
    return text


def context_json(c):
    creds = {"access_key_id": AKID, "secret_access_key": SECRET}
    if c["token"]:
        creds["token"] = c["token"]
    ctx = {"credentials": creds, "region": c["region"], "timestamp": c["ts"]}
    ctx.update(c["ctx"])
    return json.dumps(ctx, indent=4, sort_keys=True) + "\n"


def main():
    for c in CASES:
        creq, sts, sig = botocore_sign(c)
        d = os.path.join(HERE, c["name"])
        os.makedirs(d, exist_ok=True)
        files = {"request.txt": request_text(c), "context.json": context_json(c).encode(),
                 "header-canonical-request.txt": creq.encode(),
                 "header-string-to-sign.txt": sts.encode(),
                 "header-signature.txt": sig.encode()}
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("wrote", d)
    return 0


if __name__ == "__main__":
    sys.exit(main())

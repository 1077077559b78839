#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/seed-*.

The seeds are real-shaped inputs: the CSV samples, S3/SNS/EventBridge events, AWS answers,
configuration files and SigV4 requests under data/, plus hand-written cases for corners the
data does not cover (quoting, CRLF, BOM, TSV, null strings, validate rules, gzip and zstd
objects; shared credential files with role chains; XML error answers). Each target's input
layout is described at the top of its tests/fuzz/fuzz_<target>.c; the header bytes built here
follow it. Run from anywhere: `python3 tests/fuzz/seeds.py`. It only rewrites seed-* files,
never the inputs libFuzzer added (which `run.sh -m` merges in).
"""
import gzip
import os
import shutil
import subprocess
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(TOP, "data")
CORPUS = os.path.join(TOP, "tests", "fuzz", "corpus")


def read(*parts):
    with open(os.path.join(DATA, *parts), "rb") as f:
        return f.read()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def zstd(data):
    if not shutil.which("zstd"):
        return None
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data, check=True,
                          stdout=subprocess.PIPE).stdout


# ---- csvstream: flags, delimiter, quote, skip/max_errors/compression, counts, nulls, rules,
# limits, callback failures, chunk seed (see take_dialect in fuzz_csvstream.c) ----

DELIMS = {",": 0, ";": 1, "|": 2, "\t": 3, " ": 4}
QUOTES = {'"': 0, "'": 1, "": 2}
COMPRESSION = {"auto": 0, "none": 1, "gzip": 2, "zstd": 3}
COLS = ["a", "b", "c", "d", "column1", "column2"]
REGEXES = ["^[0-9]+$", "^a", "x|y", "^.{0,3}$", "[[:alpha:]]"]
RULE_KIND = {"regex": 0, "int": 1, "len": 2, "notnull": 3}


def csv_seed(obj, tsv=False, header=True, skip_row=False, decompress=False, delim=",",
             quote='"', skip=0, max_errors=0, comp="auto", ncols=0, nulls=None, no_null=False,
             rules=(), batch_rows=3, max_field=None, chunks=(5, 1, 0x83, 16)):
    f = (1 if tsv else 0) | (0x10 if header else 0) | (0x20 if skip_row else 0)
    f |= (0x40 if decompress else 0) | (0x80 if no_null else 0)
    nulls = nulls or []
    out = bytes([f, DELIMS[delim], QUOTES[quote],
                 skip | (max_errors << 2) | (COMPRESSION[comp] << 5),
                 ncols | (len(nulls) << 3) | (len(rules) << 5)])
    for n in nulls:
        out += n.encode() + b"\n"
    for col, kind, a, b in rules:
        out += bytes([COLS.index(col) | (RULE_KIND[kind] << 3), a, b])
    out += bytes([batch_rows - 1, 0x80 if max_field is None else max_field, 0])
    out += bytes(chunks)
    return out + obj


def csvstream_seeds():
    customers = read("samples", "customers.csv")
    trans = read("samples", "transactions.csv")
    aurora = read("aurora-eventual-s3-load", "db-data.csv")
    aurora_bad = read("aurora-eventual-s3-load", "db-data-with-error.csv")
    pipeline = read("aws-data-pipeline", "data.csv")
    w = lambda name, data: write("csvstream", name, data)  # noqa: E731
    w("customers", csv_seed(customers))
    w("transactions", csv_seed(trans, batch_rows=8))
    w("transactions-rules", csv_seed(trans, skip_row=True, max_errors=5,
                                     rules=[("a", "notnull", 0, 0)]))
    w("aurora-semicolon", csv_seed(aurora, header=False, delim=";", ncols=2))
    w("aurora-error-skip", csv_seed(aurora_bad, header=False, delim=";", ncols=2,
                                    skip_row=True, max_errors=3,
                                    rules=[("a", "int", 0, 100)]))
    w("pipeline", csv_seed(pipeline, header=False, ncols=0))
    w("quoted", csv_seed(b'a,b,c\n"x, y","say ""hi""",\n"multi\nline",2,"\r\n'
                         b'"",NULL,3\r\n', nulls=["", "NULL"]))
    w("crlf-bom", csv_seed(b"\xef\xbb\xbfa,b\r\n1,2\r\n\r\n3,4\r5,6", batch_rows=1))
    w("skip-lines", csv_seed(b"# exported\n# by tool\na|b\n1|2\n", delim="|", skip=2))
    w("tsv", csv_seed(b'a\tb\tc\n1\t"q"\t\\N\n\t\t\n', tsv=True, delim="\t",
                      nulls=["\\N", ""]))
    w("bad-quote", csv_seed(b'a,b\n1,x"y\n2,"z"w\n'))
    w("unterminated", csv_seed(b'a,b\n1,"open\n'))
    w("utf8", csv_seed("a,b\n1,é\n2,\xff\n".encode("latin-1"), skip_row=True, max_errors=2))
    w("field-count", csv_seed(b"a,b\n1\n1,2,3\n4,5\n", skip_row=True, max_errors=1))
    w("validate", csv_seed(b"a,b,c\n1,xy,abc\n22,q,\n-5,x,abcd\n", skip_row=True,
                           max_errors=4, rules=[("a", "int", 0xfb, 30), ("b", "regex", 2, 0),
                                                ("c", "len", 0, 3)]))
    w("duplicate-header", csv_seed(b"a,a\n1,2\n"))
    w("columns-rename", csv_seed(b"x,y\n1,2\n", ncols=2))
    w("nul", csv_seed(b"a,b\n1,2\x003\n"))
    w("max-field", csv_seed(b"a,b\n1," + b"z" * 300 + b"\n", max_field=16))
    w("single-quote", csv_seed(b"a;b\n'x;y';'it''s'\n", delim=";", quote="'"))
    w("no-quote", csv_seed(b'a b\n"1 2" 3\n', delim=" ", quote=""))
    w("gzip", csv_seed(gzip.compress(customers), decompress=True, comp="gzip"))
    w("gzip-auto-multi", csv_seed(gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n"),
                                  decompress=True, comp="auto"))
    w("gzip-truncated", csv_seed(gzip.compress(trans)[:200], decompress=True, comp="auto"))
    w("plain-auto", csv_seed(customers, decompress=True, comp="auto"))
    w("plain-none", csv_seed(aurora, header=False, delim=";", ncols=2, decompress=True,
                             comp="none"))
    z = zstd(trans)
    if z:
        w("zstd", csv_seed(z, decompress=True, comp="zstd"))
        w("zstd-auto", csv_seed(zstd(b"a,b\n1,2\n") + zstd(b"3,4\n"), decompress=True))


# ---- jsonstream: flags (json, skip_row, json_path, columns offset), counts, rules, limits,
# callback failures, chunk seed (see take_route in fuzz_jsonstream.c) ----

PATHS = {None: 0, "data": 1, "result.items": 2, "a": 3}
JCOLS = ["a", "b", "c", "d", "id", "name"]


def json_seed(obj, json=False, skip_row=False, path=None, ncols=0, cols_from_c=False,
              max_errors=0, rules=(), batch_rows=3, max_record=None, chunks=(7, 1, 0x85, 30)):
    f = (1 if json else 0) | (2 if skip_row else 0) | (PATHS[path] << 2)
    f |= 0x10 if cols_from_c else 0
    out = bytes([f, max_errors | (ncols << 3) | (len(rules) << 6)])
    for col, kind, a, b in rules:
        out += bytes([JCOLS.index(col) | (RULE_KIND[kind] << 3), a, b])
    out += bytes([batch_rows - 1, 0x80 if max_record is None else max_record, 0])
    return out + bytes(chunks) + obj


def jsonstream_seeds():
    w = lambda name, data: write("jsonstream", name, data)  # noqa: E731
    trades = read("samples", "trades.json")
    w("trades", json_seed(trades, json=True, batch_rows=8))
    w("trades-jsonl", json_seed(trades, json=False, skip_row=True, max_errors=5))
    w("jsonl", json_seed(b'{"a":1,"b":"x","c":null}\r\n\n{"a":2.50,"b":"\\u00e9\\n",'
                         b'"c":{"n":[1, 2]}}\n{"b":true}\n'))
    w("jsonl-bad", json_seed(b'{"a":1}\n[1]\n{"a":1,"a":2}\n{"z":3}\nnot json\n{"a":"\\u0000"}\n',
                             skip_row=True, max_errors=5))
    w("array", json_seed(b'[{"id":1,"name":"n"},\n {"id":2,"name":null}]', json=True,
                         rules=[("id", "int", 0, 5), ("name", "notnull", 0, 0)], skip_row=True,
                         max_errors=1))
    w("path-data", json_seed(b'{"meta":{"x":[1,"]"]},"data":[{"a":"1"},{"a":"2"}],"z":0}',
                             json=True, path="data"))
    w("path-nested", json_seed(b'{"result":{"items":[{"c":1,"d":[]}],"n":1}}', json=True,
                               path="result.items", ncols=2, cols_from_c=True))
    w("first-array", json_seed(b'\xef\xbb\xbf {"count":2,"rows":[{"a":1},{"a":2}]}', json=True))
    w("columns", json_seed(b'{"a":1,"b":2,"c":3}\n{"b":5}\n', ncols=2))
    w("max-record", json_seed(b'{"a":"' + b"x" * 100 + b'"}\n', max_record=4))
    w("deep", json_seed(b"[" * 600 + b"]" * 600, json=True))


def event_seeds():
    for name in sorted(os.listdir(os.path.join(DATA, "events"))):
        write("event", os.path.splitext(name)[0], read("events", name))
    write("event", "key-plus-escapes",
          b'{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"2024-05-01T12:00:00.1+02:00",'
          b'"s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc%C3%A9.csv","size":3,'
          b'"eTag":"\\"abc\\"","sequencer":"0A"}}}]}')


def config_seeds():
    for name in sorted(os.listdir(os.path.join(DATA, "config"))):
        write("config", os.path.splitext(name)[0], read("config", name))
    write("config", "secrets",
          b"[sqs]\nqueue_url = http://127.0.0.1:1/q\n[aws]\nsecret_access_key = "
          b"verysecretvalue-123\x01\n[sink pg]\ntype = postgres\nconninfo = dbname=x\n"
          b"password = another-secret-value\n[route r]\nsink = pg\ntable = t\n"
          b"format = tsv\nquote =\nnull = NA, \"\"\nvalidate.a = int:1..5\ncolumns = a,b\n"
          b"header = false\n")


def aws_seeds():
    sel = {"receive": 0, "batch": 1, "send": 2, "attributes": 3, "error": 4, "secret": 6,
           "date": 7}
    for name in sorted(os.listdir(os.path.join(DATA, "aws"))):
        body = read("aws", name)
        base = os.path.splitext(name)[0]
        if "error" in base:
            kind, extra = "error", 0
        elif base.startswith("sqs_receive"):
            kind, extra = "receive", 0
        elif "batch" in base:
            kind, extra = "batch", 2
        elif base.startswith("sqs_send"):
            kind, extra = "send", 0
        elif "attributes" in base:
            kind, extra = "attributes", 0
        else:
            kind, extra = "secret", 0
        write("aws_parse", base, bytes([sel[kind], extra]) + body)
    write("aws_parse", "xml-error-queue",
          bytes([4, 0x12]) + b'<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
          b"<Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>no &amp; such"
          b"</Message></Error><RequestId>x</RequestId></ErrorResponse>")
    write("aws_parse", "json-throttle",
          bytes([5, 4]) + b'{"__type":"com.amazon.coral.availability#ThrottlingException",'
          b'"message":"Rate exceeded"}')
    write("aws_parse", "date", bytes([7, 0]) + b"Sun, 06 Nov 1994 08:49:37 GMT")
    write("aws_parse", "date-asctime", bytes([7, 0]) + b"Sun Nov  6 08:49:37 1994")
    write("aws_parse", "secret-plain", bytes([6, 0]) + b'{"SecretString":"p@ss word"}')


def creds_seeds():
    w = lambda name, sel, data: write("creds", name, bytes([sel]) + data)  # noqa: E731
    w("ecs-json", 0, b'{"AccessKeyId":"AKID","SecretAccessKey":"s","Token":"t",'
                     b'"Expiration":"2024-05-01T12:34:56Z"}')
    w("imds-json", 0, b'{"Code":"Success","LastUpdated":"2024-05-01T11:00:00Z","Type":'
                      b'"AWS-HMAC","AccessKeyId":"AKID","SecretAccessKey":"s","Token":"t",'
                      b'"Expiration":"2024-05-01T17:00:00+00:00"}')
    w("sts-assume", 1 | (1 << 3), b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/'
      b'2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId>'
      b"<SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken><![CDATA[tok<en>]]>"
      b"</SessionToken><Expiration>2024-05-01T13:00:00Z</Expiration></Credentials>"
      b"</AssumeRoleResult></AssumeRoleResponse>")
    w("sts-error", 1 | (0 << 3), b"<ErrorResponse><Error><sts:Code>AccessDenied</sts:Code>"
      b"<!-- c --><Message>no</Message><x/></Error></ErrorResponse>")
    w("shared-chain", 2,
      b"[default]\nregion = us-east-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r\n"
      b"source_profile = base\nexternal_id = x\nduration_seconds = 900\n"
      b"[profile web]\nrole_arn = arn:aws:iam::1:role/w\nweb_identity_token_file = /t\n"
      b"[profile ecs]\nrole_arn = arn:aws:iam::1:role/e\ncredential_source = EcsContainer\n"
      b"[sso-session s]\nx = y\n\x00dev\n[base]\naws_access_key_id = AKID\n"
      b"aws_secret_access_key = secret\n; comment\n# comment\ns3 =\n  max = 1\n")
    w("shared-loop", 3, b"[a]\nrole_arn = r\nsource_profile = b\n[b]\nrole_arn = r\n"
                        b"source_profile = a\n\x00a\n")
    w("iso8601", 4, b"2024-05-01T12:34:56.789+0530")
    w("schedule", 5, bytes([0x1b, 0x0e, 0x00, 0x10, 0x00, 0x20, 0x00, 0x30, 0x00]))


def s3_url_seeds():
    w = lambda name, f, parts: write("s3_url", name, bytes([f]) + b"\n".join(parts))  # noqa
    w("local", 2, [b"http://127.0.0.1:5000", b"us-east-1", b"ingest", b"dir/a b+c.csv"])
    w("aws-virtual", 1, [b"", b"eu-west-1", b"my-bucket", b"k/\xc3\xa9t\xc3\xa9.csv", b"v1=="])
    w("aws-dotted", 0, [b"https://s3.eu-west-1.amazonaws.com", b"eu-west-1", b"my.bucket",
                        b"../x//y/./z", b""])
    w("path-prefix", 8, [b"http://localhost:9000/minio/", b"", b"B_ucket", b"%41"])
    w("bad-endpoint", 0, [b"ftp://[::1", b"us-east-1", b"b", b"k"])


def sigv4_seeds():
    for name in sorted(os.listdir(os.path.join(DATA, "sigv4"))):
        req = os.path.join(DATA, "sigv4", name, "request.txt")
        if not os.path.exists(req):
            continue
        with open(req, "rb") as f:
            lines = f.read().split(b"\n")
        method, target = lines[0].split(b" ")[:2]
        path, _, query = target.partition(b"?")
        headers, body = [], b""
        for i, line in enumerate(lines[1:], 1):
            if line == b"":
                body = b"\n".join(lines[i + 1:])
                break
            headers.append(line)
        s3 = name.startswith("s3")
        f = (4 if s3 else 3) | (0x10 if b"token" in name.encode() else 0)
        t = bytes([0x69, 0x68, 0x9e, 0x46])  # 2026-01-15
        write("sigv4", name, bytes([f]) + t + b"\n".join([method, path, query] + headers) +
              b"\n\n" + body)
    write("sigv4", "dots-and-query", bytes([3, 0x5f, 0, 0, 0]) +
          b"GET\n/a/./b/../c//d/\nb=2&a=%zz&a=1&&c\nHost:h\nX-A:  1   2 \nx-a:3\n\n")


def main():
    csvstream_seeds()
    jsonstream_seeds()
    event_seeds()
    config_seeds()
    aws_seeds()
    creds_seeds()
    s3_url_seeds()
    sigv4_seeds()
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))), file=sys.stderr)


if __name__ == "__main__":
    main()

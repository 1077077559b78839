#!/usr/bin/env python3
"""test_iam_policy.py: etc/iam-policy.json is valid and grants every AWS action the code calls.

The list of calls is read from the sources, not written down here, so a new call in any .c file
under src/ fails this test until the policy grants it:
  SQS              op_names[] in src/aws/sqs.c and every "X-Amz-Target: AmazonSQS.<Op>"
  DynamoDB         every call(..., "<Op>", ...) / ddb_http_call / ddb_http_start
  Secrets Manager  every "X-Amz-Target: secretsmanager.<Op>"
  STS              every "AssumeRole..." action passed to STS (AssumeRoleWithWebIdentity is
                   unsigned: the role's trust policy allows it, not the caller's policy)
  S3               GET/HEAD of an object (s3:GetObject), with versionId (s3:GetObjectVersion)
Batch operations need the single operation's permission (DeleteMessageBatch needs
sqs:DeleteMessage). The policy must also be least-privilege in form: Allow statements only,
no wildcard action, no "*" resource, every resource an ARN of the action's service, and no
action that the code never calls.
Exit status: 0 pass, 1 fail.
"""
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR") or os.path.dirname(HERE)

# IAM permission of an API operation, where it differs from the operation's name.
PERMISSION = {
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "SendMessageBatch": "SendMessage",
    # Each action inside a transaction needs its own permission (update mode: the updates,
    # the marker put, the probes' condition check).
    "TransactWriteItems": ("UpdateItem", "PutItem", "ConditionCheckItem"),
}
# No identity-policy permission needed: the request is not signed.
UNSIGNED = {"sts:AssumeRoleWithWebIdentity"}
ARN_SERVICE = {"sqs": "sqs", "s3": "s3", "dynamodb": "dynamodb",
               "secretsmanager": "secretsmanager", "sts": "iam"}

failures = []


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'not ok'} - {name}{'' if ok else ': ' + str(detail)}")
    if not ok:
        failures.append(name)


def sources():
    out = {}
    for path in sorted(glob.glob(os.path.join(SRCDIR, "src", "**", "*.c"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            out[os.path.relpath(path, os.path.join(SRCDIR, "src"))] = f.read()
    return out


def called_actions(src):
    acts = set()
    sqs_c = src.get("aws/sqs.c", "")
    for op in re.findall(r"\[OP_\w+\]\s*=\s*\"(\w+)\"", sqs_c):
        acts.add("sqs:" + PERMISSION.get(op, op))
    for text in src.values():
        for op in re.findall(r"AmazonSQS\.(\w+)", text):
            acts.add("sqs:" + PERMISSION.get(op, op))
        for op in re.findall(r"secretsmanager\.(\w+)", text):
            acts.add("secretsmanager:" + op)
        if "ddb_http" in text or "DynamoDB_20120810" in text:
            for op in re.findall(r"\b(?:call|ddb_http_call|ddb_http_start)\(\s*[\w>.-]+\s*,\s*"
                                 r"\"([A-Z]\w+)\"", text):
                perm = PERMISSION.get(op, op)
                for p in (perm,) if isinstance(perm, str) else perm:
                    acts.add("dynamodb:" + p)
        for op in re.findall(r"\"(AssumeRole\w*)\"", text):
            acts.add("sts:" + op)
    s3_c = src.get("aws/s3.c", "")
    if re.search(r"\"GET\"", s3_c):
        acts.add("s3:GetObject")
    if "versionId" in s3_c or "versionId" in src.get("aws/s3_url.c", ""):
        acts.add("s3:GetObjectVersion")
    return acts - UNSIGNED


def main():
    path = os.path.join(SRCDIR, "etc", "iam-policy.json")
    try:
        with open(path, encoding="utf-8") as f:
            policy = json.load(f)
    except (OSError, ValueError) as e:
        check("etc/iam-policy.json parses as JSON", False, e)
        return 1
    check("etc/iam-policy.json parses as JSON", True)
    check("policy language version 2012-10-17", policy.get("Version") == "2012-10-17",
          policy.get("Version"))
    stmts = policy.get("Statement", [])
    if isinstance(stmts, dict):
        stmts = [stmts]
    granted = {}
    problems = []
    sids = [s.get("Sid") for s in stmts]
    for s in stmts:
        acts = s.get("Action", [])
        res = s.get("Resource", [])
        acts = [acts] if isinstance(acts, str) else acts
        res = [res] if isinstance(res, str) else res
        if s.get("Effect") != "Allow" or "NotAction" in s or "NotResource" in s:
            problems.append(f"{s.get('Sid')}: only plain Allow statements are expected")
        if not acts or not res:
            problems.append(f"{s.get('Sid')}: no Action or no Resource")
        for a in acts:
            if "*" in a or not re.fullmatch(r"[a-z0-9]+:[A-Za-z]+", a):
                problems.append(f"{s.get('Sid')}: action {a!r} is a wildcard or malformed")
                continue
            service = a.split(":")[0]
            for r in res:
                want = ARN_SERVICE.get(service, service)
                if r == "*" or not r.startswith(f"arn:aws:{want}:"):
                    problems.append(f"{s.get('Sid')}: {a} on {r!r} (want an arn:aws:{want}: "
                                    "ARN)")
            granted.setdefault(a, []).extend(res)
    check("every statement has a unique Sid", all(sids) and len(set(sids)) == len(sids), sids)
    check("least-privilege form: Allow only, no wildcards, service ARNs", not problems,
          "\n  ".join([""] + problems))

    src = sources()
    called = called_actions(src)
    # The derivation itself must have found the core calls, or it is reading the wrong tree.
    core = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:SendMessage", "s3:GetObject", "secretsmanager:GetSecretValue"}
    check("the calls found in src/ include the core ones", core <= called,
          sorted(core - called))
    missing = sorted(called - set(granted))
    check(f"every action the code calls is granted ({len(called)}: "
          f"{', '.join(sorted(called))})", not missing, missing)
    unused = sorted(set(granted) - called)
    check("no action is granted that the code never calls", not unused, unused)
    check("the DLQ report (sqs:SendMessage) is granted on a queue other than the event queue",
          any(r != q for r in granted.get("sqs:SendMessage", [])
              for q in granted.get("sqs:ReceiveMessage", [])), granted.get("sqs:SendMessage"))
    check("s3:GetObject is limited to object prefixes, not whole buckets",
          all(re.fullmatch(r"arn:aws:s3:::[^/]+/.+", r) for r in granted.get("s3:GetObject", [])),
          granted.get("s3:GetObject"))
    ledger = "table/ingestd_ledger"
    check("dynamodb:CreateTable and DeleteItem only on the ledger table",
          all(r.endswith(ledger) for a in ("dynamodb:CreateTable", "dynamodb:DeleteItem")
              for r in granted.get(a, [])))
    print(f"# {'FAIL' if failures else 'PASS'}: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""lint_layers.py: the source tree's parts may only use the parts below them (ARCHITECTURE.md).

Run by tests/lint-layers.sh (`make lint`, tests/run.sh's lint phase). Checks:

  includes  every #include "..." under src/ names a header by its path under src/, and the
            including file's part may use the header's part (RULES below); the headers a
            part must never include (database and curl headers outside their parts, the
            loop and the event queue in a sink, I/O headers in the signer).
  calls     with --build (a built tree), the same from the object files: what each file
            calls or names (nm), so that a prototype written by hand cannot go around the
            rules; no circle of calls between files; no sink calls the loop, the loop's HTTP
            client or the event queue; the signer calls nothing that does I/O or reads a clock.

Exit status: 0 clean, 1 a rule is broken (each break is listed), 2 usage.
"""
import argparse
import collections
import os
import re
import subprocess
import sys

# What each part may use (include and call), besides itself. A part is a folder under src/;
# "sinks/*" stands for each sink's own folder. The ground (base) uses nothing above it.
RULES = {
    "base": set(),
    "aws": {"base"},
    "input": {"base"},
    "sinks": {"base"},
    "sinks/*": {"base", "aws", "sinks"},
    "transform": {"base", "input"},
    "httpd": {"base"},
    "daemon": {"base", "aws", "input", "sinks", "transform", "httpd"},
}
# Named exceptions: (user, used). The SQS sink keeps its ledger in DynamoDB.
EXCEPTIONS = {("sinks/sqs", "sinks/dynamodb")}
# Calls (not includes) the registry makes: it names every sink's ops table.
REGISTRY = "sinks/sink.c"

# System headers only some parts may include.
SYSTEM_ONLY = {
    "libpq-fe.h": {"sinks/postgres"},
    "mysql.h": {"sinks/mysql"},
    "curl/": {"aws", "daemon"},
    "lua.h": {"transform"},
    "microhttpd.h": {"httpd"},
    "lualib.h": {"transform"},
    "lauxlib.h": {"transform"},
}
# Project headers a part never includes: sinks never touch the loop or the event queue.
NEVER = {
    "sinks": {"base/loop.h", "aws/sqs.h"},
    "sinks/*": {"base/loop.h", "aws/sqs.h"},
}
# The signer does no I/O: what it may include, and what it must not call.
SIGNER = ("aws/sigv4.c", "aws/sigv4.h")
SIGNER_INCLUDES = {"aws/sigv4.h", "base/util.h"}
SIGNER_SYSTEM_NEVER = ("curl/", "sys/socket.h", "netdb.h", "unistd.h", "fcntl.h", "poll.h",
                       "sys/epoll.h")
NO_IO = re.compile(r"^(open|openat|creat|read|write|pread|pwrite|close|fopen|fdopen|freopen|"
                   r"fread|fwrite|fgets|fputs|fprintf|printf|puts|socket|connect|accept|send|"
                   r"recv|sendto|recvfrom|sendmsg|recvmsg|poll|ppoll|select|epoll_\w+|getenv|"
                   r"secure_getenv|time|clock_gettime|gettimeofday|syslog|curl_\w+|log_\w+)$")
# What a sink must not call: the loop, the loop's HTTP client, the event queue.
SINK_NEVER_CALLS = {"base/loop.c", "aws/http.c", "aws/sqs.c"}

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')


def part_of(rel):
    """The part of a path under src/: its folder, e.g. "base" or "sinks/postgres"."""
    return os.path.dirname(rel)


def rule_key(part):
    if part in RULES:
        return part
    if part.startswith("sinks/") and part.count("/") == 1:
        return "sinks/*"
    return None


def may_use(user, used):
    """Whether part user may include or call part used."""
    if user == used or (user, used) in EXCEPTIONS:
        return True
    return used in RULES[rule_key(user)]


def explain(user):
    allowed = sorted(RULES[rule_key(user)] | {"itself"})
    extra = sorted(b for a, b in EXCEPTIONS if a == user)
    return "%s may use only %s" % (user, ", ".join(allowed + extra))


def check_includes(src, problems):
    files = []
    for root, dirs, names in os.walk(os.path.join(src, "src")):
        dirs.sort()
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(root, n), os.path.join(src, "src")))
    parts = set()
    count = 0
    for rel in files:
        part = part_of(rel)
        if rule_key(part) is None:
            problems.append("src/%s: the folder src/%s has no rule: say what it may use in "
                            "ARCHITECTURE.md and tests/lint_layers.py" % (rel, part or "."))
            continue
        parts.add(part)
        key = rule_key(part)
        with open(os.path.join(src, "src", rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
        for no, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            count += 1
            where = "src/%s:%d" % (rel, no)
            kind, name = m.groups()
            if kind == "<":
                for prefix, owners in SYSTEM_ONLY.items():
                    if name.startswith(prefix) and not any(
                            part == o or rule_key(part) == o for o in owners):
                        problems.append("%s: <%s> belongs to %s, not %s" %
                                        (where, name, " and ".join(sorted(owners)), part))
                if rel in SIGNER and name.startswith(SIGNER_SYSTEM_NEVER):
                    problems.append("%s: <%s>: the signer does no I/O" % (where, name))
                continue
            if not os.path.isfile(os.path.join(src, "src", name)) or ".." in name.split("/"):
                problems.append('%s: "%s" is not a path under src/ (write "part/header.h")' %
                                (where, name))
                continue
            used = part_of(name)
            if rule_key(used) is None:
                continue  # reported with the file itself
            if not may_use(part, used):
                problems.append('%s: includes "%s": %s' % (where, name, explain(part)))
            if name in NEVER.get(key, ()):
                problems.append('%s: includes "%s": sinks never touch the loop or the event '
                                "queue" % (where, name))
            if rel in SIGNER and name not in SIGNER_INCLUDES:
                problems.append('%s: includes "%s": the signer uses only %s' %
                                (where, name, ", ".join(sorted(SIGNER_INCLUDES))))
    return len(files), count, parts


def nm_symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBRCGSVW":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            undefined.add(f[1])
    return defined, undefined


def circles(graph):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def check_calls(src, build, problems):
    objs = {}
    for root, _, names in os.walk(os.path.join(build, "src")):
        for n in names:
            if not n.endswith(".o"):
                continue
            rel = os.path.relpath(os.path.join(root, n), os.path.join(build, "src"))
            m = re.match(r"^(.*/)?(?:(\w+)-)?(\w+)\.o$", rel)
            # The daemon's and the library's objects; test programs that compile a source
            # again with flags of their own (prefix-name.o) are not the daemon.
            if not m or m.group(2) not in (None, "libingestd_a", "ingestd"):
                continue
            c = (m.group(1) or "") + m.group(3) + ".c"
            if os.path.isfile(os.path.join(src, "src", c)):
                objs[c] = os.path.join(root, n)
    if not objs:
        return 0
    owner, needs = {}, {}
    for c, obj in sorted(objs.items()):
        defined, undefined = nm_symbols(obj)
        for s in defined:
            owner.setdefault(s, c)
        needs[c] = undefined
    graph = collections.defaultdict(set)
    for c, undefined in sorted(needs.items()):
        part = part_of(c)
        if rule_key(part) is None:
            continue
        for s in sorted(undefined):
            d = owner.get(s)
            if d is None or d == c:
                if c in SIGNER and NO_IO.match(s):
                    problems.append("src/%s calls %s: the signer does no I/O and reads no "
                                    "clock" % (c, s))
                continue
            graph[c].add(d)
            used = part_of(d)
            if rule_key(used) is None:
                continue
            if not may_use(part, used) and not (c == REGISTRY and rule_key(used) == "sinks/*"):
                problems.append("src/%s calls %s (src/%s): %s" % (c, s, d, explain(part)))
            if rule_key(part) in NEVER and d in SINK_NEVER_CALLS:
                problems.append("src/%s calls %s (src/%s): sinks never touch the loop or the "
                                "event queue" % (c, s, d))
            if c in SIGNER and d != "base/util.c":
                problems.append("src/%s calls %s (src/%s): the signer uses only base/util" %
                                (c, s, d))
            if c in SIGNER and NO_IO.match(s):
                problems.append("src/%s calls %s: the signer does no I/O" % (c, s))
    for comp in circles(graph):
        problems.append("a circle of calls among %s (break it with a callback or a smaller "
                        "interface)" % ", ".join("src/" + c for c in comp))
    return len(objs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="the source tree")
    ap.add_argument("--build", help="a built tree: check calls as well")
    a = ap.parse_args()
    problems = []
    nfiles, nincludes, parts = check_includes(a.src, problems)
    nobjs = check_calls(a.src, a.build, problems) if a.build else 0
    for p in problems:
        print(p)
    what = "%d files, %d includes, parts %s" % (nfiles, nincludes, ", ".join(sorted(parts)))
    if a.build:
        what += "; %d objects" % nobjs if nobjs else "; no objects built in %s: calls not " \
            "checked" % a.build
    if problems:
        print("FAIL: %d broken rule%s (%s); see ARCHITECTURE.md" %
              (len(problems), "" if len(problems) == 1 else "s", what))
        return 1
    print("PASS: %s" % what)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Hostile objects against the caps on what one load may use, with a running daemon, S3 and
SQS in moto and PostgreSQL.

- One gzip record of 8 fields of 15 MiB (120 MiB, about 120 KB compressed): past
  max_row_bytes (64M by default) it is a permanent failure with a DLQ report naming the key,
  line and column; the daemon's peak RSS during the load (VmHWM after clear_refs) stays under
  a bound derived from the cap, its RSS afterwards is back near where it was, and it goes on
  loading other objects. A row of 30 MiB within the cap loads, and the daemon does not keep
  its memory afterwards.
- 4096 columns of 20 KiB in one record: the same cap, at the column where it is crossed.
- JSON Lines and JSON array records over a route's max_row_bytes: permanent, positioned.
- An object compressed with `zstd --long=27` (a 128 MiB window) is a permanent failure naming
  zstd_window_max and the window; a route with zstd_window_max = 128M loads it.
- A failed allocation fails the load, not the process: in a sanitizer build ASan is told to
  refuse allocations over 32 MB (allocator_may_return_null); otherwise RLIMIT_AS is set on the
  running daemon (prlimit). The hostile record then needs more than the process may get: the
  load fails as transient, the daemon stays up and loads the next object.

RSS is measured with ASan's quarantine made small (ASAN_OPTIONS quarantine_size_mb): freed
blocks parked there would otherwise count as the daemon's own.
"""

import gzip
import os
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import INGESTD_BIN, Checks, Ingestd, NotifySocket, require_binary  # noqa: E402
from faults import dlq_reports, stop_cleanly, wait_until  # noqa: E402
from stack import Stack  # noqa: E402

MiB = 1 << 20
SLOW = 300  # seconds for a load of 60 to 120 MiB: minutes under ASan on a busy machine
COLS = "abcdefgh"

ROUTES = """
[route wide]
sink = pg
match_prefix = wide/
table = wide

[route many]
sink = pg
match_prefix = many/
table = {basename}
create_table = true

[route jsonl]
sink = pg
match_prefix = jsonl/
format = jsonl
table = wide
max_row_bytes = 1M

[route jsonarr]
sink = pg
match_prefix = jsonarr/
format = json
table = wide
max_row_bytes = 1M

[route jsonbig]
sink = pg
match_prefix = jsonbig/
format = jsonl
table = wide

[route zstd]
sink = pg
match_prefix = zstd/
table = wide

[route zstdbig]
sink = pg
match_prefix = zstdbig/
table = wide
zstd_window_max = 128M
"""


def has_asan():
    with open(INGESTD_BIN, "rb") as f:
        return b"__asan_init" in f.read()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0]) * 1024
    return out


def reset_peak(pid):
    """VmHWM starts again from the current RSS (proc(5), clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def gzip_stream(parts):
    """gzip of the concatenation of parts (bytes, or (bytes, count) repeated), made piecewise
    so that the 120 MiB of plain text never exists in this process at once."""
    co = gzip.zlib.compressobj(6, gzip.zlib.DEFLATED, 31)
    out = []
    for p in parts:
        data, n = p if isinstance(p, tuple) else (p, 1)
        for _ in range(n):
            out.append(co.compress(data))
    out.append(co.flush())
    return b"".join(out)


def wide_record(field_bytes, nfields, header):
    chunk = b"x" * MiB
    parts = [header]
    for i in range(nfields):
        if i:
            parts.append(b",")
        parts.append((chunk, field_bytes // MiB))
        parts.append(b"y" * (field_bytes % MiB))
    parts.append(b"\n")
    return gzip_stream(parts)


def column_is(r, number, name):
    """The report's column: its number, and its name when the report carries one."""
    if "column_name" in r:
        return r["column"] == number and r["column_name"] == name
    return r["column"] in (number, name)


def main():
    require_binary()
    asan = has_asan()
    c = Checks()
    with Stack(moto=True, postgres=True) as st:
        q, dlq = st.make_queue("events", dlq=True, max_receive=3, visibility=20)
        st.make_bucket("inbox", notify_queue_url=q)
        st.purge(q)
        st.psql("CREATE TABLE wide (" + ", ".join(f"{c} text" for c in COLS) + ")")
        conf = st.ingestd_config(ROUTES, workers=2, wait_time_seconds=1, log_level="info")
        small_quarantine = "quarantine_size_mb=16:thread_local_quarantine_size_kb=256"

        def start(ns, extra_asan="", name="ingestd.log"):
            env = st.env(ns.env())
            opts = ":".join(o for o in (env.get("ASAN_OPTIONS", ""), small_quarantine,
                                        extra_asan) if o)
            env["ASAN_OPTIONS"] = opts
            d = Ingestd(conf, env=env, log=st.path(name))
            ns.expect("READY=1", timeout=30)
            return d

        reports = []  # every report received so far: reading the DLQ deletes them

        def report_for(key, timeout=60):
            def got():
                reports.extend(dlq_reports(st, dlq))
                return [r for r in reports if r.get("key") == key]
            wait_until(got, timeout, f"a DLQ report for {key}")
            return got()[0]

        def loads_normal_object(d, key, first):
            st.put_object("inbox", key, f"a,b\n{first},after\n{first + 1},after\n")
            wait_until(lambda: st.psql(f"SELECT count(*) FROM wide WHERE a IN "
                                       f"('{first}', '{first + 1}')") == [("2",)], 60,
                       f"{key} loaded")
            assert d.alive()

        def one_record_of_8_fields_of_15mib():
            with NotifySocket(st.tmp) as ns:
                d = start(ns)
                loads_normal_object(d, "wide/warm.csv", 1)
                time.sleep(1)
                pid = d.proc.pid
                before = proc_status(pid)["VmRSS"]
                reset_peak(pid)
                obj = wide_record(15 * MiB, 8, (",".join(COLS) + "\n").encode())
                assert len(obj) < 200_000, len(obj)
                st.put_object("inbox", "wide/bomb.csv.gz", obj)
                r = report_for("wide/bomb.csv.gz", SLOW)
                time.sleep(1)
                s = proc_status(pid)
                peak, after = s["VmHWM"], s["VmRSS"]
                print(f"# RSS before {before / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB, "
                      f"after {after / MiB:.1f} MiB ({'ASan' if asan else 'plain'} build)",
                      flush=True)
                assert r["class"] == "permanent", r
                assert "max_row_bytes" in r["reason"] and "64M" in r["reason"], r
                assert r["line"] == 2 and column_is(r, 5, "e"), r
                # 64 MiB of fields kept for the row, one 15 MiB field being read, slack
                # for the sanitizer's shadow memory; without the cap: 400 MB and more.
                assert peak - before < 160 * MiB, (before, peak)
                assert after - before < 40 * MiB, (before, after)
                loads_normal_object(d, "wide/next.csv", 3)
                assert st.psql("SELECT count(*) FROM wide WHERE b = 'after'") == [("4",)]
                # A big row within the cap loads, and its memory is not kept afterwards.
                st.put_object("inbox", "wide/big-ok.csv.gz", wide_record(10 * MiB, 3, b"a,b,c\n"))
                wait_until(lambda: st.psql("SELECT length(c) FROM wide WHERE length(a) > 1000")
                           == [(str(10 * MiB),)], SLOW, "wide/big-ok.csv.gz loaded")
                time.sleep(1)
                after_ok = proc_status(pid)["VmRSS"]
                print(f"# RSS after loading a row of 30 MiB: {after_ok / MiB:.1f} MiB", flush=True)
                assert after_ok - before < 40 * MiB, (before, after_ok)
                stop_cleanly(d)

        def many_columns_of_20kib():
            header = ",".join(f"c{i}" for i in range(1, 4097)).encode() + b"\n"
            field = b"z" * (20 * 1024)
            parts = [header, field, (b"," + field, 4095), b"\n"]
            with NotifySocket(st.tmp) as ns:
                d = start(ns)
                st.put_object("inbox", "many/cols4096.csv.gz", gzip_stream(parts))
                r = report_for("many/cols4096.csv.gz", SLOW)
                assert r["class"] == "permanent", r
                assert "max_row_bytes" in r["reason"], r
                # 64 MiB / (20 KiB + 1) fields fit: the cap is crossed in column 3277
                assert r["line"] == 2 and column_is(r, 3277, "c3277"), r
                assert d.alive()
                stop_cleanly(d)

        def json_records_over_the_cap():
            big = "q" * (MiB + 10)
            st.put_object("inbox", "jsonl/big.jsonl",
                          '{"a": "j1"}\n{"a": "j2", "b": "' + big + '"}\n')
            st.put_object("inbox", "jsonarr/big.json",
                          '[{"a": "j1"},\n {"a": "j2", "b": "' + big + '"}]')
            with NotifySocket(st.tmp) as ns:
                d = start(ns)
                for key in ("jsonl/big.jsonl", "jsonarr/big.json"):
                    r = report_for(key)
                    assert r["class"] == "permanent", (key, r)
                    assert "max_row_bytes" in r["reason"] and "1M" in r["reason"], (key, r)
                    assert r["line"] == 2, (key, r)
                assert st.psql("SELECT count(*) FROM wide WHERE a LIKE 'j%'") == [("0",)]
                stop_cleanly(d)

        def zstd_long_window():
            if not shutil.which("zstd"):
                raise AssertionError("the zstd command is not installed")
            text = b"a,b\n" + b"".join(b"%d,zstd\n" % i for i in range(100, 110))
            obj = subprocess.run(["zstd", "--long=27", "-q", "-c"], input=text,
                                 capture_output=True, check=True).stdout
            st.put_object("inbox", "zstd/long27.csv.zst", obj)
            st.put_object("inbox", "zstdbig/long27.csv.zst", obj)
            with NotifySocket(st.tmp) as ns:
                d = start(ns)
                r = report_for("zstd/long27.csv.zst")
                assert r["class"] == "permanent", r
                assert "zstd_window_max" in r["reason"] and "8M" in r["reason"], r
                assert "128M" in r["reason"] or "134217728" in r["reason"], r
                wait_until(lambda: st.psql("SELECT count(*) FROM wide WHERE b = 'zstd'")
                           == [("10",)], 60, "zstdbig/long27.csv.zst loaded")
                log = d.log_text()
                assert "permanent failure loading s3://inbox/zstd/long27.csv.zst" in log, log
                stop_cleanly(d)

        def failed_allocation_fails_the_load_only():
            extra = "allocator_may_return_null=1:max_allocation_size_mb=32" if asan else ""
            with NotifySocket(st.tmp) as ns:
                d = start(ns, extra_asan=extra, name="ingestd-oom.log")
                pid = d.proc.pid
                loads_normal_object(d, "wide/oom-warm.csv", 5)
                if not asan:
                    # room for the daemon as it runs, not for a 64 MiB row (soft limit only:
                    # raising it again needs no privilege)
                    _, hard = resource.prlimit(pid, resource.RLIMIT_AS)
                    limit = proc_status(pid)["VmSize"] + 48 * MiB
                    resource.prlimit(pid, resource.RLIMIT_AS, (limit, hard))
                obj = wide_record(15 * MiB, 8, (",".join(COLS) + "\n").encode())
                st.put_object("inbox", "wide/oom.csv.gz", obj)
                obj = gzip_stream([b'{"a": "', (b"j" * MiB, 60), b'"}\n'])
                st.put_object("inbox", "jsonbig/oom.jsonl.gz", obj)
                for key in ("wide/oom.csv.gz", "jsonbig/oom.jsonl.gz"):
                    d.wait_for_log(f"transient failure loading s3://inbox/{key}", SLOW)
                    log = d.log_text()
                    line = [ln for ln in log.splitlines()
                            if f"failure loading s3://inbox/{key}" in ln]
                    print(f"# {line[0][:200]}", flush=True)
                    assert "out of memory" in line[0], log[-3000:]
                    assert d.alive(), log[-3000:]
                loads_normal_object(d, "wide/oom-next.csv", 7)
                if not asan:
                    resource.prlimit(pid, resource.RLIMIT_AS, (hard, hard))
                stop_cleanly(d)
                st.purge(q)

        c.check("one gzip record of 8 fields of 15 MiB: permanent, RSS bounded, daemon loads on",
                one_record_of_8_fields_of_15mib)
        c.check("4096 columns of 20 KiB: max_row_bytes at the column that crosses it",
                many_columns_of_20kib)
        c.check("JSON Lines and JSON array records over max_row_bytes", json_records_over_the_cap)
        c.check("zstd --long=27: permanent naming zstd_window_max; 128M accepts it",
                zstd_long_window)
        c.check("a failed allocation fails the load (transient), not the process",
                failed_allocation_fails_the_load_only)
    return c.done()


if __name__ == "__main__":
    sys.exit(main())

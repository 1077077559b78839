#!/usr/bin/env python3
"""PostgreSQL benchmark: ingestd end to end against psql on the same server, same run.

    python3 bench/bench_pg.py [--rows 1000000] [--repeat 5] [--files 10] [--rss-rows 10000000]
                              [--skip-rss] [--skip-many] [--ingestd PATH] [--timeout 1800]

Measures, on one local stack (moto S3/SQS with signature checking, PostgreSQL 15):
  1. append: ingestd (event enqueued -> rows committed, the time of the daemon's log line)
     against `psql \\copy` of the same file from local disk into the same kind of table
     (primary key), once with copy_format = auto (binary COPY) and once with text;
  2. upsert: ingestd mode = upsert against psql's own COPY into a staging table +
     INSERT ... ON CONFLICT DO UPDATE, all into tables that already hold the rows, again
     with copy_format = auto and text;
  2b. resend: the same file once more into tables that hold it already, ingestd with
     upsert_unchanged = skip against psql's staged upsert skipping unchanged rows the same
     way (INSERT ... ON CONFLICT ... WHERE NOT record_image_eq(...));
  3. aggregate: --files files of --rows rows with workers = 2 against one `psql \\copy`
     stream (rows/s);
  4. peak RSS (VmHWM) of the daemon after loading a ~1 GB file (--rss-rows rows).
Append and upsert are measured --repeat times, the three contenders in a rotating order, each
from a checkpoint; each repetition prints its figures, the end the median ratios. Machines
are shared and noisy, so only ratios from the same run mean anything. Not a test: it asserts
nothing, but exits non-zero when a load is not logged after --timeout seconds
(tests/test_bench_smoke.sh runs it with a few rows in `make check`). Measure a build without
sanitizers (--ingestd points at it; the default is $INGESTD_BIN, else build/ingestd).
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from stack import Stack  # noqa: E402

COLUMNS = ("id bigint PRIMARY KEY, name text, email text, created_at timestamptz, "
           "amount numeric(12,2), active boolean, note text")
ROUTES = """
[route append]
sink = pg
match_prefix = append/
table = {basename}

[route append_text]
sink = pgtext
match_prefix = append_text/
table = {basename}

[route upsert]
sink = pg
match_prefix = upsert/
table = {basename}
mode = upsert
key = id

[route upsert_text]
sink = pgtext
match_prefix = upsert_text/
table = {basename}
mode = upsert
key = id

[route resend]
sink = pgskip
match_prefix = resend/
table = {basename}
mode = upsert
key = id

[route many]
sink = pg
match_prefix = many/
table = bench_many

[route rss]
sink = pg
match_prefix = rss/
table = bench_rss
"""


def gen(rows, path, start=1):
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "gen_csv.py"), str(rows), path,
                        "--start", str(start)], check=True)
    return os.path.getsize(path)


def settle(st):
    """Each timed run starts from the same state: no checkpoint or WAL flush pending."""
    st.psql("CHECKPOINT", superuser=True)


def reference_script(phase, table, path):
    """psql's way: \\copy, or for upsert \\copy into a staging table and INSERT ... ON
    CONFLICT DO UPDATE; for resend the same, leaving rows whose values are unchanged."""
    copy = f"\\copy {{}} FROM '{path}' WITH (FORMAT csv, HEADER true)\n"
    if phase == "append":
        return copy.format(table)
    cols = ("name", "email", "created_at", "amount", "active", "note")
    where = ""
    if phase == "resend":
        where = (" WHERE NOT pg_catalog.record_image_eq(ROW(" +
                 ", ".join("t." + c for c in cols) + "), ROW(" +
                 ", ".join("EXCLUDED." + c for c in cols) + "))")
    return ("BEGIN;\n"
            f"CREATE TEMP TABLE s (LIKE {table}) ON COMMIT DROP;\n" + copy.format("s") +
            f"INSERT INTO {table} AS t SELECT * FROM s ON CONFLICT (id) DO UPDATE SET " +
            ", ".join(f"{c} = EXCLUDED.{c}" for c in cols) + where + ";\nCOMMIT;\n")


def psql(st, script):
    t0 = time.monotonic()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", st.pg_conninfo],
                   input=script, text=True, check=True, env=st.env())
    return time.monotonic() - t0


def log_time(line):
    """The Unix time of a daemon log line ("2026-01-02T03:04:05.678Z info: ...")."""
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def wait_loaded(d, keys, timeout=None):
    """The time of the daemon's "loaded" line of the last of keys. Reading the daemon's log
    costs the machine nothing next to polling the ledger with a psql process, which would
    take CPU from the very load being timed."""
    want = {f"loaded s3://bench/{k} into" for k in keys}
    timeout = timeout or TIMEOUT
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(d.log_path, errors="replace") as f:
            done = {w: log_time(line) for line in f for w in want if w in line}
        if len(done) == len(want):
            return max(done.values())
        if d.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {sorted(want)}; log:\n" +
                     open(d.log_path, errors="replace").read()[-3000:])


def log_event(d, text):
    """The time of the first line of the daemon's log holding text."""
    with open(d.log_path, errors="replace") as f:
        for line in f:
            if text in line:
                return log_time(line)
    raise SystemExit(f"no {text!r} in the daemon's log")


def upload_and_time(st, d, items):
    """Uploads (not timed), then times from the last event enqueued to the last commit."""
    for key, path in items:
        with open(path, "rb") as f:
            st.client("s3").put_object(Bucket="bench", Key=key, Body=f)
    t0 = time.time()
    return wait_loaded(d, [k for k, _ in items]) - t0


INGESTD = os.environ.get("INGESTD_BIN") or os.path.join(TOP, "build", "ingestd")
TIMEOUT = 1800


def text_sink(st):
    """The sinks beside the default pg: text COPY, and skipping unchanged rows."""
    conn = (f"conninfo = host=127.0.0.1 port={st.pg_port} dbname=ingest user=ingest\n"
            f"password = {st.pg_password}\n")
    return (f"[sink pgtext]\ntype = postgres\ncopy_format = text\n{conn}\n"
            f"[sink pgskip]\ntype = postgres\nupsert_unchanged = skip\n{conn}")


def start_daemon(st, conf, name):
    log = open(st.path(name + ".log"), "w")
    p = subprocess.Popen([INGESTD, "-c", conf], env=st.env(),
                         stdout=log, stderr=subprocess.STDOUT)
    p.log_path = log.name
    time.sleep(1.0)
    return p


def vmhwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def stop(p):
    p.terminate()
    p.wait(60)
    # moto keeps serving a long poll whose client went away, and would hand the next
    # event to it: let the stopped daemon's last poll (wait_time_seconds = 1) run out.
    time.sleep(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--rss-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-many", action="store_true")
    ap.add_argument("--ingestd", default=INGESTD)
    ap.add_argument("--timeout", type=float, default=TIMEOUT)
    a = ap.parse_args()
    globals()["INGESTD"] = os.path.abspath(a.ingestd)
    globals()["TIMEOUT"] = a.timeout

    with Stack(moto=True, postgres=True, moto_quiet=True) as st:
        q, _ = st.make_queue("bench", dlq=True, max_receive=3, visibility=120)
        st.make_bucket("bench", notify_queue_url=q)
        st.purge(q)
        for t in ("bench_many", "bench_many_copy", "bench_rss"):
            st.psql(f"CREATE TABLE {t} ({COLUMNS})")
        one = st.path("one.csv")
        size = gen(a.rows, one)
        print(f"file: {a.rows} rows, {size / 1e6:.1f} MB; {a.repeat} repetitions; "
              f"load average {os.getloadavg()[0]:.1f} at the start")
        conf = st.ingestd_config(ROUTES, workers=1, log_level="info", wait_time_seconds=1,
                                 extra=text_sink(st))
        d = start_daemon(st, conf, "repeat")
        # Connections and ingestd's own tables (ledger, rejects) are made once per daemon and
        # database, not per load: a one-row object through each sink first, untimed.
        warm = st.path("warm.csv")
        with open(warm, "w") as f:
            f.write("id,name\n1,warm\n")
        for prefix in ("append", "append_text"):
            st.psql(f"CREATE TABLE warm_{prefix} (id bigint, name text)")
            upload_and_time(st, d, [(f"{prefix}/warm_{prefix}.csv", warm)])
        ratios = {k: [] for k in ("append auto", "append text", "upsert auto", "upsert text",
                                  "resend skip")}
        times = {}
        for r in range(1, a.repeat + 1):
            order = ["psql", "auto", "text"]
            order = order[(r - 1) % 3:] + order[:(r - 1) % 3]
            for phase in ("append", "upsert", "resend"):
                # resend has two contenders: psql and ingestd's pgskip sink ("skip")
                contenders = order if phase != "resend" else [
                    "skip" if c == "auto" else c for c in order if c != "text"]
                tables = {c: f"{phase}_{c}_{r}" for c in contenders}
                for c, t in tables.items():
                    st.psql(f"CREATE TABLE {t} ({COLUMNS})")
                    if phase != "append":
                        st.psql(f"INSERT INTO {t} SELECT * FROM append_psql_{r}; "
                                f"VACUUM ANALYZE {t}")
                secs = {}
                for c in contenders:
                    settle(st)
                    if c == "psql":
                        secs[c] = psql(st, reference_script(phase, tables[c], one))
                    else:
                        prefix = phase if c in ("auto", "skip") else phase + "_text"
                        secs[c] = upload_and_time(st, d, [(f"{prefix}/{tables[c]}.csv", one)])
                ref = secs["psql"]
                for c in contenders:
                    times.setdefault((phase, c), []).append(secs[c])
                for c in contenders:
                    if c != "psql":
                        ratios[f"{phase} {c}"].append(ref / secs[c])
                print(f"#{r} {phase:6}  " + "   ".join(
                    f"{c} {a.rows / secs[c]:7.0f} rows/s ({secs[c]:.2f} s"
                    + (")" if c == "psql" else f", {ref / secs[c]:.2f}x)") for c in contenders)
                    + f"   load {os.getloadavg()[0]:.1f}", flush=True)
            for phase in ("resend", "upsert", "append"):
                for c in ("psql", "auto", "text", "skip"):
                    st.psql(f"DROP TABLE IF EXISTS {phase}_{c}_{r}")
        peak = vmhwm_kb(d.pid)
        stop(d)
        print("median:    " + "   ".join(f"{k} {statistics.median(v):.2f}x"
                                         for k, v in ratios.items()) +
              f"   (ingestd peak RSS {peak / 1024:.1f} MB)")
        # The fastest run of each is the one the other tenants of the machine disturbed least.
        print("best:      " + "   ".join(
            f"{k} {min(times[(k.split()[0], 'psql')]) / min(times[tuple(k.split())]):.2f}x"
            for k in ratios) + "   (fastest psql / fastest ingestd)")
        for phase, ref in (("append", "psql \\copy"), ("upsert", "psql staged upsert")):
            print(f"{phase}: ingestd copy_format = auto against {ref}: median ratio "
                  f"{statistics.median(ratios[phase + ' auto']):.2f}x "
                  f"(text: {statistics.median(ratios[phase + ' text']):.2f}x)")
        print("resend (every row unchanged): ingestd upsert_unchanged = skip against psql's "
              "staged upsert skipping them too: median ratio "
              f"{statistics.median(ratios['resend skip']):.2f}x")

        # 3. aggregate with 2 workers
        if not a.skip_many:
            files = []
            for i in range(a.files):
                p = st.path(f"many{i}.csv")
                gen(a.rows, p, start=1 + i * a.rows)
                files.append((f"many/f{i}.csv", p))
            t_one = psql(st, f"\\copy bench_many_copy FROM '{files[0][1]}' WITH "
                         "(FORMAT csv, HEADER true)\n")
            conf2 = st.ingestd_config(ROUTES, name="many.conf", workers=2, log_level="info",
                                      wait_time_seconds=1, extra=text_sink(st))
            # Every file is in the queue before the daemon starts: timed from its "ready".
            for key, path in files:
                with open(path, "rb") as f:
                    st.client("s3").put_object(Bucket="bench", Key=key, Body=f)
            d = start_daemon(st, conf2, "many")
            t_many = wait_loaded(d, [k for k, _ in files]) - log_event(d, "ready: polling")
            stop(d)
            agg = a.files * a.rows / t_many
            print(f"aggregate: psql \\copy single stream {a.rows / t_one:10.0f} rows/s   "
                  f"ingestd {a.files} files, 2 workers {agg:10.0f} rows/s   "
                  f"ratio {agg / (a.rows / t_one):.2f}x")

        # 4. peak RSS on a large file
        if not a.skip_rss:
            big = st.path("big.csv")
            bsize = gen(a.rss_rows, big)
            d = start_daemon(st, conf, "rss")
            base = vmhwm_kb(d.pid)
            t_big = upload_and_time(st, d, [("rss/big.csv", big)])
            peak = vmhwm_kb(d.pid)
            stop(d)
            print(f"peak RSS:  {peak / 1024:.1f} MB after a {bsize / 1e9:.2f} GB file "
                  f"({a.rss_rows / t_big:.0f} rows/s; {base / 1024:.1f} MB before)")


if __name__ == "__main__":
    main()

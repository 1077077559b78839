"""Process plumbing and the PostgreSQL / MariaDB servers of the test stack (tests/stack.py).

Starts each database server as a child that dies with the test process, on a loopback port, in
the stack's temporary directory, as the server's own system user when the tests run as root.
Data directories are copied from templates made once per machine. Helpers run SQL through the
psql and mariadb command-line clients. It does not know about moto or ingestd; the public API is
documented in tests/stack.py, whose Stack class mixes DatabaseServers in.
"""

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

LOOPBACK = "127.0.0.1"


class StackError(RuntimeError):
    """A server could not start or a helper failed; the message says why."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def _preexec(user):
    """Child setup: optional uid/gid switch, then die with the parent (order matters: a uid
    change clears PR_SET_PDEATHSIG)."""
    pw = pwd.getpwnam(user) if user else None

    def run():
        if pw is not None:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        except OSError:
            pass
    return run


class Proc:
    """One server process with its log file."""

    def __init__(self, name, argv, log, user=None, env=None, stdout=None):
        self.name = name
        self.log = log
        self.argv = argv
        logf = open(log, "ab")
        try:
            self.p = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=stdout or logf, stderr=logf,
                preexec_fn=_preexec(user), start_new_session=True, env=env,
                cwd=os.path.dirname(log))
        except OSError as e:
            raise StackError(f"{name}: cannot run {argv[0]}: {e}") from None
        finally:
            logf.close()

    def alive(self):
        return self.p.poll() is None

    def fail(self, why):
        self.stop()
        raise StackError(f"{self.name} did not start: {why}\n"
                         f"command: {' '.join(self.argv)}\n--- {self.log} (tail) ---\n"
                         f"{_log_tail(self.log)}")

    def wait_log(self, needle, timeout, start_offset=0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.log, "rb") as f:
                    f.seek(start_offset)
                    if needle in f.read():
                        return
            except OSError:
                pass
            if not self.alive():
                self.fail(f"exited with status {self.p.returncode}")
            if time.monotonic() > deadline:
                self.fail(f"no {needle.decode()!r} in its log within {timeout} s")
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is not None:
            return
        try:
            self.p.send_signal(sig)
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        except ProcessLookupError:
            pass
        finally:
            if self.p.stdout:
                self.p.stdout.close()


def _base_tmp():
    """$TMPDIR, unless we are root and the database users could not reach it (e.g. under
    /root): then /tmp."""
    base = tempfile.gettempdir()
    if os.geteuid() != 0:
        return base
    d = os.path.abspath(base)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return "/tmp"
        parent = os.path.dirname(d)
        if parent == d:
            return base
        d = parent


def _c_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL"))}
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra or {})
    return env


def _find_pg_bindir():
    base = "/usr/lib/postgresql"
    try:
        versions = sorted((int(v) for v in os.listdir(base) if v.isdigit()), reverse=True)
    except OSError:
        versions = []
    for v in [15] + versions:
        d = os.path.join(base, str(v), "bin")
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                     "(install the Debian package postgresql; or set INGESTD_PG_BINDIR)")


def _find_mariadbd():
    for cand in ("mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld"):
        path = shutil.which(cand) or (cand if os.path.exists(cand) else None)
        if path:
            return [path]
    raise StackError("mariadbd not found (install the Debian package mariadb-server)")


_BATCH_ESCAPES = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def _unescape_batch(v):
    if "\\" not in v:
        return v
    out = []
    i = 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v) and v[i + 1] in _BATCH_ESCAPES:
            out.append(_BATCH_ESCAPES[v[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class DatabaseServers:
    """Mixin for Stack: needs self.tmp, self.path(), self._procs, self.pg_options,
    self.mysql_options."""

    # ---- PostgreSQL ----

    def _server_user(self, name):
        """System user a database server runs as: itself when we are root, else us."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(name)
        except KeyError:
            raise StackError(f"running as root but there is no `{name}` system user to run "
                             f"the server as (install the Debian package)") from None
        # The server must reach its directory: let other users traverse the temp dir.
        os.chmod(self.tmp, 0o711)
        return name

    def _own_dir(self, name, user):
        d = self.path(name)
        os.mkdir(d, 0o755)
        if user:
            pw = pwd.getpwnam(user)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        return d

    def _run(self, what, argv, log, user=None, env=None, input_=None, timeout=120):
        with open(log, "ab") as logf:
            logf.write(("$ " + " ".join(argv) + "\n").encode())
            logf.flush()
            try:
                r = subprocess.run(argv, stdin=subprocess.PIPE if input_ else subprocess.DEVNULL,
                                   input=input_, stdout=logf, stderr=logf, env=env,
                                   preexec_fn=_preexec(user), timeout=timeout,
                                   cwd=os.path.dirname(log))
            except (OSError, subprocess.TimeoutExpired) as e:
                raise StackError(f"{what}: {e}\n--- {log} (tail) ---\n{_log_tail(log)}") from None
        if r.returncode != 0:
            raise StackError(f"{what} failed with status {r.returncode}\n"
                             f"command: {' '.join(argv)}\n--- {log} (tail) ---\n{_log_tail(log)}")

    def _init_datadir(self, what, server_bin, dest, user, log, argv_for):
        """Create a fresh data directory at dest: a copy of a cached template made once per
        machine and server binary (initdb/mariadb-install-db take 0.5-2 s, a copy ~0.1 s).
        INGESTD_STACK_CACHE=0 turns the cache off; =DIR moves it."""
        where = os.environ.get("INGESTD_STACK_CACHE", "")
        if where == "0":
            self._run(what, argv_for(dest), log, user=user, env=_c_env())
            return
        import fcntl
        import hashlib
        root = where or os.path.join(_base_tmp(), f"ingestd-stack-cache-{os.getuid()}")
        os.makedirs(root, 0o711, exist_ok=True)
        os.chmod(root, 0o711)
        st = os.stat(server_bin)
        key = hashlib.sha256(repr((what, server_bin, st.st_size, st.st_mtime_ns, user,
                                   argv_for("D"))).encode()).hexdigest()[:16]
        template = os.path.join(root, f"{what}-{key}")
        with open(os.path.join(root, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.isdir(template):
                build = tempfile.mkdtemp(prefix="build-", dir=root)
                os.chmod(build, 0o755)
                if user:
                    pw = pwd.getpwnam(user)
                    os.chown(build, pw.pw_uid, pw.pw_gid)
                try:
                    self._run(what, argv_for(os.path.join(build, "data")), log, user=user,
                              env=_c_env())
                    os.rename(os.path.join(build, "data"), template)
                finally:
                    shutil.rmtree(build, ignore_errors=True)
        r = subprocess.run(["cp", "-a", template, dest], capture_output=True)
        if r.returncode != 0:
            raise StackError(f"copying {template} to {dest}: {r.stderr.decode()}")

    def _start_pg(self):
        bindir = os.environ.get("INGESTD_PG_BINDIR") or _find_pg_bindir()
        self.pg_bindir = bindir
        self.pg_user = self._server_user("postgres")
        d = self._own_dir("pg", self.pg_user)
        self.pg_socket_dir = d
        self.pg_data = os.path.join(d, "data")
        self.pg_log = self.path("pg.log")
        self.pg_host = LOOPBACK
        self.pg_password = "pg-" + os.urandom(8).hex()
        initdb = os.path.join(bindir, "initdb")
        self._init_datadir(
            "initdb", initdb, self.pg_data, self.pg_user, self.pg_log,
            lambda data: [initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                          "--locale=C.UTF-8", "--no-sync", "--no-instructions"])
        with open(os.path.join(self.pg_data, "pg_hba.conf"), "w") as f:
            f.write("# written by tests/stack.py\n"
                    "local all all trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        opts = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{d}'",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "100", "shared_buffers": "64MB",
                "password_encryption": "'scram-sha-256'", "log_min_messages": "warning",
                "log_connections": "off"}
        opts.update({k: str(v) for k, v in self.pg_options.items()})
        with open(os.path.join(self.pg_data, "postgresql.conf"), "a") as f:
            f.write("\n# written by tests/stack.py\n")
            for k, v in opts.items():
                f.write(f"{k} = {v}\n")
        for attempt in range(3):
            self.pg_port = free_port()
            try:
                self.pg_start()
                break
            except StackError as e:
                if attempt == 2 or "could not bind" not in str(e):
                    raise
        self.psql(f"CREATE ROLE ingest LOGIN PASSWORD '{self.pg_password}';"
                  "CREATE DATABASE ingest OWNER ingest;", superuser=True, db="postgres")
        self.pg_conninfo = (f"host={LOOPBACK} port={self.pg_port} dbname=ingest user=ingest "
                            f"password={self.pg_password}")

    def pg_start(self):
        if "postgres" in self._procs and self._procs["postgres"].alive():
            return
        offset = os.path.getsize(self.pg_log) if os.path.exists(self.pg_log) else 0
        proc = Proc("postgres", [os.path.join(self.pg_bindir, "postgres"), "-D", self.pg_data,
                                 "-p", str(self.pg_port)],
                    self.pg_log, user=self.pg_user, env=_c_env())
        self._procs["postgres"] = proc
        proc.wait_log(b"database system is ready to accept connections", 60, offset)

    def pg_stop(self, mode="fast"):
        """fast: sessions are cut off, clean shutdown; immediate: like a crash (recovery on
        the next start)."""
        proc = self._procs.pop("postgres", None)
        if proc:
            proc.stop({"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode])

    def psql(self, sql, superuser=False, db="ingest"):
        if superuser:
            argv = ["psql", "-h", self.pg_socket_dir, "-p", str(self.pg_port), "-U", "postgres",
                    "-d", db]
            env = _c_env()
        else:
            argv = ["psql", f"host={LOOPBACK} port={self.pg_port} dbname={db} user=ingest"]
            env = _c_env({"PGPASSWORD": self.pg_password})
        argv += ["-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1", "-P", "null=\x1d",
                 "-f", "-"]
        r = subprocess.run(argv, input=sql.encode(), capture_output=True, env=env, timeout=120)
        if r.returncode != 0:
            raise StackError(f"psql failed ({r.returncode}): {r.stderr.decode(errors='replace')}"
                             f"\nSQL: {sql}")
        import csv
        import io
        rows = []
        for row in csv.reader(io.StringIO(r.stdout.decode())):
            rows.append(tuple(None if v == "\x1d" else v for v in row))
        return rows

    # ---- MariaDB ----

    def _start_mysql(self):
        self.mysql_os_user = self._server_user("mysql")
        d = self._own_dir("mysql", self.mysql_os_user)
        self.mysql_datadir = os.path.join(d, "data")
        self.mysql_socket = os.path.join(d, "mysqld.sock")
        self.mysql_log = self.path("mysql.log")
        self.mysql_host = LOOPBACK
        self.mysql_user = "ingest"
        self.mysql_database = "ingest"
        self.mysql_password = "my-" + os.urandom(8).hex()
        self._mysql_common = ["--innodb-log-file-size=16M", "--innodb-buffer-pool-size=64M"]
        self._init_datadir(
            "mariadb-install-db", _find_mariadbd()[0], self.mysql_datadir, self.mysql_os_user,
            self.mysql_log,
            lambda data: ["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                          "--auth-root-authentication-method=normal", "--skip-test-db",
                          "--skip-name-resolve"] + self._mysql_common)
        for attempt in range(3):
            self.mysql_port = free_port()
            try:
                self.mysql_start()
                break
            except StackError as e:
                if attempt == 2 or "bind" not in str(e).lower():
                    raise
        pw = self.mysql_password
        self.mysql(f"CREATE DATABASE ingest CHARACTER SET utf8mb4;"
                   f"CREATE USER 'ingest'@'127.0.0.1' IDENTIFIED BY '{pw}';"
                   f"CREATE USER 'ingest'@'localhost' IDENTIFIED BY '{pw}';"
                   "GRANT ALL ON ingest.* TO 'ingest'@'127.0.0.1';"
                   "GRANT ALL ON ingest.* TO 'ingest'@'localhost';", root=True)
        with open(self.path("mysql-client.cnf"), "w") as f:
            f.write(f"[client]\nhost={LOOPBACK}\nport={self.mysql_port}\nuser=ingest\n"
                    f"password={pw}\ndatabase=ingest\n")
        os.chmod(self.path("mysql-client.cnf"), 0o600)

    def mysql_start(self):
        if "mariadb" in self._procs and self._procs["mariadb"].alive():
            return
        offset = os.path.getsize(self.mysql_log) if os.path.exists(self.mysql_log) else 0
        argv = ["mariadbd", "--no-defaults", f"--datadir={self.mysql_datadir}",
                f"--socket={self.mysql_socket}", f"--port={self.mysql_port}",
                "--bind-address=127.0.0.1", "--local-infile=1", "--skip-name-resolve",
                f"--pid-file={os.path.join(os.path.dirname(self.mysql_socket), 'mysqld.pid')}",
                "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]
        argv += self._mysql_common + self.mysql_options
        proc = Proc("mariadb", _find_mariadbd() + argv[1:], self.mysql_log,
                    user=self.mysql_os_user, env=_c_env())
        self._procs["mariadb"] = proc
        proc.wait_log(b"ready for connections", 60, offset)

    def mysql_stop(self, kill=False):
        """kill=True: SIGKILL, a crash (InnoDB recovers on the next start)."""
        proc = self._procs.pop("mariadb", None)
        if proc:
            proc.stop(signal.SIGKILL if kill else signal.SIGTERM)

    def mysql(self, sql, root=False):
        if root:
            argv = ["mariadb", "--no-defaults", f"--socket={self.mysql_socket}", "-uroot"]
        else:
            argv = ["mariadb", f"--defaults-file={self.path('mysql-client.cnf')}"]
        argv += ["--batch", "--skip-column-names", "--local-infile=1"]
        r = subprocess.run(argv, input=sql.encode(), capture_output=True, env=_c_env(),
                           timeout=120)
        if r.returncode != 0:
            raise StackError(f"mariadb client failed ({r.returncode}): "
                             f"{r.stderr.decode(errors='replace')}\nSQL: {sql}")
        rows = []
        for line in r.stdout.decode().split("\n"):
            if line == "":
                continue
            rows.append(tuple(None if v == "NULL" else _unescape_batch(v)
                              for v in line.split("\t")))
        return rows

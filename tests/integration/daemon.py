"""Helpers for integration tests that run the ingestd binary.

    from daemon import Ingestd, NotifySocket, INGESTD_BIN
    with NotifySocket(st.tmp) as ns:
        d = Ingestd(conf, env=st.env(ns.env()), log=st.path("ingestd.log"))
        ns.expect("READY=1", timeout=15)
        ...
        d.stop()                  # SIGTERM, waits, returns the exit status

Ingestd runs the daemon in the foreground with its stderr going to a log file, which
`d.log_text()` reads. NotifySocket is a datagram socket playing systemd's side of
sd_notify(3): every message the daemon sends is kept, in order.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("INGESTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
INGESTD_BIN = os.environ.get("INGESTD_BIN", os.path.join(SRCDIR, "build", "ingestd"))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))


def require_binary():
    if not os.access(INGESTD_BIN, os.X_OK):
        print(f"ingestd binary not found at {INGESTD_BIN} (set INGESTD_BIN)", file=sys.stderr)
        sys.exit(99 if os.environ.get("CI") else 77)


class NotifySocket:
    """A background thread reads every datagram at once, as systemd does: an unread
    notify socket fills up and then blocks the daemon's sd_notify() calls."""

    def __init__(self, tmpdir):
        self.path = os.path.join(tmpdir, f"notify-{os.getpid()}-{time.monotonic_ns()}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        os.chmod(self.path, 0o777)
        self.messages = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def env(self, watchdog_usec=None):
        e = {"NOTIFY_SOCKET": self.path}
        if watchdog_usec:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
        return e

    def _reader(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.messages.extend(data.decode("utf-8", "replace").split("\n"))
                self.cond.notify_all()

    def expect(self, line, timeout=10.0, start=0):
        """Waits until a message line equal to (or starting with, for 'X=') `line` arrives
        at an index >= start; returns its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    m = self.messages[i]
                    if m == line or (line.endswith("=") and m.startswith(line)):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {line!r} from the daemon within {timeout}s; "
                                         f"got {self.messages!r}")
                self.cond.wait(min(left, 0.5))

    def count(self, line):
        time.sleep(0.1)
        with self.cond:
            return sum(1 for m in self.messages if m == line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True
        self.thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Ingestd:
    def __init__(self, conf, env, log, args=()):
        self.log = log
        self.logf = open(log, "ab")
        self.proc = subprocess.Popen([INGESTD_BIN, "-c", conf, *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf)

    def signal(self, signo):
        self.proc.send_signal(signo)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        finally:
            self.logf.flush()

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"ingestd did not exit within {timeout}s of SIGTERM")

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def log_text(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the log within {timeout}s:\n{self.log_text()[-3000:]}")


def run(args, env=None, timeout=120):
    """Runs ingestd with args; returns (status, stdout, stderr)."""
    p = subprocess.run([INGESTD_BIN, *args], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Checks:
    """Counts named checks; prints one line each and a summary; exit status for main()."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            self.failed.append(name)
            print(f"not ok - {name}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"ok - {name}", flush=True)

    def done(self):
        print(f"# {self.passed} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed else 0

"""cluster.py — runs real chorusd daemons on 127.0.0.x for the integration tests.

A Cluster writes a spread.conf for n daemons d1..dn (d<i> on 127.0.0.<i>, each on its own port,
so that a daemon may bind its ports on every address without colliding with its neighbours),
starts and kills the processes, and proves that a set of them forms one ring by having clients
on each of them join one group (wait_ring).

Ports: a random base in 20000..60000, stepping by 10 per daemon. Each 10-port block is reserved
with an flock on a file in <tmp>/chorus-integration-ports/ (held until close), so parallel ctest
runs never pick the same block, and every port a daemon may use (TCP and UDP port, port+1,
port+2) is checked free on the wildcard address, which also catches other programs.

The daemon binary is $CHORUSD, default <repo>/build/tools/chorusd. Logs go to <tmp>/<name>.log
(appended across restarts). The temporary directory is removed on a clean close and kept (path
printed) after a failure or when $CHORUS_KEEP_TMP is set.

Thread-safety: none; one test thread drives a Cluster.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import spread_client as sp

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CHORUSD = REPO / "build" / "tools" / "chorusd"
PORT_LOCK_DIR = Path(tempfile.gettempdir()) / "chorus-integration-ports"
POLL_S = 0.02  # interval between two looks at a condition that has a deadline

_live_clusters: set["Cluster"] = set()


@atexit.register
def _kill_leftovers() -> None:
    for c in list(_live_clusters):
        c.close()


def cpu_set(text: str) -> set[int]:
    """The CPUs of a list such as "0-3,8" (the status's "cpus", taskset's notation)."""
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        out |= set(range(int(first), int(last or first) + 1))
    return out


def random_name(prefix: str = "c", length: int = 10) -> str:
    """A legal private or group name (letters and digits) starting with `prefix`."""
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(random.choice(alphabet) for _ in range(length - len(prefix)))


def _port_free(port: int) -> bool:
    """Nothing is bound to `port` on any address, TCP or UDP."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


class Cluster:
    """n daemons d1..dn; index i is 1-based everywhere (d<i>, 127.0.0.<i>)."""

    def __init__(self, n: int, base_port: int | None = None,
                 tmpdir: str | os.PathLike | None = None, options: tuple[str, ...] = ()):
        if not 1 <= n <= 9:
            raise ValueError("1..9 daemons")
        self.n = n
        self.options = options  # extra spread.conf lines, e.g. "TokenLinger = 100"
        self.binary = Path(os.environ.get("CHORUSD") or DEFAULT_CHORUSD)
        self._own_tmp = tmpdir is None
        self.tmp = Path(tempfile.mkdtemp(prefix="chorus-it-")) if tmpdir is None else Path(tmpdir)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._locks: list[int] = []
        self.base_port = base_port if base_port is not None else self._reserve_ports()
        self.ports = {i: self.base_port + 10 * (i - 1) for i in range(1, n + 1)}
        self.procs: dict[int, subprocess.Popen] = {}
        self.failed = False
        self.conf = self.tmp / "spread.conf"
        self.conf.write_text(self._conf_text())
        for i in self.ports:
            self.runtime_dir(i).mkdir(exist_ok=True)
        _live_clusters.add(self)

    # ---- configuration ----

    def _reserve_ports(self) -> int:
        PORT_LOCK_DIR.mkdir(exist_ok=True)
        rng = random.SystemRandom()
        for _ in range(500):
            base = rng.randrange(2000, 6000 - self.n) * 10
            if self._lock_blocks(base) and all(
                    _port_free(base + 10 * k + d) for k in range(self.n) for d in range(3)):
                return base
            self._unlock()
        raise RuntimeError("no free block of ports found in 20000..60000")

    def _lock_blocks(self, base: int) -> bool:
        for k in range(self.n):
            fd = os.open(PORT_LOCK_DIR / f"{base // 10 + k}.lock", os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._locks.append(fd)
        return True

    def _unlock(self) -> None:
        for fd in self._locks:
            os.close(fd)  # closing the last descriptor releases the flock
        self._locks.clear()

    def _conf_text(self) -> str:
        lines = [f"Spread_Segment 127.0.0.255:{self.ports[1]} {{"]
        lines += [f"    {self.name(i)} {self.tcp(i)[0]}:{p}" for i, p in self.ports.items()]
        lines += ["}", f"RuntimeDir = {self.tmp}/run-%n", f"UnixSocketDir = {self.tmp}"]
        lines += [*self.options, ""]
        return "\n".join(lines)

    # ---- addresses ----

    @staticmethod
    def name(i: int) -> str:
        return f"d{i}"

    def unix_path(self, i: int) -> str:
        return str(self.tmp / str(self.ports[i]))

    def runtime_dir(self, i: int) -> Path:
        """d<i>'s RuntimeDir (run-%n in the configuration)."""
        return self.tmp / f"run-{self.name(i)}"

    def control_path(self, i: int) -> str:
        """d<i>'s control socket."""
        return str(self.runtime_dir(i) / "control")

    def status(self, i: int, timeout: float = 5.0) -> dict:
        """d<i>'s status document (docs/daemon.md "Control socket")."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_path(i))
            s.sendall(b"status\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    def tcp(self, i: int) -> tuple[str, int]:
        return (f"127.0.0.{i}", self.ports[i])

    def log_path(self, i: int) -> Path:
        return self.tmp / f"{self.name(i)}.log"

    def log(self, i: int) -> str:
        try:
            return self.log_path(i).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- processes ----

    def command(self, i: int) -> list[str]:
        """The command line that starts d<i> (a subclass may wrap it, in a namespace say)."""
        return [str(self.binary), "-c", str(self.conf), "-n", self.name(i)]

    def alive(self, i: int) -> bool:
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def start(self, i: int, wait: bool = True, timeout: float = 10.0) -> None:
        """Starts d<i>; with `wait`, returns once its Unix socket accepts connections."""
        if self.alive(i):
            raise AssertionError(f"{self.name(i)} is already running")
        if not os.access(self.binary, os.X_OK):
            raise AssertionError(f"chorusd not found at {self.binary}: build it or set CHORUSD")
        with open(self.log_path(i), "ab") as log:
            log.write(f"==== cluster: start {self.name(i)} at {time.strftime('%H:%M:%S')} ====\n"
                      .encode())
            log.flush()
            self.procs[i] = subprocess.Popen(
                self.command(i),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                start_new_session=True)
        if wait:
            self.wait_ready(i, timeout)

    def start_all(self, timeout: float = 10.0) -> None:
        for i in self.ports:
            self.start(i, wait=False)
        for i in self.ports:
            self.wait_ready(i, timeout)

    def wait_ready(self, i: int, timeout: float = 10.0) -> float:
        """Polls until d<i>'s Unix socket accepts a connection; returns the seconds it took."""
        start = time.monotonic()
        while True:
            if not self.alive(i):
                raise AssertionError(f"{self.name(i)} is not running (exit code "
                                     f"{self._exit_code(i)})\n{self.log_tail(i)}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(self.unix_path(i))
                return time.monotonic() - start
            except (FileNotFoundError, ConnectionRefusedError):
                pass
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{self.name(i)}: {self.unix_path(i)} not accepting after "
                                   f"{timeout} s\n{self.log_tail(i)}")
            time.sleep(POLL_S)

    def _exit_code(self, i: int) -> int | None:
        p = self.procs.get(i)
        return None if p is None else p.poll()

    def kill9(self, i: int) -> None:
        p = self.procs[i]
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(5)

    def pause(self, i: int) -> None:
        """SIGSTOP: the daemon stays connected to its clients but stops taking part in the ring."""
        self.procs[i].send_signal(signal.SIGSTOP)

    def resume(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGCONT)

    def stop(self, i: int, timeout: float = 5.0) -> None:
        """SIGTERM; asserts a clean exit (code 0) within `timeout`."""
        p = self.procs[i]
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            raise AssertionError(f"{self.name(i)} did not exit within {timeout} s of SIGTERM\n"
                                 f"{self.log_tail(i)}") from None
        if code != 0:
            raise AssertionError(f"{self.name(i)} exited with {code} after SIGTERM\n"
                                 f"{self.log_tail(i)}")

    def restart(self, i: int, timeout: float = 10.0) -> None:
        """kill -9 if still running, then start again (a new incarnation)."""
        if self.alive(i):
            self.kill9(i)
        self.start(i, wait=True, timeout=timeout)

    # ---- rings ----

    def wait_ring(self, indices, timeout: float = 10.0) -> float:
        """Proves that the daemons in `indices` form one ring: one membership client per daemon
        joins a fresh group, and each must see a regular membership of that group listing all
        of them. Returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        indices = list(indices)
        for i in indices:
            self.wait_ready(i, timeout)
        group = random_name("ring-", 16)
        sessions = [sp.connect(self.unix_path(i), random_name("w"),
                               timeout=max(0.1, deadline - time.monotonic())) for i in indices]
        try:
            for s in sessions:
                s.join(group)
            want = {s.private_group for s in sessions}
            last: dict[sp.Session, sp.Message] = {}
            waiting = set(sessions)
            while waiting:
                try:
                    s, m = sp.receive_any(waiting, max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    raise TimeoutError(
                        f"daemons {[self.name(i) for i in indices]} did not form one ring within "
                        f"{timeout} s; last views: "
                        + "; ".join(f"{s.private_group}: {last.get(s)}" for s in sessions)
                    ) from None
                if m.is_reg_memb() and m.sender == group:
                    last[s] = m
                    if want <= set(m.groups):
                        waiting.discard(s)
        finally:
            for s in sessions:
                s.disconnect()
        return time.monotonic() - start

    # ---- teardown and diagnostics ----

    def log_tail(self, i: int, lines: int = 40) -> str:
        text = self.log(i).splitlines()[-lines:]
        state = "running" if self.alive(i) else f"exit code {self._exit_code(i)}"
        return (f"---- {self.name(i)} ({state}), {self.log_path(i)}, last {len(text)} lines ----\n"
                + "\n".join(text))

    def dump_logs(self, lines: int = 40) -> None:
        for i in self.ports:
            print(self.log_tail(i, lines), file=sys.stderr)
        sys.stderr.flush()

    def close(self) -> None:
        """Kills every daemon this cluster started (SIGKILL works on stopped ones too)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._unlock()
        _live_clusters.discard(self)
        if self._own_tmp and self.tmp.exists():
            if self.failed or os.environ.get("CHORUS_KEEP_TMP"):
                print(f"cluster: kept {self.tmp}", file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.failed = True
            self.dump_logs()
        self.close()
        return False


class ClusterTestCase(unittest.TestCase):
    """Base for test classes that share one Cluster (`cls.cluster`, started in setUpClass with
    start_cluster): prints the tail of every daemon log after a failing test, restarts daemons
    a previous test left dead, and closes every session a test opened."""

    cluster: Cluster
    daemons = 1
    options: tuple[str, ...] = ()  # extra spread.conf lines for every daemon

    @classmethod
    def make_cluster(cls) -> Cluster:
        """The cluster the class's tests share (a subclass may place it elsewhere)."""
        return Cluster(cls.daemons, options=cls.options)

    @classmethod
    def setUpClass(cls) -> None:
        cls.cluster = cls.make_cluster()
        try:
            cls.cluster.start_all()
            if cls.daemons > 1:
                cls.cluster.wait_ring(range(1, cls.daemons + 1), timeout=20)
        except BaseException:
            cls.cluster.failed = True
            cls.cluster.dump_logs()
            cls.cluster.close()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cluster.close()

    def setUp(self) -> None:
        c = self.cluster
        dead = [i for i in c.ports if not c.alive(i)]
        for i in dead:
            c.restart(i)
        if dead and c.n > 1:
            c.wait_ring(c.ports, timeout=20)

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            self.cluster.failed = True
            print(f"\n==== daemon logs after {self.id()} ====", file=sys.stderr)
            self.cluster.dump_logs()
        return outcome

    def client(self, i: int = 1, name: str | None = None, **kw) -> sp.Session:
        """A session on d<i> over its Unix socket, closed at the end of the test."""
        s = sp.connect(self.cluster.unix_path(i), random_name() if name is None else name, **kw)
        self.addCleanup(s.close)
        return s

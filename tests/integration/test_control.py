"""test_control.py — chorusd's control socket (docs/daemon.md "Control socket"):
<RuntimeDir>/control, a Unix socket of mode 0600 on which a client writes one request line
("status\\n") and the daemon answers one line of JSON and closes.

What an operator tool relies on: the status of one daemon and of three (the same configuration
at every member; a daemon that died leaves it), the sessions and groups of clients as they come
and go, counters that grow with traffic, a session's queue as it fills and drains; and what
keeps the daemon safe: an unknown request, an over-long request and a silent connection each get
an error line and are closed, at most 16 connections at once, the socket file's mode and its
removal at SIGTERM, and a flood of garbage after which the daemon still serves its clients.

Run alone: python3 -m unittest -v tests/integration/test_control.py
"""

import json
import os
import random
import select
import socket
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402

ANSWER_TIMEOUT_S = 5.0  # a control request must be answered (and closed) this soon
REQUEST_TIMEOUT_S = 2.0  # the daemon's limit for a whole request line
STATE_TIMEOUT_S = 10.0  # a change (joins, a dead daemon) must show in the status this soon
CONNECTIONS_MAX = 16
REQUEST_BYTES_MAX = 256

CORE_STATS = [
    "packets_received", "dropped_malformed", "dropped_conf_hash", "dropped_foreign_ring",
    "dropped_not_member", "dropped_duplicate", "dropped_beyond_window", "dropped_stale_token",
    "dropped_unsupported", "tokens_received", "tokens_retransmitted", "token_lingers",
    "packets_sent",
    "packets_retransmitted", "retransmit_requests", "messages_submitted", "messages_refused",
    "messages_delivered", "bytes_delivered", "reassembly_errors"]
TRANSPORT_STATS = [
    "datagrams_sent", "datagrams_received", "bytes_sent", "bytes_received", "send_syscalls",
    "receive_syscalls", "send_errors", "unknown_sender"]


def read_to_eof(sock: socket.socket, deadline: float) -> bytes:
    """Everything the daemon sends until it closes. ECONNRESET after the data counts as the close
    (the daemon closed with bytes of ours unread, which only a flooding client sees)."""
    buf = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"control connection not closed; got {bytes(buf)!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            return bytes(buf)
        except socket.timeout:
            raise TimeoutError(f"control connection not closed; got {bytes(buf)!r}") from None
        if not chunk:
            return bytes(buf)
        buf += chunk


def one_line(raw: bytes) -> dict:
    """The answer is exactly one line of JSON."""
    if not raw.endswith(b"\n") or raw.count(b"\n") != 1:
        raise AssertionError(f"not one line: {raw[:300]!r}")
    return json.loads(raw)


class ControlTestCase(cluster.ClusterTestCase):
    """Helpers: requests to d<i>'s control socket."""

    def control_path(self, i: int = 1) -> str:
        return self.cluster.control_path(i)

    def connect_control(self, i: int = 1, timeout: float = ANSWER_TIMEOUT_S) -> socket.socket:
        """A connected socket; retries while the socket file is not there yet (a daemon that was
        just started binds it right after its client endpoints)."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(self.control_path(i))
                self.addCleanup(sock.close)
                return sock
            except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
                # BlockingIOError: the listen queue is full (a burst of connections).
                sock.close()
                if time.monotonic() > deadline:
                    raise
            except BaseException:
                sock.close()
                raise
            time.sleep(cluster.POLL_S)

    def ask(self, request: bytes, i: int = 1, shutdown: bool = False) -> bytes:
        """Sends `request` (then EOF with `shutdown`) and returns all the daemon answers."""
        sock = self.connect_control(i)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        try:
            sock.sendall(request)
            if shutdown:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may close before it read everything (over-long requests)
        try:
            return read_to_eof(sock, deadline)
        finally:
            sock.close()

    def status(self, i: int = 1) -> dict:
        st = one_line(self.ask(b"status\n", i))
        self.assertNotIn("error", st)
        return st

    def wait_status(self, pred, what: str, i: int = 1, timeout: float = STATE_TIMEOUT_S) -> dict:
        """Polls d<i>'s status until pred(status) holds."""
        deadline = time.monotonic() + timeout
        while True:
            st = one_line(self.ask(b"status\n", i))
            if "error" not in st and pred(st):
                return st
            if time.monotonic() > deadline:
                self.fail(f"d{i}: {what} not within {timeout} s; last status: {st}")
            time.sleep(cluster.POLL_S)

    @staticmethod
    def group(st: dict, name: str) -> dict | None:
        return next((g for g in st["groups"]["list"] if g["name"] == name), None)

    @staticmethod
    def session(st: dict, private_group: str) -> dict | None:
        return next((s for s in st["sessions"]["list"] if s["private_group"] == private_group),
                    None)

    def last_logged_ring(self, i: int) -> tuple[str, int, int]:
        """The ring of the last regular configuration d<i> logged ("ring d1/3/12")."""
        lines = [ln for ln in self.cluster.log(i).splitlines() if "regular configuration" in ln]
        rep, inc, seq = lines[-1].split(" ring ")[1].split(":")[0].split("/")
        return rep, int(inc), int(seq)


class OneDaemon(ControlTestCase):

    daemons = 1

    def test_status_of_one_daemon(self):
        st = self.wait_status(lambda s: s["configuration"] is not None, "a configuration")
        c = self.cluster
        d = st["daemon"]
        self.assertEqual((d["name"], d["node_id"], d["version"], d["config_source"]),
                         ("d1", 0, "0.1.0", str(c.conf)))
        self.assertRegex(d["config_hash"], r"^[0-9a-f]{16}$")
        self.assertGreaterEqual(d["incarnation"], 1)
        # Not pinned: the daemon may run where its parent (this test) may.
        self.assertEqual(cluster.cpu_set(d["cpus"]), os.sched_getaffinity(0))
        self.assertIsInstance(st["uptime_s"], int)
        conf = st["configuration"]
        self.assertEqual((conf["type"], conf["members"]), ("regular", ["d1"]))
        ring = conf["ring"]
        self.assertEqual((ring["representative"], ring["incarnation"], ring["sequence"]),
                         self.last_logged_ring(1))
        self.assertEqual(ring["incarnation"], d["incarnation"])
        self.assertEqual(st["daemons"], [{"name": "d1", "address": "127.0.0.1",
                                          "port": c.ports[1], "self": True,
                                          "in_configuration": True}])
        self.assertEqual(st["transport"]["mode"], "unicast")
        for k in TRANSPORT_STATS:
            self.assertIsInstance(st["transport"][k], int, k)
        self.assertEqual(st["ring"]["role"], "operational")
        for k in CORE_STATS:
            self.assertIsInstance(st["ring"][k], int, k)
        self.assertEqual(st["sessions"]["max"], 997)
        for part in ("sessions", "groups"):
            self.assertEqual(st[part]["count"], len(st[part]["list"]))
            self.assertFalse(st[part]["truncated"])

    def test_sessions_and_groups_follow_the_clients(self):
        g = random_name("g")
        a = self.client(name=random_name("a"))
        b = sp.connect(self.cluster.tcp(1), random_name("b"))
        self.addCleanup(b.close)
        a.join(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.sender == g)
        b.join(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.changed_member == b.private_group)

        # A view was delivered, so the daemon's table already holds it.
        st = self.status()
        self.assertEqual(self.group(st, g), {
            "name": g, "member_count": 2, "truncated": False,
            "members": sorted([a.private_group, b.private_group], key=str.encode)})
        sa, sb = self.session(st, a.private_group), self.session(st, b.private_group)
        self.assertEqual((sa["peer"], sa["state"]), (self.cluster.unix_path(1), "open"))
        self.assertTrue(sb["peer"].startswith("127.0.0.1:"), sb)
        self.assertEqual(sb["state"], "open")
        # The Python client asks for no shared memory; test_shared_memory.py's clients do.
        self.assertEqual((sa["shared_memory"], sb["shared_memory"]), (False, False))
        self.assertEqual(st["groups"]["count"], len(st["groups"]["list"]))
        self.assertEqual(st["sessions"]["count"], len(st["sessions"]["list"]))

        b.leave(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.changed_member == b.private_group)
        self.assertEqual(self.group(self.status(), g)["members"], [a.private_group])
        a.disconnect()
        st = self.wait_status(lambda s: self.group(s, g) is None
                              and self.session(s, a.private_group) is None,
                              f"{g} and {a.private_group} gone")
        self.assertIsNotNone(self.session(st, b.private_group))

    def test_group_members_are_capped_at_100(self):
        g = random_name("g")
        quiet = [self.client(name=f"m{k:03d}", membership=False) for k in range(101)]
        for s in quiet:
            s.join(g)
        st = self.wait_status(lambda s: (self.group(s, g) or {}).get("member_count") == 101,
                              f"101 members in {g}")
        grp = self.group(st, g)
        self.assertTrue(grp["truncated"])
        self.assertEqual(grp["members"], sorted(s.private_group for s in quiet)[:100])

    def test_counters_grow_with_traffic(self):
        g = random_name("g")
        a = self.client()
        a.join(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.sender == g)
        before = self.status()
        n, payload = 50, b"x" * 1000
        for k in range(n):
            a.multicast(sp.AGREED_MESS, g, payload)
        for k in range(n):
            self.assertEqual(a.receive_until(lambda m: m.is_regular())[0].data, payload)
        after = self.status()
        r0, r1 = before["ring"], after["ring"]
        for k in ("messages_submitted", "messages_delivered"):
            self.assertGreaterEqual(r1[k] - r0[k], n, k)
        self.assertGreaterEqual(r1["bytes_delivered"] - r0["bytes_delivered"], n * len(payload))
        self.assertGreater(r1["packets_sent"], r0["packets_sent"])
        self.assertGreaterEqual(after["groups"]["data_delivered"]
                                - before["groups"]["data_delivered"], n)
        self.assertGreaterEqual(after["uptime_s"], before["uptime_s"])

    def test_a_session_queue_fills_and_drains(self):
        """A client that does not read has messages queued at the daemon; they drain when it
        reads."""
        sender, slow = self.client(), self.client(name=random_name("slow"))
        n, payload = 300, os.urandom(10_000)  # ~3 MB: far beyond the socket buffers
        for _ in range(n):
            sender.multicast(sp.AGREED_MESS, slow.private_group, payload)
        st = self.wait_status(
            lambda s: (self.session(s, slow.private_group) or {}).get("queued_messages", 0) > 0,
            "messages queued for a client that does not read")
        q = self.session(st, slow.private_group)
        self.assertGreaterEqual(q["queued_bytes"], q["queued_messages"] * len(payload))
        for _ in range(n):
            self.assertEqual(slow.receive(10).data, payload)
        self.wait_status(
            lambda s: self.session(s, slow.private_group)["queued_messages"] == 0
            and self.session(s, slow.private_group)["queued_bytes"] == 0,
            "the queue drained")

    def test_request_forms(self):
        """CRLF and a request ended by EOF instead of a newline are answered too."""
        for raw, shutdown in ((b"status\r\n", False), (b"status", True), (b" status \n", False)):
            st = one_line(self.ask(raw, shutdown=shutdown))
            self.assertEqual(st["daemon"]["name"], "d1", raw)

    def test_unknown_request(self):
        self.assertEqual(self.ask(b"xyz\n"),
                         b'{"error":"unknown request \'xyz\'; known: status"}\n')
        # Whatever bytes come back quoted, the answer stays valid JSON.
        ans = one_line(self.ask(b'a"\\\x00\x01\xff\xfe\xc3\xa9z\n'))
        self.assertEqual(ans["error"],
                         "unknown request 'a\"\\\x00\x01\ufffd\ufffd\u00e9z'; known: status")
        longest = b"y" * REQUEST_BYTES_MAX
        self.assertEqual(one_line(self.ask(longest + b"\n"))["error"],
                         f"unknown request '{longest.decode()}'; known: status")

    def test_over_long_request_is_closed(self):
        for raw in (b"x" * (REQUEST_BYTES_MAX + 44), b"z" * (REQUEST_BYTES_MAX + 1) + b"\n",
                    b"status" * 10_000):
            self.assertEqual(one_line(self.ask(raw)),
                             {"error": f"request longer than {REQUEST_BYTES_MAX} bytes"})

    def test_silent_and_unfinished_connections_are_closed(self):
        silent, partial = self.connect_control(), self.connect_control()
        partial.sendall(b"stat")
        deadline = time.monotonic() + REQUEST_TIMEOUT_S + ANSWER_TIMEOUT_S
        want = {"error": f"request not completed within {REQUEST_TIMEOUT_S:.0f} s"}
        self.assertEqual(one_line(read_to_eof(silent, deadline)), want)
        self.assertEqual(one_line(read_to_eof(partial, deadline)), want)

    def test_at_most_16_connections(self):
        """Connections beyond 16 are refused at once with an error; those accepted time out."""
        socks = [self.connect_control() for _ in range(CONNECTIONS_MAX + 4)]
        deadline = time.monotonic() + REQUEST_TIMEOUT_S + ANSWER_TIMEOUT_S
        answers = [one_line(read_to_eof(s, deadline))["error"] for s in socks]
        refused = [a for a in answers if a.startswith("too many control connections")]
        timed_out = [a for a in answers if a.startswith("request not completed")]
        self.assertEqual(len(refused) + len(timed_out), len(socks), answers)
        # Earlier tests' connections may still be closing, so maybe fewer than 16 were accepted.
        self.assertLessEqual(len(timed_out), CONNECTIONS_MAX, answers)
        self.assertGreaterEqual(len(refused), 4, answers)
        self.wait_status(lambda s: True, "a status after the connections closed")

    def test_socket_mode_is_0600(self):
        mode = os.stat(self.control_path()).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_socket_removed_at_sigterm_and_replaced_after_a_crash(self):
        path = self.control_path()
        incarnation = self.status()["daemon"]["incarnation"]
        waiting = self.connect_control()  # a connection open at shutdown is simply closed
        waiting.sendall(b"sta")
        self.cluster.stop(1)
        self.assertFalse(os.path.lexists(path), "control socket left after SIGTERM")
        self.assertEqual(read_to_eof(waiting, time.monotonic() + ANSWER_TIMEOUT_S), b"")
        self.cluster.start(1)
        self.assertEqual(self.status()["daemon"]["incarnation"], incarnation + 1)
        # kill -9 leaves the file behind: the next daemon replaces it.
        self.cluster.kill9(1)
        self.assertTrue(os.path.lexists(path))
        self.cluster.start(1)
        self.assertEqual(self.status()["daemon"]["incarnation"], incarnation + 2)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_garbage_flood_leaves_the_daemon_healthy(self):
        g = random_name("g")
        w = self.client(name=random_name("w"))
        w.join(g)
        w.receive_until(lambda m: m.is_reg_memb() and m.sender == g)
        rng = random.Random(0x5eed)

        # Random request lines: each gets one line of valid JSON naming the request unknown.
        for _ in range(100):
            body = bytes(rng.choice([rng.randrange(256), ord('"'), ord("\\")])
                         for _ in range(rng.randrange(REQUEST_BYTES_MAX)))
            body = body.replace(b"\n", b"")
            ans = one_line(self.ask(body + b"\n"))
            self.assertTrue(ans["error"].startswith("unknown request '"), ans)

        # Connections that open and close at once, and streams of garbage the daemon must cut.
        for _ in range(100):
            self.connect_control().close()
        self.flood(rng, connections=30, deadline=time.monotonic() + 30)

        self.assertTrue(self.cluster.alive(1), "chorusd died")
        w.multicast(sp.AGREED_MESS, g, b"still here")
        self.assertEqual(w.receive_until(lambda m: m.is_regular())[0].data, b"still here")
        f = self.client(name=random_name("f"))
        f.join(g)
        w.receive_until(lambda m: m.is_reg_memb() and m.changed_member == f.private_group)
        st = self.wait_status(lambda s: (self.group(s, g) or {}).get("member_count") == 2,
                              "the group after the flood")
        self.assertEqual(st["daemon"]["name"], "d1")

    def flood(self, rng: random.Random, connections: int, deadline: float) -> None:
        """Writes random bytes on `connections` control connections at once, never reading
        until the daemon closes each of them; every one must be closed before `deadline`."""
        socks = [self.connect_control() for _ in range(connections)]
        for s in socks:
            s.setblocking(False)
        chunk = rng.randbytes(1 << 16)
        open_ = set(socks)
        while open_:
            if time.monotonic() > deadline:
                self.fail(f"{len(open_)} flooding connections still open")
            _, writable, _ = select.select([], list(open_), [], 0.1)
            for s in writable:
                try:
                    s.send(chunk)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    open_.discard(s)
            for s in list(open_):
                try:
                    if s.recv(1 << 16) == b"":
                        open_.discard(s)
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    open_.discard(s)


class ThreeDaemons(ControlTestCase):

    daemons = 3

    def configurations(self) -> list[dict]:
        return [self.status(i)["configuration"] for i in (1, 2, 3)]

    def test_status_of_three_daemons(self):
        deadline = time.monotonic() + STATE_TIMEOUT_S
        while True:
            confs = self.configurations()
            if (all(c is not None and c["type"] == "regular" for c in confs)
                    and all(c == confs[0] for c in confs)
                    and confs[0]["members"] == ["d1", "d2", "d3"]):
                break
            if time.monotonic() > deadline:
                self.fail(f"no common configuration of d1 d2 d3: {confs}")
            time.sleep(cluster.POLL_S)
        c = self.cluster
        hashes = set()
        for i in (1, 2, 3):
            st = self.status(i)
            self.assertEqual((st["daemon"]["name"], st["daemon"]["node_id"]), (f"d{i}", i - 1))
            hashes.add(st["daemon"]["config_hash"])
            self.assertEqual(st["daemons"], [
                {"name": f"d{k}", "address": f"127.0.0.{k}", "port": c.ports[k],
                 "self": k == i, "in_configuration": True} for k in (1, 2, 3)])
            self.assertEqual(st["transport"]["mode"], "unicast")
            self.assertEqual(st["ring"]["role"], "operational")
        self.assertEqual(len(hashes), 1, hashes)

    def test_groups_are_seen_from_every_daemon(self):
        g = random_name("g")
        a, b = self.client(1, name=random_name("a")), self.client(3, name=random_name("b"))
        a.join(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.sender == g)
        b.join(g)
        for s in (a, b):
            s.receive_until(lambda m: m.is_reg_memb() and m.changed_member == b.private_group)
        want = [a.private_group, b.private_group]  # by daemon (d1, d3), then name
        for i in (1, 2, 3):
            st = self.wait_status(lambda s: (self.group(s, g) or {}).get("members") == want,
                                  f"{g} = {want}", i)
            local = {s["private_group"] for s in st["sessions"]["list"]}
            self.assertEqual(a.private_group in local, i == 1, i)
            self.assertEqual(b.private_group in local, i == 3, i)

    def test_transport_counters_grow_with_traffic(self):
        before = [self.status(i) for i in (1, 2, 3)]
        g = random_name("g")
        a = self.client(2)
        a.join(g)
        a.receive_until(lambda m: m.is_reg_memb() and m.sender == g)
        for _ in range(20):
            a.multicast(sp.SAFE_MESS, g, b"y" * 500)
        for _ in range(20):
            a.receive_until(lambda m: m.is_regular())
        for i, b in zip((1, 2, 3), before):
            t0, t1 = b["transport"], self.status(i)["transport"]
            for k in ("datagrams_sent", "datagrams_received", "bytes_sent", "bytes_received"):
                self.assertGreater(t1[k], t0[k], f"d{i} {k}")
            self.assertEqual(t1["unknown_sender"], t0["unknown_sender"], f"d{i}")

    def test_a_dead_daemon_leaves_the_configuration(self):
        self.cluster.kill9(3)
        for i in (1, 2):
            st = self.wait_status(lambda s: s["configuration"]["members"] == ["d1", "d2"]
                                  and s["configuration"]["type"] == "regular",
                                  "a configuration without d3", i)
            self.assertEqual([d["in_configuration"] for d in st["daemons"]], [True, True, False])
            self.assertEqual(st["configuration"]["ring"]["representative"], "d1")


if __name__ == "__main__":
    unittest.main()

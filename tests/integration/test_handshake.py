"""test_handshake.py — the connect handshake of one chorusd against the spec
(shared/specs/spread-client-protocol.md §1.3–§1.6, §5.2): the exact accept bytes, every reject
code in its position, generated names, segmented and stalled handshakes, TCP and Unix endpoints;
the session quota (997) and a daemon that runs out of file descriptors.

Run alone: python3 -m unittest -v tests/integration/test_handshake.py
"""

import os
import re
import resource
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402

# Step 2 on the Unix socket: NULL, and SHM (Chorus's shared-memory sessions, which Spread
# clients ignore; test_shared_memory.py).
NULL_LIST = bytes([9]) + b"NULL SHM "
GENERATED_PG = re.compile(r"^#[\x24-\x7e]{1,10}#d1$")


class Handshake(cluster.ClusterTestCase):
    daemons = 1

    # ---- helpers ----

    def raw(self, endpoint=None) -> socket.socket:
        """A connected non-blocking socket that has sent nothing yet."""
        sock = sp.open_socket(endpoint or self.cluster.unix_path(1))
        self.addCleanup(sock.close)
        return sock

    def read(self, sock, n, timeout=5.0) -> bytes:
        return sp.recv_exact(sock, n, time.monotonic() + timeout)

    def assert_closed(self, sock, timeout=2.0):
        """The daemon closes the socket (EOF or reset) within `timeout`, sending nothing more."""
        deadline = time.monotonic() + timeout
        with self.assertRaises(sp.ConnectionClosed, msg="daemon kept the socket open"):
            extra = sp.recv_exact(sock, 1, deadline)
            self.fail(f"daemon sent more bytes after the reject: {extra.hex()}")

    def assert_open(self, sock):
        """Nothing received and no EOF yet (non-blocking look)."""
        try:
            got = sock.recv(1)
        except BlockingIOError:
            return
        self.fail(f"expected an open, silent socket, got {got!r}")

    def assert_works(self, s: sp.Session):
        """The session can join a group and hears its own JOIN, then a message of its own."""
        g = random_name("g")
        s.join(g)
        m = s.receive(5)
        self.assertTrue(m.is_reg_memb(), m)
        self.assertEqual((m.sender, m.groups, m.cause()), (g, [s.private_group], "JOIN"))
        s.multicast(sp.AGREED_MESS, g, b"ping")
        m = s.receive(5)
        self.assertEqual((m.service, m.sender, m.data), (sp.AGREED_MESS, s.private_group, b"ping"))

    def assert_rejected(self, code, step, name, **kw):
        with self.assertRaises(sp.Rejected) as cm:
            sp.connect(self.cluster.unix_path(1), name, **kw)
        self.assertEqual((cm.exception.code, cm.exception.step), (code, step))

    # ---- accept ----

    def test_accept_bytes_exactly_as_section_1_6(self):
        sock = self.raw()
        sock.sendall(bytes.fromhex("05 00 01 01 01 61"))
        self.assertEqual(self.read(sock, len(NULL_LIST)), NULL_LIST)
        sock.sendall(b"NULL" + bytes(86))
        self.assertEqual(self.read(sock, 10), bytes([1, 5, 0, 1, 5]) + b"#a#d1")
        self.assert_open(sock)
        s = sp.Session(sock, "#a#d1", False, (5, 0, 1), ["NULL"])
        self.assert_works(s)

    def test_java_connect_message(self):  # §1.6: 04 04 00 01 03 "bob"
        s = sp.connect(self.cluster.unix_path(1), "jbob", version=(4, 4, 0), big_endian=True)
        self.addCleanup(s.close)
        self.assertEqual((s.private_group, s.daemon_version, s.auth_methods),
                         ("#jbob#d1", (5, 0, 1), ["NULL", "SHM"]))
        self.assert_works(s)

    def test_flags_membership_off_and_priority(self):
        s = self.client(name="prio", priority=True, membership=False)
        self.assertEqual(s.private_group, "#prio#d1")
        g = random_name("g")
        s.join(g)
        s.multicast(sp.FIFO_MESS, g, b"first")  # no JOIN notification may come before it
        m = s.receive(5)
        self.assertEqual((m.service, m.data), (sp.FIFO_MESS, b"first"), m)

    # ---- rejects (§1.4) ----

    def test_name_longer_than_10_bytes(self):
        sock = self.raw()
        sock.sendall(bytes.fromhex("05 00 01 01 0b") + b"abcdefghijk")
        self.assertEqual(self.read(sock, 1), b"\xfb")
        self.assert_closed(sock)

    def test_negative_name_length(self):
        sock = self.raw()
        sock.sendall(bytes.fromhex("05 00 01 01 ff"))
        self.assertEqual(self.read(sock, 1), b"\xfb")
        self.assert_closed(sock)

    def test_illegal_characters_in_name(self):
        # Legal bytes are 0x24 '$' ... 0x7E '~' (§5.2).
        for name in (b"a b", b"a#b", b"#", b"a!", b'"', b"a\x7f", b"\x80", b"a\x00b", b"\x23"):
            with self.subTest(name=name):
                self.assert_rejected(sp.REJECT_ILLEGAL_NAME, 2, name)

    def test_legal_edge_characters(self):
        s = self.client(name="$~")
        self.assertEqual(s.private_group, "#$~#d1")

    def test_duplicate_name(self):
        first = self.client(name="dup")
        self.assert_rejected(sp.REJECT_NOT_UNIQUE, 2, "dup")
        self.assert_works(first)  # the first holder is unaffected
        other_case = self.client(name="DUP")  # bytewise, case-sensitive
        self.assertEqual(other_case.private_group, "#DUP#d1")

    def test_duplicate_name_reject_closes_socket(self):
        self.client(name="dup2")
        sock = self.raw()
        sock.sendall(sp.connect_message("dup2"))
        self.assertEqual(self.read(sock, 1), b"\xfa")
        self.assert_closed(sock)

    def test_old_library_version(self):
        for version in ((3, 0, 0), (2, 9, 9), (1, 0, 0)):
            with self.subTest(version=version):
                self.assert_rejected(sp.REJECT_VERSION, 2, random_name(), version=version)

    def test_old_library_version_closes_socket(self):
        sock = self.raw()
        sock.sendall(bytes([3, 0, 0, 1, 1]) + b"v")
        self.assertEqual(self.read(sock, 1), b"\xf9")
        self.assert_closed(sock)

    def test_bad_auth_choice(self):
        self.assert_rejected(sp.REJECT_AUTH, 5, random_name(), auth_method="XXXX")

    def test_bad_auth_choice_bytes(self):
        sock = self.raw()
        sock.sendall(sp.connect_message("badauth"))
        self.assertEqual(self.read(sock, len(NULL_LIST)), NULL_LIST)  # the normal list
        sock.sendall(b"XXXX" + bytes(86))
        self.assertEqual(self.read(sock, 1), b"\xf7")  # the reject in the accept position
        self.assert_closed(sock)
        # The name was not taken by the refused attempt.
        self.assertEqual(self.client(name="badauth").private_group, "#badauth#d1")

    # ---- names ----

    def test_empty_name_gets_a_generated_name(self):
        a = self.client(name="")
        b = self.client(name="")
        for s in (a, b):
            self.assertRegex(s.private_group, GENERATED_PG)
        self.assertNotEqual(a.private_group, b.private_group)
        self.assert_works(a)

    def test_ten_byte_name(self):
        s = self.client(name="abcdefghij")
        self.assertEqual(s.private_group, "#abcdefghij#d1")
        self.assert_works(s)

    # ---- segmentation and stalls ----

    def test_handshake_in_one_byte_writes_with_pauses(self):
        s = sp.connect(self.cluster.unix_path(1), "slowhs", timeout=10, write_chunk=1,
                       write_pause=0.02)
        self.addCleanup(s.close)
        self.assertEqual(s.private_group, "#slowhs#d1")
        self.assert_works(s)

    def test_handshake_in_one_byte_writes_over_tcp(self):
        s = sp.connect(self.cluster.tcp(1), "slowtcp", timeout=10, write_chunk=1, write_pause=0.02)
        self.addCleanup(s.close)
        self.assert_works(s)

    def test_silent_client_does_not_block_others(self):
        stalled = self.raw()  # connected, sends nothing
        s = self.client(name="notblock1", timeout=3)
        self.assert_works(s)
        self.assert_open(stalled)  # the daemon served us while still waiting for it

    def test_half_sent_connect_message_does_not_block_others(self):
        stalled = self.raw()
        stalled.sendall(bytes.fromhex("05 00 01"))
        s = self.client(name="notblock2", timeout=3)
        self.assert_works(s)
        self.assert_open(stalled)

    def test_client_stalled_before_auth_choice_does_not_block_others(self):
        stalled = self.raw()
        stalled.sendall(sp.connect_message("stalled"))
        self.assertEqual(self.read(stalled, len(NULL_LIST)), NULL_LIST)
        s = self.client(name="notblock3", timeout=3)
        self.assert_works(s)
        self.assert_open(stalled)

    def test_stalled_client_finishes_later(self):
        sock = self.raw()
        sock.sendall(sp.connect_message("later")[:3])
        other = self.client(name="meanwhile", timeout=3)
        sock.sendall(sp.connect_message("later")[3:])
        self.assertEqual(self.read(sock, len(NULL_LIST)), NULL_LIST)
        sock.sendall(sp.auth_choice())
        accept = bytes([1, 5, 0, 1, 9]) + b"#later#d1"
        self.assertEqual(self.read(sock, len(accept)), accept)
        self.assert_works(sp.Session(sock, "#later#d1", False, (5, 0, 1), ["NULL"]))
        self.assert_works(other)

    # ---- endpoints ----

    def test_tcp_endpoint(self):
        t = sp.connect(self.cluster.tcp(1), "viatcp")
        self.addCleanup(t.close)
        self.assertEqual(t.private_group, "#viatcp#d1")
        self.assert_works(t)

    def test_tcp_and_unix_clients_share_a_group(self):
        t = sp.connect(self.cluster.tcp(1), "tmember")
        self.addCleanup(t.close)
        u = self.client(name="umember")
        g = random_name("g")
        t.join(g)
        self.assertEqual(t.receive(5).groups, ["#tmember#d1"])
        u.join(g)
        for s in (t, u):
            m = s.receive(5)
            self.assertEqual((m.cause(), m.groups), ("JOIN", ["#tmember#d1", "#umember#d1"]))
        u.multicast(sp.SAFE_MESS, g, b"over unix")
        for s in (t, u):
            self.assertEqual(s.receive(5).data, b"over unix")

    def test_a_client_gone_during_its_handshake_frees_its_name_and_slot(self):
        """Regression: the auth list written to a client that had already closed failed, and
        the session was dropped without telling the daemon: its name stayed taken and its
        slot counted against the quota for ever."""
        for _ in range(5):
            sock = self.raw()
            sock.sendall(sp.connect_message("ghost"))
            sock.close()
        s = self.connect_when_free("ghost")
        self.assert_works(s)

    def connect_when_free(self, name, timeout=5.0) -> sp.Session:
        """Connects as `name`, polling while the daemon still holds it for a session that is
        going away (it learns of closes asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = sp.connect(self.cluster.unix_path(1), name)
                self.addCleanup(s.close)
                return s
            except sp.Rejected as e:
                if e.code != sp.REJECT_NOT_UNIQUE or time.monotonic() > deadline:
                    raise
                time.sleep(cluster.POLL_S)

    def test_name_is_free_again_after_disconnect(self):
        s = self.client(name="reuse")
        s.disconnect()
        # Upstream may refuse for a moment until the disconnect is processed (§11.11).
        self.assert_works(self.connect_when_free("reuse"))


class SessionLimits(cluster.ClusterTestCase):
    """A daemon of its own: these tests fill it with sessions."""

    daemons = 1

    def setUp(self):
        super().setUp()
        # Registered first, so it runs last: the next test starts once the daemon has closed
        # every session of this one (each holds a descriptor).
        pid = self.cluster.procs[1].pid
        baseline = len(os.listdir(f"/proc/{pid}/fd"))
        self.addCleanup(self.wait_descriptors, pid, baseline)
        # 997 sessions need more descriptors than the usual soft limit of 1024 leaves us.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4096:
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
            want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    @staticmethod
    def wait_descriptors(pid, most, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(os.listdir(f"/proc/{pid}/fd")) > most:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chorusd still holds more than {most} descriptors")
            time.sleep(cluster.POLL_S)

    def open_sessions(self, n, **kw):
        out = []
        for _ in range(n):
            out.append(sp.connect(self.cluster.unix_path(1), random_name("q"), **kw))
            self.addCleanup(out[-1].close)
        return out

    def connect_when_possible(self, timeout=5.0) -> sp.Session:
        """Connects, polling while the daemon still refuses (it learns of closes asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = sp.connect(self.cluster.unix_path(1), random_name("n"), timeout=1.0)
                self.addCleanup(s.close)
                return s
            except (sp.Rejected, sp.ConnectionClosed, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(cluster.POLL_S)

    def test_the_998th_session_gets_reject_quota(self):
        sessions = self.open_sessions(997)
        with self.assertRaises(sp.Rejected) as cm:
            sp.connect(self.cluster.unix_path(1), random_name("over"))
        self.assertEqual(cm.exception.code, sp.REJECT_QUOTA)
        self.assertIn("997 sessions already", self.cluster.log(1))
        Handshake.assert_works(self, sessions[0])
        sessions[-1].disconnect()
        Handshake.assert_works(self, self.connect_when_possible())

    def refused_after(self, endpoint, pause):
        """At the quota: a client that connects and writes its connect message only `pause`
        seconds later (a slow client, or one that lost the race with the daemon's accept) still
        reads REJECT_QUOTA, then the close."""
        self.open_sessions(997)
        sock = sp.open_socket(endpoint)
        self.addCleanup(sock.close)
        deadline = time.monotonic() + 5
        if pause:
            time.sleep(pause)  # the stimulus under test, not a wait
            sp._send_all(sock, sp.connect_message(random_name("late")), deadline)
        self.assertEqual(sp.recv_exact(sock, 1, deadline), b"\xfd")
        with self.assertRaises(sp.ConnectionClosed):
            sp.recv_exact(sock, 1, deadline)

    def test_reject_quota_reaches_a_client_that_writes_after_the_accept(self):
        """Regression: the daemon wrote the reject at accept and closed at once; the client's
        connect message then failed with EPIPE before it read the byte (CONNECTION_CLOSED)."""
        self.refused_after(self.cluster.unix_path(1), 0.2)

    def test_a_silent_client_over_the_quota_is_refused_in_bounded_time(self):
        """Waiting for the connect message does not keep a silent client's descriptor."""
        self.refused_after(self.cluster.unix_path(1), 0)

    def test_out_of_descriptors_clients_wait_and_nothing_spins(self):
        c = self.cluster
        pid = c.procs[1].pid
        used = len(os.listdir(f"/proc/{pid}/fd"))
        limit = used + 10
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
        self.addCleanup(resource.prlimit, pid, resource.RLIMIT_NOFILE, (4096, hard))
        # About ten sessions fit (the count above may include a connection the daemon was still
        # closing); the first one that does not waits in the listen queue: no answer, no crash.
        sessions = []
        for _ in range(20):
            try:
                s = sp.connect(c.unix_path(1), random_name("q"), timeout=1.0)
            except TimeoutError:
                break
            self.addCleanup(s.close)
            sessions.append(s)
        else:
            self.fail(f"20 sessions fit under a limit of {limit} descriptors")
        self.assertGreaterEqual(len(sessions), 8)
        with open(f"/proc/{pid}/stat") as f:
            before = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(0.5)  # the stimulus: half a second out of descriptors
        with open(f"/proc/{pid}/stat") as f:
            after = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        # A daemon retrying accept() in a loop would burn the whole half second.
        self.assertLess((after - before) / os.sysconf("SC_CLK_TCK"), 0.2)
        self.assertEqual(c.log(1).count("new clients wait until some close"), 1, c.log_tail(1))
        Handshake.assert_works(self, sessions[0])
        for s in sessions[5:]:
            s.disconnect()
        Handshake.assert_works(self, self.connect_when_possible())
        self.assertIn("accepting clients again", c.log(1))


if __name__ == "__main__":
    unittest.main()

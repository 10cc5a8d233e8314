"""test_shared_memory.py — shared-memory sessions (docs/protocol.md "Shared-memory sessions",
src/wire/session_ring.hpp) from the outside: the SHM method is offered on the Unix socket only,
the memory file comes with the accept and is sealed, requests written into the ring are ordered
like socket requests (across the ring's wrap, and when the client closes right after writing),
and a client that scribbles over the ring or breaks the rules loses its own session only.

Every test runs twice: against a daemon that sleeps between events (the client rings the
doorbell) and against one that busy-polls (it reads the ring every round).

Run alone: python3 -m unittest -v tests/integration/test_shared_memory.py
"""

import mmap
import os
import select
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402

# The ring's header (wire/session_ring.hpp): offsets of its fields, and where the data starts.
MAGIC, VERSION, CAPACITY = 0, 4, 8
TAIL, BELL = 64, 76
HEAD, POLLING = 128, 136
DATA = 192
RING_MAGIC = 0x52534843


def shm_choice() -> bytes:
    return b"NULL".ljust(30, b"\0") + b"SHM".ljust(30, b"\0") + bytes(30)


def recv_with_fds(sock: socket.socket, deadline: float) -> tuple[bytes, list[int]]:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no accept")
        select.select([sock], [], [], left)
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1, 4)
        except BlockingIOError:
            continue
        if not data:
            raise sp.ConnectionClosed("EOF in the accept")
        return data, fds


class ShmSession(sp.Session):
    """A session whose requests go through the daemon's ring. It rings the doorbell after every
    publish (always allowed: the daemon discards doorbell bytes), since Python cannot fence."""

    def __init__(self, sock, private_group, memory: mmap.mmap, fd: int):
        super().__init__(sock, private_group, False, (5, 0, 1), ["NULL", "SHM"])
        self.memory = memory
        self.fd = fd
        self.words = memoryview(memory).cast("Q")
        self.words32 = memoryview(memory).cast("I")
        self.capacity = self.u64(CAPACITY)
        self.tail = self.u64(TAIL)

    # Whole-word loads and stores through a typed view (one 8-byte move each). Not
    # struct.pack_into: it zeroes the field before writing it, and the daemon, which reads the
    # tail at any moment, rightly ends a session whose tail goes backwards.
    def u64(self, at: int) -> int:
        return self.words[at // 8]

    def set_u64(self, at: int, v: int) -> None:
        self.words[at // 8] = v

    def ring(self) -> None:
        self.words32[BELL // 4] = 1
        try:
            self.sock.send(b"\0")
        except BlockingIOError:
            pass  # the socket is full of doorbells already: the daemon will look at the ring
        except (BrokenPipeError, ConnectionResetError):
            # A polling daemon reads the ring without waiting for the bell: it may have ended
            # the session already (a corrupt ring, a malformed request). Whoever waits for the
            # session or its answers sees that; the bell has nobody to wake.
            pass

    def send_raw(self, data: bytes, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while data:
            room = self.capacity - (self.tail - self.u64(HEAD))
            if room == 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("the daemon stopped taking from the ring")
                time.sleep(0.001)  # waiting for the daemon to take bytes: a poll, not a bound
                continue
            n = min(room, len(data))
            at = self.tail % self.capacity
            first = min(n, self.capacity - at)
            self.memory[DATA + at:DATA + at + first] = data[:first]
            self.memory[DATA:DATA + n - first] = data[first:n]
            self.tail += n
            data = data[n:]
            self.set_u64(TAIL, self.tail)
            self.ring()

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.words.release()
            self.words32.release()
            self.memory.close()
            os.close(self.fd)


class SharedMemory(cluster.ClusterTestCase):
    daemons = 1

    def shm_connect(self, name: str | None = None, endpoint=None) -> ShmSession:
        name = name or random_name("m")
        deadline = time.monotonic() + 5
        sock = sp.open_socket(endpoint or self.cluster.unix_path(1))
        try:
            sock.sendall(sp.connect_message(name))
            n = sp.recv_exact(sock, 1, deadline)[0]
            methods = sp.recv_exact(sock, n, deadline).decode().split()
            self.assertEqual(methods, ["NULL", "SHM"])
            sock.sendall(shm_choice())
            first, fds = recv_with_fds(sock, deadline)
            self.assertEqual(first, b"\x01")
            self.assertEqual(len(fds), 1, "the accept carries one descriptor")
            major, minor, patch, plen = sp.recv_exact(sock, 4, deadline)
            private = sp.recv_exact(sock, plen, deadline).decode()
        except BaseException:
            sock.close()
            raise
        size = os.fstat(fds[0]).st_size
        memory = mmap.mmap(fds[0], size)
        s = ShmSession(sock, private, memory, fds[0])
        self.addCleanup(s.close)
        self.assertEqual(struct.unpack_from("<II", memory, 0), (RING_MAGIC, 1))
        self.assertEqual(size, DATA + s.capacity)
        return s

    def listening(self) -> tuple[sp.Session, str]:
        """A plain (socket) member of a new group, its own join already received."""
        listener = self.client()
        g = random_name("g")
        listener.join(g)
        listener.receive(5)
        return listener, g

    def assert_works(self, s: sp.Session) -> None:
        g = random_name("g")
        s.join(g)
        m = s.receive(5)
        self.assertTrue(m.is_reg_memb(), m)
        s.multicast(sp.SAFE_MESS, g, b"ping")
        m = s.receive(5)
        self.assertEqual((m.service, m.sender, m.data), (sp.SAFE_MESS, s.private_group, b"ping"))

    def test_offered_on_the_unix_socket_only(self):
        tcp = sp.connect(self.cluster.tcp(1), random_name("t"))
        self.addCleanup(tcp.close)
        self.assertEqual(tcp.auth_methods, ["NULL"])
        unix = self.client()
        self.assertEqual(unix.auth_methods, ["NULL", "SHM"])
        self.assert_works(unix)  # a client that only chose NULL is served over the socket

    def test_shm_over_tcp_is_refused(self):
        sock = sp.open_socket(self.cluster.tcp(1))
        self.addCleanup(sock.close)
        deadline = time.monotonic() + 5
        sock.sendall(sp.connect_message(random_name("t")))
        self.assertEqual(sp.recv_exact(sock, 6, deadline), bytes([5]) + b"NULL ")
        sock.sendall(shm_choice())
        self.assertEqual(sp.recv_exact(sock, 1, deadline), b"\xf7")  # REJECT_AUTH

    def test_requests_through_the_ring_are_delivered_in_order(self):
        s = self.shm_connect()
        self.assert_works(s)
        listener, g = self.listening()
        s.join(g)
        listener.receive(5)  # s joined
        s.receive(5)
        for i in range(20):
            s.multicast(sp.AGREED_MESS, g, b"m%d" % i)
        for i in range(20):
            m = listener.receive(5)
            self.assertEqual((m.sender, m.data), (s.private_group, b"m%d" % i))

    def test_the_status_shows_which_sessions_use_shared_memory(self):
        s = self.shm_connect()
        plain = self.client()
        self.assert_works(s)
        listed = {e["private_group"]: e["shared_memory"]
                  for e in self.cluster.status(1)["sessions"]["list"]}
        self.assertEqual((listed[s.private_group], listed[plain.private_group]), (True, False))

    def test_the_memory_file_is_sealed(self):
        s = self.shm_connect()
        with self.assertRaises(PermissionError):
            os.ftruncate(s.fd, 4096)  # shrinking it would crash the daemon's mapping
        with self.assertRaises(PermissionError):
            os.ftruncate(s.fd, 64 << 20)
        self.assert_works(s)

    def test_many_messages_wrap_the_ring(self):
        s = self.shm_connect()
        listener, g = self.listening()
        body = bytes(range(256)) * 4
        count = 3 * s.capacity // len(body)
        for i in range(count):
            s.multicast(sp.FIFO_MESS, g, struct.pack("<I", i) + body)
            if select.select([listener.sock], [], [], 0)[0]:
                listener._read_available()  # keep the listener's socket from filling
        for i in range(count):
            m = listener.receive(10)
            self.assertEqual(m.data, struct.pack("<I", i) + body)
        self.assertGreater(s.tail, 2 * s.capacity)

    def test_a_large_message_through_a_full_ring(self):
        s = self.shm_connect()
        listener, g = self.listening()
        big = os.urandom(144000 - sp.NAME_BYTES)
        for _ in range(3):  # 3 × 144 KB > the 256 KiB ring: the writer waits for room
            s.multicast(sp.SAFE_MESS, g, big)
        for _ in range(3):
            self.assertEqual(listener.receive(10).data, big)

    def test_published_then_closed_is_still_delivered(self):
        s = self.shm_connect()
        listener, g = self.listening()
        s.join(g)
        listener.receive(5)
        for i in range(50):
            s.multicast(sp.AGREED_MESS, g, b"last%d" % i)
        s.sock.close()  # no goodbye: what it published is still taken
        for i in range(50):
            self.assertEqual(listener.receive(5).data, b"last%d" % i)
        m = listener.receive(5)
        self.assertTrue(m.is_membership(), m)

    def test_a_failed_write_to_the_client_loses_none_of_its_requests(self):
        """Regression: a client that closed right after publishing lost what the daemon had
        not yet taken from its ring when a message to it failed to write (EPIPE) before the
        socket's EOF was read: the failed write ended the session at once (under load, the
        listener got the disconnect in place of the last messages). Here the write fails
        first for sure: the client stops reading (its socket's read half shut), a message to
        it fails, and only then does it publish and close."""
        s = self.shm_connect()
        listener, g = self.listening()
        s.join(g)
        listener.receive(5)
        s.receive(5)  # its own join: nothing more is being written to it
        s.sock.shutdown(socket.SHUT_RD)  # the daemon's writes to it fail with EPIPE now
        listener.multicast(sp.AGREED_MESS, g, b"wake")  # ... this one, to s as well
        self.assertEqual(listener.receive(5).data, b"wake")
        for i in range(10):
            s.multicast(sp.AGREED_MESS, g, b"kept%d" % i)
        s.sock.close()
        for i in range(10):
            self.assertEqual(listener.receive(5).data, b"kept%d" % i)
        m = listener.receive(5)
        self.assertTrue(m.is_membership(), m)

    def test_socket_bytes_are_only_doorbells(self):
        s = self.shm_connect()
        s.sock.send(os.urandom(200))  # not requests: ignored
        self.assert_works(s)

    def test_a_corrupt_tail_ends_that_session_only(self):
        other = self.shm_connect()
        s = self.shm_connect()
        s.set_u64(TAIL, s.u64(HEAD) + s.capacity + 4096)
        s.ring()
        s.wait_closed(5)
        # Regression: a polling daemon sees the ring before the bell and may close first; the
        # bell then meets a closed socket, which is no error of the session's.
        s.ring()
        self.assertIn("corrupted its shared-memory ring", self.cluster.log(1))
        self.assert_works(other)

    def test_a_malformed_request_in_the_ring_ends_that_session_only(self):
        other = self.shm_connect()
        s = self.shm_connect()
        s.send_raw(bytes(48))  # a header with no service and a wrong sender
        s.wait_closed(5)
        self.assert_works(other)

    def test_requests_pipelined_on_the_socket_are_refused(self):
        sock = sp.open_socket(self.cluster.unix_path(1))
        self.addCleanup(sock.close)
        deadline = time.monotonic() + 5
        name = random_name("p")
        sock.sendall(sp.connect_message(name))
        sp.recv_exact(sock, 10, deadline)
        frame = sp.encode_message(sp.JOIN_MESS, f"#{name}#d1", ["g"], b"")
        sock.sendall(shm_choice() + frame)  # a shared-memory session sends requests in the ring
        self.assertEqual(sp.recv_exact(sock, 1, deadline), b"\xf7")


class SharedMemoryPolling(SharedMemory):
    """The same against a busy-polling daemon: it reads the ring without doorbells."""
    options = ("BusyPoll = 1000",)


if __name__ == "__main__":
    unittest.main()

"""spread_client_selftest.py — checks spread_client.py against the byte examples of the spec
(shared/specs/spread-client-protocol.md §1.6, §2.3, §4.5, §7, §10) without any daemon: what the
encoder writes must equal the spec's bytes, and the spec's daemon bytes must decode to the values
the spec states. The handshake and framing run over real sockets against a scripted peer.

Run: python3 -m unittest -v spread_client_selftest   (from tests/integration)
"""

import os
import socket
import struct
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import spread_client as sp  # noqa: E402


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def name32(s: str) -> bytes:
    return s.encode().ljust(32, b"\0")


PG = "#a#localhost"

# §4.5: "a" joins empty group "g" on daemon "localhost", LE daemon (136 bytes). The gid words
# are not given by the spec; 0x11223344, 1700000000, 1 stand in for (proc_id, time, 1).
JOIN_G = (h("80 11 00 80") + name32("g") + h("01 00 00 00") + h("80 00 00 80") + h("38 00 00 00")
          + name32(PG) + struct.pack("<iii", 0x11223344, 1700000000, 1)
          + h("01 00 00 00") + h("00 00 00 00") + h("01 00 00 00") + name32(PG))
SELF_LEAVE_G = (h("80 02 00 80") + name32("g") + h("00 00 00 00") + h("80 00 00 80")
                + h("00 00 00 00"))


class ScriptedDaemon(threading.Thread):
    """Accepts one connection on a Unix socket and plays a script of ('expect', bytes) and
    ('send', bytes) steps, recording any mismatch."""

    def __init__(self, path: str, script):
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.script = script
        self.error = None

    def run(self):
        with self.listener:
            conn, _ = self.listener.accept()
        conn.settimeout(5)
        with conn:
            for action, data in self.script:
                if action == "send":
                    conn.sendall(data)
                    continue
                got = b""
                while len(got) < len(data):
                    chunk = conn.recv(len(data) - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != data:
                    self.error = f"expected {data.hex()} got {got.hex()}"
                    return


class HandshakeBytes(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "4803")

    def tearDown(self):
        self.dir.cleanup()

    def play(self, script):
        d = ScriptedDaemon(self.path, script)
        d.start()
        return d

    def test_connect_message_c_client_a(self):  # §1.6
        self.assertEqual(sp.connect_message("a"), h("05 00 01 01 01 61"))

    def test_connect_message_java_bob(self):  # §1.6 Java User -u bob
        self.assertEqual(sp.connect_message("bob", version=(4, 4, 0)), h("04 04 00 01 03 62 6F 62"))

    def test_flags(self):  # §1.3 step 1
        self.assertEqual(sp.connect_message("a", membership=False)[3], 0x00)
        self.assertEqual(sp.connect_message("a", priority=True)[3], 0x11)
        self.assertEqual(sp.connect_message("abcdefghijkl")[4:], b"\x0aabcdefghij")

    def test_auth_choice(self):  # §1.6
        self.assertEqual(sp.auth_choice(), h("4E 55 4C 4C") + bytes(86))

    def test_full_handshake_of_section_1_6(self):
        d = self.play([("expect", h("05 00 01 01 01 61")),
                       ("send", h("05 4E 55 4C 4C 20")),
                       ("expect", h("4E 55 4C 4C") + bytes(86)),
                       # upstream writes the accept with several send() calls
                       ("send", h("01")), ("send", h("05 00 01")),
                       ("send", h("0C 23 61 23 6C 6F 63 61 6C 68 6F 73 74"))])
        s = sp.connect(self.path, "a", timeout=5)
        d.join(5)
        self.assertIsNone(d.error)
        self.assertEqual(s.private_group, PG)
        self.assertEqual(s.daemon_version, (5, 0, 1))
        self.assertEqual(s.auth_methods, ["NULL"])
        s.close()

    def test_reject_in_step_2_position(self):  # §1.4: 0xFA = -6
        self.play([("expect", h("05 00 01 01 01 61")), ("send", h("FA"))])
        with self.assertRaises(sp.Rejected) as cm:
            sp.connect(self.path, "a", timeout=5)
        self.assertEqual((cm.exception.code, cm.exception.step), (-6, 2))

    def test_reject_in_step_5_position(self):  # §1.4: 0xF7 = -9
        self.play([("expect", h("05 00 01 01 01 61")), ("send", h("05 4E 55 4C 4C 20")),
                   ("expect", h("58 58 58 58") + bytes(86)), ("send", h("F7"))])
        with self.assertRaises(sp.Rejected) as cm:
            sp.connect(self.path, "a", timeout=5, auth_method="XXXX")
        self.assertEqual((cm.exception.code, cm.exception.step), (-9, 5))

    def test_eof_during_handshake(self):
        self.play([("expect", h("05 00 01 01 01 61"))])
        with self.assertRaises(sp.ConnectionClosed):
            sp.connect(self.path, "a", timeout=5)


class FramingBytes(unittest.TestCase):
    """Client requests written through a Session, read back raw from the other end."""

    def setUp(self):
        self.mine, self.peer = socket.socketpair()
        self.mine.setblocking(False)
        self.peer.settimeout(5)
        self.s = sp.Session(self.mine, PG, False, (5, 0, 1), ["NULL"])

    def tearDown(self):
        self.s.close()
        self.peer.close()

    def read(self, n):
        got = b""
        while len(got) < n:
            got += self.peer.recv(n - len(got))
        return got

    def test_safe_hello_of_section_2_3(self):
        want = (h("A0 00 00 80") + name32(PG) + h("01 00 00 00") + h("80 01 00 80")
                + h("06 00 00 00") + name32("g") + h("68 65 6C 6C 6F 0A"))
        self.assertEqual(len(want), 86)
        self.s.multicast(sp.SAFE_MESS, "g", b"hello\n", mess_type=1)
        self.assertEqual(self.read(86), want)

    def test_join_of_section_2_3(self):
        want = (h("80 00 01 80") + name32(PG) + h("01 00 00 00") + h("80 00 00 80")
                + h("00 00 00 00") + name32("g"))
        self.s.join("g")
        self.assertEqual(self.read(80), want)

    def test_disconnect_sends_kill_to_own_private_group(self):  # §2.3
        self.s.disconnect()
        want = (h("80 00 04 80") + name32(PG) + h("01 00 00 00") + h("80 00 00 80")
                + h("00 00 00 00") + name32(PG))
        self.assertEqual(self.read(80), want)
        self.assertEqual(self.peer.recv(1), b"")

    def test_java_style_big_endian(self):  # §10: BE, no marker in type or hint
        msg = sp.encode_message(sp.SAFE_MESS, "#bob#x", ["g"], b"hi", mess_type=1, big_endian=True)
        self.assertEqual(msg[0:4], h("00 00 00 20"))
        self.assertEqual(msg[36:48], h("00 00 00 01") + h("00 00 01 00") + h("00 00 00 02"))

    def test_flush_mess_type_hints(self):  # §7: -32768 -> 0x00800000, -32767 -> 0x00800100
        self.assertEqual(sp.encode_hint(-32768), struct.pack("<I", 0x00800000 | sp.ENDIAN_TYPE))
        self.assertEqual(sp.encode_hint(-32767, big_endian=True), struct.pack(">I", 0x00800100))


class DecodeBytes(unittest.TestCase):
    """Daemon messages from the spec, fed through a Session (byte by byte where it matters)."""

    def setUp(self):
        self.mine, self.peer = socket.socketpair()
        self.mine.setblocking(False)
        self.s = sp.Session(self.mine, PG, False, (5, 0, 1), ["NULL"])

    def tearDown(self):
        self.s.close()
        self.peer.close()

    def test_join_membership_of_section_4_5(self):
        self.assertEqual(len(JOIN_G), 136)
        self.peer.sendall(JOIN_G)
        m = self.s.receive(2)
        self.assertEqual(m.type, sp.REG_MEMB_MESS | sp.CAUSED_BY_JOIN)
        self.assertTrue(m.is_membership() and m.is_reg_memb())
        self.assertFalse(m.is_regular() or m.is_transition() or m.is_self_leave())
        self.assertEqual(m.cause(), "JOIN")
        self.assertEqual(m.sender, "g")
        self.assertEqual(m.groups, [PG])
        self.assertEqual(m.group_id, (0x11223344, 1700000000, 1))
        self.assertEqual(m.vs_sets, [[PG]])
        self.assertEqual(m.local_vs_set, 0)
        self.assertEqual(m.changed_member, PG)
        self.assertEqual(m.mess_type, 0)  # index of the own private group (§4.6)
        self.assertFalse(m.endian_mismatch)

    def test_join_membership_in_pieces(self):
        for i in range(len(JOIN_G) - 1):
            self.peer.sendall(JOIN_G[i:i + 1])
            self.s._read_available()
            self.assertFalse(self.s.pending())
        self.peer.sendall(JOIN_G[-1:])
        self.assertEqual(self.s.receive(2).vs_sets, [[PG]])

    def test_join_membership_from_big_endian_daemon(self):  # §2.2, §4.6: ints follow the header
        be = (h("00 00 11 00") + name32("g") + h("00 00 00 01") + h("00 00 00 00")
              + h("00 00 00 38")
              + name32(PG) + struct.pack(">iii", 0x11223344, 1700000000, 1)
              + h("00 00 00 01") + h("00 00 00 00") + h("00 00 00 01") + name32(PG))
        m = sp.decode_message(be, PG)
        self.assertEqual((m.type, m.group_id, m.vs_sets, m.changed_member, m.little_endian),
                         (0x1100, (0x11223344, 1700000000, 1), [[PG]], PG, False))

    def test_self_leave_of_section_4_5(self):
        self.peer.sendall(SELF_LEAVE_G)
        m = self.s.receive(2)
        self.assertTrue(m.is_self_leave())
        self.assertFalse(m.is_reg_memb())
        self.assertEqual((m.type, m.sender, m.groups, m.data), (sp.CAUSED_BY_LEAVE, "g", [], b""))

    def test_regular_message_hint_rules(self):  # §2.2, §2.5
        le = sp.encode_message(sp.SAFE_MESS, PG, ["g"], b"hello\n", mess_type=1)
        m = sp.decode_message(le)
        self.assertEqual((m.type, m.service, m.sender, m.groups, m.mess_type, m.endian_mismatch,
                          m.data), (sp.SAFE_MESS, sp.SAFE_MESS, PG, ["g"], 1, False, b"hello\n"))
        # A LE daemon forwarding a BE (Java) sender's hint 00 00 01 00 verbatim.
        fwd = le[:40] + h("00 00 01 00") + le[44:]
        m = sp.decode_message(fwd)
        self.assertEqual((m.mess_type, m.endian_mismatch), (1, True))
        m = sp.decode_message(le[:40] + sp.encode_hint(-32768, big_endian=True) + le[44:])
        self.assertEqual((m.mess_type, m.endian_mismatch), (-32768, True))

    def test_reject_message_of_section_2_6(self):
        msg = (h("80 00 40 80") + name32(PG) + h("02 00 00 00") + h("80 00 00 80")
               + h("00 00 00 00")
               + struct.pack("<I", sp.CAUSED_BY_JOIN | sp.ENDIAN_TYPE) + name32("g") + name32(PG))
        self.peer.sendall(msg)
        m = self.s.receive(2)
        self.assertEqual((m.type, m.groups), (sp.REJECT_MESS | sp.CAUSED_BY_JOIN, ["g", PG]))
        self.assertTrue(m.is_reject())
        self.assertFalse(m.is_membership())

    def test_name_without_nul_is_a_protocol_error(self):  # §11.5
        with self.assertRaises(sp.ProtocolError):
            sp.decode_message(JOIN_G[:4] + b"g" * 32 + JOIN_G[36:])

    def test_eof_and_timeout(self):
        with self.assertRaises(TimeoutError):
            self.s.receive(0.05)
        self.peer.sendall(SELF_LEAVE_G[:20])
        self.peer.close()
        with self.assertRaises(sp.ConnectionClosed):
            self.s.receive(2)


if __name__ == "__main__":
    unittest.main()

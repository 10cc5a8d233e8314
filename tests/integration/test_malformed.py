"""test_malformed.py — bad client input to one chorusd (shared/specs/spread-client-protocol.md
§2.4, §5.4, §5.5, §2.5 flow control): the bad session is closed without a reply, the members of
its groups see CAUSED_BY_DISCONNECT, and the daemon keeps serving everyone else. Also the edges
that are NOT malformed: a big-endian header and the largest legal messages. And a slow reader is
cut off without slowing the others.

Run alone: python3 -m unittest -v tests/integration/test_malformed.py
"""

import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402
from test_single import GroupTestCase  # noqa: E402

CLOSE_TIMEOUT_S = 2.0  # the bad session must see EOF this soon


def own_name(s: sp.Session) -> str:
    """The session name inside "#name#daemon"."""
    return s.private_group.split("#")[1]


class Malformed(GroupTestCase):

    # ---- the scenario every bad input goes through ----

    def check_bad_input(self, make_bad, in_group=True, victim_kw=None, shutdown=False):
        """A watcher w and the victim v are in a fresh group g; v sends make_bad(v) (bytes).
        v must be closed, w must see v's DISCONNECT, and a fresh client must still work."""
        g = random_name("g")
        w = self.client(name=random_name("w"))
        v = self.client(name=random_name("v"), **(victim_kw or {}))
        self.join(g, w, [w])
        if in_group:
            self.join(g, v, [w, v])
        try:
            v.send_raw(make_bad(v))
            if shutdown:
                v.sock.shutdown(socket.SHUT_WR)
        except (sp.ConnectionClosed, TimeoutError):
            pass  # the daemon may close (or stop reading) before it has read everything
        v.wait_closed(CLOSE_TIMEOUT_S)
        if in_group:
            self.expect_view(w, g, "DISCONNECT", [w.private_group], v.private_group)
        self.assert_daemon_serves(g, [w])

    def assert_daemon_serves(self, g: str, members: list[sp.Session]):
        """The daemon is up, the members of g are still connected, and a new client can join g
        and talk to them."""
        self.assertTrue(self.cluster.alive(1), "chorusd died")
        for m in members:
            self.assert_nothing_pending(m)
        f = self.client(name=random_name("f"))
        self.join(g, f, members + [f])
        f.multicast(sp.SAFE_MESS, g, b"still working", mess_type=5)
        for r in members + [f]:
            self.expect_data(r, sp.SAFE_MESS, f, [g], b"still working", 5)

    @staticmethod
    def safe(v: sp.Session, **kw) -> bytes:
        """A SAFE message from v to its group-less test target, with overrides."""
        args = dict(type_=sp.SAFE_MESS, sender=v.private_group, groups=["target"], data=b"x")
        args.update(kw)
        return sp.encode_message(**args)

    # ---- framing ----

    def test_truncated_header_then_close(self):
        self.check_bad_input(lambda v: self.safe(v)[:20], shutdown=True)

    def test_truncated_body_then_close(self):
        self.check_bad_input(lambda v: self.safe(v, data=bytes(100))[:48 + 32 + 10], shutdown=True)

    def test_101_groups(self):
        self.check_bad_input(lambda v: self.safe(v, groups=[f"g{k}" for k in range(101)]))

    def test_negative_num_groups(self):
        self.check_bad_input(lambda v: self.safe(v, num_groups=-1))

    def test_negative_data_len(self):
        self.check_bad_input(lambda v: self.safe(v, data=b"", data_len=-1))

    def test_body_over_144000_bytes(self):
        # 1 group + 143969 bytes: one byte over data_len + 32 * num_groups <= 144000.
        self.check_bad_input(lambda v: self.safe(v, data=bytes(144000 - 32 + 1)))

    def test_body_over_144000_bytes_with_100_groups(self):
        groups = [f"g{k}" for k in range(100)]
        self.check_bad_input(lambda v: self.safe(v, groups=groups, data=bytes(144000 - 3200 + 1)))

    # ---- type ----

    def test_two_service_bits(self):
        self.check_bad_input(lambda v: self.safe(v, type_=sp.SAFE_MESS | sp.AGREED_MESS))

    def test_service_and_join_bits(self):
        self.check_bad_input(lambda v: self.safe(v, type_=sp.SAFE_MESS | sp.JOIN_MESS))

    def test_type_zero(self):
        self.check_bad_input(lambda v: self.safe(v, type_=0))

    # ---- sender, names, hint ----

    def test_sender_not_own_private_group(self):
        for sender in ("#someone#d1", "#{v}#d2", "{v}", "", "#{v}#d1#"):
            with self.subTest(sender=sender):
                self.check_bad_input(
                    lambda v, s=sender: self.safe(v, sender=s.format(v=own_name(v))))

    def test_sender_of_another_session(self):
        other = self.client(name=random_name("o"))
        self.check_bad_input(lambda v: self.safe(v, sender=other.private_group))
        self.assert_nothing_pending(other)

    def test_join_of_illegal_group_name(self):
        for name in ("#x", "", "a b", b"j" * 31 + b" ", "a\x7f"):
            with self.subTest(name=name):
                self.check_bad_input(
                    lambda v, n=name: sp.encode_message(sp.JOIN_MESS, v.private_group, [n]))

    def test_join_without_a_group(self):
        self.check_bad_input(lambda v: sp.encode_message(sp.JOIN_MESS, v.private_group, []))

    def test_hint_bits_outside_mask(self):
        for hint in (0x80000081, 0x81000080, 0x80000180 | 0x40000000):
            with self.subTest(hint=hex(hint)):
                self.check_bad_input(lambda v, h=hint: self.safe(v, hint=struct.pack("<I", h)))

    def test_bad_session_not_in_any_group(self):
        self.check_bad_input(lambda v: self.safe(v, type_=0), in_group=False)

    # ---- not malformed ----

    def test_big_endian_header_is_valid(self):
        w = self.client()
        j = self.client(big_endian=True)
        g = random_name("g")
        self.join(g, w, [w])
        self.join(g, j, [w, j])
        j.multicast(sp.AGREED_MESS, g, b"java", mess_type=7)
        for r in (w, j):
            m = self.expect_data(r, sp.AGREED_MESS, j, [g], b"java", 7)
            self.assertTrue(m.endian_mismatch)
        self.assert_nothing_pending(j)
        j.leave(g)
        self.assertTrue(j.receive(5).is_self_leave())
        self.expect_view(w, g, "LEAVE", [w.private_group], j.private_group)
        j.disconnect()

    def test_other_bits_in_a_service_word_are_tolerated_and_dropped(self):
        # Spread's library sends the caller's whole service word (DROP_RECV or DONT_BLOCK left
        # set, even membership or reject bits) and Spread's daemon carries on: so does chorusd,
        # and receivers see the service alone (SELF_DISCARD kept).
        w = self.client()
        v = self.client()
        g = random_name("g")
        self.join(g, w, [w])
        self.join(g, v, [w, v])
        extra = 0x01000000 | 0x10000000 | sp.REG_MEMB_MESS | sp.CAUSED_BY_JOIN | sp.REJECT_MESS
        v.send_raw(self.safe(v, type_=sp.AGREED_MESS | extra, groups=[g], data=b"odd bits"))
        for r in (w, v):
            self.expect_data(r, sp.AGREED_MESS, v, [g], b"odd bits")
        v.send_raw(self.safe(v, type_=sp.FIFO_MESS | sp.SELF_DISCARD | extra, groups=[g],
                             data=b"not to me"))
        self.expect_data(w, sp.FIFO_MESS | sp.SELF_DISCARD, v, [g], b"not to me")
        self.assert_daemon_serves(g, [w, v])

    def test_a_32_byte_name_without_nul_is_its_first_31_bytes(self):
        # Spread's Java client sends a name of 32 or more characters as 32 bytes with no NUL;
        # Spread's daemon accepts it. chorusd reads the first 31, the longest name there is.
        w = self.client()
        v = self.client()
        g = random_name("j").ljust(31, "j")
        self.join(g, w, [w])
        v.join(g.encode() + b"x")  # 32 bytes, no NUL: joins g
        names = sorted([w.private_group, v.private_group])
        for s in (w, v):
            self.expect_view(s, g, "JOIN", names, v.private_group)
        v.multicast(sp.SAFE_MESS, g.encode() + b"y", b"long name")
        for r in (w, v):
            self.expect_data(r, sp.SAFE_MESS, v, [g], b"long name")
        self.assert_daemon_serves(g, [w, v])

    def test_largest_message_one_group(self):
        self.check_largest([None], 144000 - 32)

    def test_largest_message_100_groups(self):
        self.check_largest([None] + [random_name("x", 31) for _ in range(99)], 144000 - 3200)

    def check_largest(self, groups, data_len):
        w, v = self.client(), self.client()
        g = random_name("g")
        groups = [g if x is None else x for x in groups]
        self.join(g, w, [w])
        self.join(g, v, [w, v])
        data = os.urandom(data_len)
        v.multicast(sp.SAFE_MESS, groups, data, mess_type=-5)
        for r in (w, v):
            self.expect_data(r, sp.SAFE_MESS, v, groups, data, -5)
        self.assert_nothing_pending(v)

    # ---- flow control ----

    def test_slow_reader_is_cut_off(self):
        """A member that never reads while 20000 x 1 KB messages flow is disconnected; the sender
        and a reading member get every message in order; the daemon stays up (§2.5, §11.8)."""
        s, r, z = (self.client(name=random_name(p)) for p in ("s", "r", "z"))
        g = random_name("g")
        self.join(g, s, [s])
        self.join(g, r, [s, r])
        z.join(g)  # z never reads from here on (its JOIN view stays unread)
        for x in (s, r):
            self.assertEqual(x.receive(5).changed_member, z.private_group)
        count = 20000
        # Sent in chunks of 500, each read back by s and r before the next: the members that
        # read are never further behind than MaxSessionMessages (1000) allows, whatever the
        # speed of this process relative to the daemon's.
        chunk = 500
        got = {s: [], r: []}

        def data_count(msgs):
            return sum(1 for m in msgs if m.is_regular())

        for start in range(0, count, chunk):
            stream = b"".join(sp.encode_message(sp.RELIABLE_MESS, s.private_group, [g],
                                                struct.pack("<I", k) + bytes(1020))
                              for k in range(start, start + chunk))
            part = sp.pump({s: stream}, [s, r],
                           lambda p: all(data_count(got[x]) + data_count(p[x]) >= start + chunk
                                         for x in (s, r)), timeout=60)
            for x in (s, r):
                got[x] += part[x]
        for x in (s, r):
            data = [m for m in got[x] if m.is_regular()]
            self.assertEqual([struct.unpack("<I", m.data[:4])[0] for m in data], list(range(count)))
            others = [m for m in got[x] if not m.is_regular()]
            if not others:  # the cut may be ordered after the last message
                m, skipped = x.receive_until(lambda m: True, timeout=10)
                others = [m]
            self.assertEqual(len(others), 1, others)
            self.assertEqual((others[0].cause(), others[0].changed_member, others[0].groups),
                             ("DISCONNECT", z.private_group,
                              sorted([s.private_group, r.private_group])))
        # z reads now: what it gets is a gap-free prefix of the stream, then EOF.
        before = z.wait_closed(60)
        seq = [struct.unpack("<I", m.data[:4])[0] for m in before if m.is_regular()]
        self.assertEqual(seq, list(range(len(seq))))
        self.assertLess(len(seq), count)
        self.assert_daemon_serves(g, [s, r])


if __name__ == "__main__":
    unittest.main()

"""test_single.py — groups and messages on one chorusd against the spec
(shared/specs/spread-client-protocol.md §2.3–§2.5, §4): membership notifications with exact member
lists and vs-sets, every service level, hint pass-through across byte orders, open groups,
SELF_DISCARD, multigroup and private-group sends, leave/disconnect, sessions without membership
messages, never-repeating group ids and FIFO order.

One daemon orders everything in one total order (§2.5), so "X did not receive m" is proven
without waiting: X sends a marker to its own private group after m was delivered elsewhere and the
marker must be the next thing X receives (`assert_nothing_pending`).

Run alone: python3 -m unittest -v tests/integration/test_single.py
"""

import os
import subprocess
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402


class GroupTestCase(cluster.ClusterTestCase):
    """Helpers shared by the single-daemon modules."""

    daemons = 1

    def assert_nothing_pending(self, s: sp.Session):
        """Nothing was delivered to s that is ordered before a marker it sends now."""
        token = os.urandom(8).hex().encode()
        s.multicast(sp.AGREED_MESS, s.private_group, token)
        m = s.receive(5)
        self.assertEqual((m.sender, m.data), (s.private_group, token),
                         f"{s.private_group} received {m!r} before its marker")

    def expect_view(self, s: sp.Session, group: str, cause: str, members: list[str],
                    changed: str) -> sp.Message:
        """The next message of s is the regular membership of `group` (§4.3)."""
        m = s.receive(5)
        self.assertTrue(m.is_reg_memb(), f"{s.private_group}: expected a {cause} view, got {m!r}")
        self.assertEqual(m.type, sp.REG_MEMB_MESS | getattr(sp, "CAUSED_BY_" + cause), m)
        self.assertEqual(m.sender, group)
        self.assertEqual(m.groups, members)
        self.assertEqual(m.vs_sets, [[changed]])
        self.assertEqual(m.local_vs_set, 0)
        self.assertEqual(m.changed_member, changed)
        self.assertEqual(len(m.data), 56)
        self.assertEqual(m.mess_type, members.index(s.private_group))
        return m

    def join(self, group: str, joiner: sp.Session, members: list[sp.Session],
             silent: tuple[sp.Session, ...] = ()) -> tuple:
        """joiner joins; `members` (with membership messages, joiner included) each get the JOIN
        view, which also lists the `silent` members (connected without membership messages).
        Returns the group id, checked equal at all of them."""
        joiner.join(group)
        names = sorted(s.private_group for s in [*members, *silent])
        views = [self.expect_view(s, group, "JOIN", names, joiner.private_group) for s in members]
        self.assertEqual(len({v.group_id for v in views}), 1, views)
        return views[0].group_id

    def expect_data(self, s: sp.Session, service: int, sender: sp.Session, groups: list[str],
                    data: bytes, mess_type: int = 0) -> sp.Message:
        m = s.receive(5)
        self.assertTrue(m.is_regular(), f"{s.private_group}: expected data, got {m!r}")
        self.assertEqual((m.type, m.service, m.sender, m.groups, m.mess_type, m.data),
                         (service, service & sp.REGULAR_MESS, sender.private_group, groups,
                          mess_type, data))
        return m


class SingleDaemon(GroupTestCase):

    def test_first_join(self):
        a = self.client()
        g = random_name("g")
        a.join(g)
        m = self.expect_view(a, g, "JOIN", [a.private_group], a.private_group)
        self.assertEqual(m.groups, [a.private_group])
        self.assertEqual(len(m.group_id), 3)
        self.assertFalse(m.is_regular() or m.is_transition() or m.is_self_leave())

    def test_second_join_lists_members_sorted(self):
        z = self.client(name=random_name("z"))
        a = self.client(name=random_name("a"))
        g = random_name("g")
        gid1 = self.join(g, z, [z])
        gid2 = self.join(g, a, [z, a])  # a sorts first although it joined last
        self.assertNotEqual(gid1, gid2)

    def test_many_members_sorted_bytewise(self):
        names = ["m" + random_name("", 5), "B" + random_name("", 5), "$" + random_name("", 5),
                 "b" + random_name("", 5), "~" + random_name("", 5)]
        g = random_name("g")
        joined = []
        for n in names:
            s = self.client(name=n)
            joined.append(s)
            self.join(g, s, joined)

    def test_every_service_level(self):
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        for k, (name, service) in enumerate(sp.SERVICES.items()):
            for sender in (a, b):
                with self.subTest(service=name, sender=sender.private_group):
                    data = f"{name} from {sender.private_group}".encode()
                    sender.multicast(service, g, data, mess_type=100 + k)
                    for r in (a, b):
                        m = self.expect_data(r, service, sender, [g], data, 100 + k)
                        self.assertFalse(m.endian_mismatch)
                        self.assertEqual(m.hint_raw, sp.encode_hint(100 + k))

    def test_payload_bytes_untouched(self):
        a = self.client()
        g = random_name("g")
        self.join(g, a, [a])
        for data in (b"", bytes(range(256)), b"\x80\x00\x00\x80" * 64, os.urandom(5000)):
            a.multicast(sp.SAFE_MESS, g, data)
            self.expect_data(a, sp.SAFE_MESS, a, [g], data)

    def test_mess_type_extremes(self):
        a = self.client()
        g = random_name("g")
        self.join(g, a, [a])
        for mt in (-32768, -32767, -1, 0, 1, 0x1234, 32767):
            a.multicast(sp.FIFO_MESS, g, b"x", mess_type=mt)
            self.expect_data(a, sp.FIFO_MESS, a, [g], b"x", mt)

    def test_hint_forwarded_verbatim_across_byte_orders(self):
        a = self.client()  # little-endian C-style
        j = self.client(big_endian=True)  # big-endian Java-style, no markers
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, j, [a, j])
        j.multicast(sp.SAFE_MESS, g, b"\x01\x02\x03\x04", mess_type=-2)
        for r in (a, j):
            m = self.expect_data(r, sp.SAFE_MESS, j, [g], b"\x01\x02\x03\x04", -2)
            self.assertTrue(m.endian_mismatch, m)  # the sender's order differs from this reader's
            self.assertEqual(m.hint_raw, bytes.fromhex("00 ff fe 00"))
        a.multicast(sp.AGREED_MESS, g, b"le", mess_type=0x1234)
        for r in (a, j):
            m = self.expect_data(r, sp.AGREED_MESS, a, [g], b"le", 0x1234)
            self.assertFalse(m.endian_mismatch, m)
            self.assertEqual(m.hint_raw, bytes.fromhex("80 34 12 80"))

    def test_subgroup_cast_bit_carried(self):  # §2.5, §7: SUBGROUP_CAST stays in `type`
        a, b = self.client(), self.client()
        a.multicast(sp.FIFO_MESS | sp.SUBGROUP_CAST, [b.private_group], b"sub", mess_type=-32766)
        self.expect_data(b, sp.FIFO_MESS | sp.SUBGROUP_CAST, a, [b.private_group], b"sub", -32766)

    def test_open_group_send_from_non_member(self):
        a, b, c = self.client(), self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        c.multicast(sp.RELIABLE_MESS, g, b"from outside", mess_type=3)
        for r in (a, b):
            self.expect_data(r, sp.RELIABLE_MESS, c, [g], b"from outside", 3)
        self.assert_nothing_pending(c)

    def test_self_discard(self):
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        b.multicast(sp.AGREED_MESS, g, b"not for me", self_discard=True)
        self.expect_data(a, sp.AGREED_MESS | sp.SELF_DISCARD, b, [g], b"not for me")
        self.assert_nothing_pending(b)
        self.assert_nothing_pending(a)

    def test_multigroup_delivered_once(self):
        a, b, c = self.client(), self.client(), self.client()
        g, h = random_name("g"), random_name("h")
        self.join(g, a, [a])
        self.join(h, a, [a])
        self.join(g, b, [a, b])
        c.multicast(sp.SAFE_MESS, [g, h], b"both")
        self.expect_data(a, sp.SAFE_MESS, c, [g, h], b"both")
        self.expect_data(b, sp.SAFE_MESS, c, [g, h], b"both")
        # A group plus the receiver's own private group: still one copy.
        c.multicast(sp.FIFO_MESS, [h, a.private_group], b"twice named")
        self.expect_data(a, sp.FIFO_MESS, c, [h, a.private_group], b"twice named")
        self.assert_nothing_pending(a)
        self.assert_nothing_pending(b)

    def test_private_group_send(self):
        a, b, c = self.client(), self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        c.multicast(sp.AGREED_MESS, b.private_group, b"just b", mess_type=9)
        self.expect_data(b, sp.AGREED_MESS, c, [b.private_group], b"just b", 9)
        self.assert_nothing_pending(a)

    def test_sends_to_nobody_are_dropped_silently(self):
        c = self.client()
        for target in (random_name("empty"), "#nobody#d1", "#nobody#d9"):
            with self.subTest(target=target):
                c.multicast(sp.SAFE_MESS, target, b"lost")
                self.assert_nothing_pending(c)  # and c is still connected

    def test_leave(self):
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        b.leave(g)
        m = b.receive(5)
        self.assertTrue(m.is_self_leave(), m)
        self.assertEqual((m.type, m.sender, m.groups, m.data, len(m.raw)),
                         (sp.CAUSED_BY_LEAVE, g, [], b"", 48))
        self.expect_view(a, g, "LEAVE", [a.private_group], b.private_group)
        a.multicast(sp.SAFE_MESS, g, b"after leave")
        self.expect_data(a, sp.SAFE_MESS, a, [g], b"after leave")
        self.assert_nothing_pending(b)

    def test_last_member_leaves(self):
        a = self.client()
        g = random_name("g")
        self.join(g, a, [a])
        a.leave(g)
        self.assertTrue(a.receive(5).is_self_leave())
        self.assert_nothing_pending(a)

    def test_redundant_join_and_leave_are_ignored(self):  # §2.4
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        b.join(g)  # already a member
        b.leave(random_name("never"))  # not a member, unknown group
        self.assert_nothing_pending(a)
        self.assert_nothing_pending(b)

    def test_disconnect(self):
        a, b = self.client(), self.client()
        g, h = random_name("g"), random_name("h")
        self.join(g, a, [a])
        self.join(h, a, [a])
        self.join(g, b, [a, b])
        self.join(h, b, [a, b])
        b.disconnect()
        views = [a.receive(5), a.receive(5)]
        self.assertEqual(sorted(m.sender for m in views), sorted([g, h]))
        for m in views:
            self.assertEqual((m.type, m.groups, m.vs_sets, m.changed_member),
                             (sp.REG_MEMB_MESS | sp.CAUSED_BY_DISCONNECT, [a.private_group],
                              [[b.private_group]], b.private_group))

    def test_kill_without_a_word(self):  # SP_kill: EOF is a disconnect (§6)
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        b.kill()
        self.expect_view(a, g, "DISCONNECT", [a.private_group], b.private_group)

    def test_session_without_membership_messages(self):
        a = self.client()
        n = self.client(membership=False)
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, n, [a], silent=(n,))  # only a hears of it, but n is listed
        self.assert_nothing_pending(n)
        a.multicast(sp.SAFE_MESS, g, b"data still flows")
        self.expect_data(n, sp.SAFE_MESS, a, [g], b"data still flows")
        self.expect_data(a, sp.SAFE_MESS, a, [g], b"data still flows")
        b = self.client()
        self.join(g, b, [a, b], silent=(n,))
        n.leave(g)  # no self-leave for n
        for s in (a, b):
            self.expect_view(s, g, "LEAVE", sorted([a.private_group, b.private_group]),
                             n.private_group)
        self.assert_nothing_pending(n)

    def test_group_ids_never_repeat(self):  # §4.4 (Chorus deviation from upstream)
        a, b = self.client(), self.client()
        g = random_name("g")
        ids = [self.join(g, a, [a]), self.join(g, b, [a, b])]
        b.leave(g)
        self.assertTrue(b.receive(5).is_self_leave())
        ids.append(self.expect_view(a, g, "LEAVE", [a.private_group], b.private_group).group_id)
        a.leave(g)  # the group empties and is deleted
        self.assertTrue(a.receive(5).is_self_leave())
        ids += [self.join(g, a, [a]), self.join(g, b, [a, b])]
        b.kill()
        ids.append(self.expect_view(a, g, "DISCONNECT", [a.private_group], b.private_group)
                   .group_id)
        a.disconnect()  # empties it again
        c = self.client()
        ids.append(self.join(g, c, [c]))
        self.assertEqual(len(set(ids)), len(ids), ids)

    def test_fifo_order_of_1000_messages(self):
        a, b = self.client(), self.client()
        g = random_name("g")
        self.join(g, a, [a])
        self.join(g, b, [a, b])
        count = 1000
        stream = b"".join(sp.encode_message(sp.FIFO_MESS, b.private_group, [g],
                                            struct.pack("<I", k) + bytes(60))
                          for k in range(count))

        def done(got):
            return all(len(got[r]) >= count for r in (a, b))

        got = sp.pump({b: stream}, [a, b], done, timeout=60)
        for r in (a, b):
            seq = [struct.unpack("<I", m.data[:4])[0] for m in got[r]]
            self.assertTrue(all(m.is_regular() and m.sender == b.private_group for m in got[r]))
            self.assertEqual(seq, list(range(count)), f"{r.private_group} order")


class Lifecycle(unittest.TestCase):
    """Daemon start/stop on its own cluster (the `with` block prints the log on failure)."""

    def test_sigterm_then_restart_on_the_same_ports(self):
        with cluster.Cluster(1) as c:
            c.start(1)
            u = sp.connect(c.unix_path(1), "lifeunix")
            t = sp.connect(c.tcp(1), "lifetcp")
            for s in (u, t):
                self.addCleanup(s.close)
                s.join("life")
                self.assertEqual(s.receive(5).cause(), "JOIN")
            self.assertEqual(u.receive(5).changed_member, t.private_group)
            c.stop(1)  # exit code 0 within 5 s
            for s in (u, t):
                with self.assertRaises(sp.ConnectionClosed):
                    s.receive(5)
            self.assertFalse(os.path.exists(c.unix_path(1)), "Unix socket left behind (§1.1)")
            c.start(1)  # TCP port still has the closed connections in TIME_WAIT
            again = sp.connect(c.tcp(1), "lifetcp")
            self.addCleanup(again.close)
            again.join("life")
            self.assertEqual(again.receive(5).groups, [again.private_group])

    def test_kill9_then_restart(self):
        with cluster.Cluster(1) as c:
            c.start(1)
            u = sp.connect(c.unix_path(1), "crashme")
            self.addCleanup(u.close)
            c.kill9(1)
            with self.assertRaises(sp.ConnectionClosed):
                u.receive(5)
            c.start(1)  # over the stale Unix socket file
            again = sp.connect(c.unix_path(1), "crashme")
            self.addCleanup(again.close)
            again.join("after")
            self.assertEqual(again.receive(5).groups, [again.private_group])

    def test_unix_socket_path_too_long_is_refused_with_a_message(self):
        """Regression: a UnixSocketDir whose socket path exceeds sun_path made Asio throw and
        chorusd abort; it now exits 1 and says what to shorten."""
        with cluster.Cluster(1) as c:
            long_dir = c.tmp / ("x" * 120)
            text = c.conf.read_text().replace(f"UnixSocketDir = {c.tmp}",
                                              f"UnixSocketDir = {long_dir}")
            c.conf.write_text(text)
            out = subprocess.run(c.command(1), capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("shorten UnixSocketDir", out.stderr)

    def test_cpu_affinity_from_the_file_and_the_command_line(self):
        """CpuAffinity pins the daemon (and every thread it starts); --cpu-affinity overrides
        the file; the status and the log say where it runs; a CPU this process may not use is
        refused with the ones it may."""
        usable = sorted(os.sched_getaffinity(0))
        first, last = usable[0], usable[-1]
        with cluster.Cluster(1, options=(f"CpuAffinity = {first}",)) as c:
            c.start(1)
            pid = c.procs[1].pid
            self.assertEqual(os.sched_getaffinity(pid), {first})
            self.assertEqual(c.status(1)["daemon"]["cpus"], str(first))
            self.assertIn(f"CPU affinity: {first}", c.log(1))
            c.stop(1)
            cmd = c.command(1)
            c.command = lambda i: cmd + ["--cpu-affinity", str(last)]
            c.start(1)
            self.assertEqual(os.sched_getaffinity(c.procs[1].pid), {last})
            self.assertEqual(c.status(1)["daemon"]["cpus"], str(last))
            c.stop(1)
            for bad, reason in ((str(max(usable) + 1), "is not available to this process"),
                                ("1-0", "runs backwards"), ("x", "is neither a CPU number")):
                out = subprocess.run(cmd + ["--cpu-affinity", bad], capture_output=True,
                                     text=True, timeout=10)
                self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
                self.assertIn(reason, out.stderr)
            c.conf.write_text(c.conf.read_text().replace(f"CpuAffinity = {first}",
                                                         "CpuAffinity = 2-1"))
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
            self.assertRegex(out.stderr, r"spread\.conf:\d+: CpuAffinity: '2-1' is not a CPU list")


if __name__ == "__main__":
    unittest.main()

"""test_multi.py — several chorusd daemons on 127.0.0.x forming one ring
(shared/specs/spread-client-protocol.md §4.1–§4.4, §4.6; shared/DESIGN.md §3.2–§3.4): one
group view at every member whichever daemon it is connected to, every service level delivered
everywhere, one total order for AGREED/SAFE across senders on different daemons, and the EVS
notifications of a crash (TRANSITION_MESS, then REG_MEMB|CAUSED_BY_NETWORK), a partition that heals
(SIGSTOP/SIGCONT) and a restart.

Member lists are ordered by the daemon a member is connected to (d1, d2, ... as in spread.conf)
and then bytewise by name (§4.1).

Run alone: python3 -m unittest -v tests/integration/test_multi.py
"""

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402
from cluster import random_name  # noqa: E402

VIEW_TIMEOUT_S = 10.0  # a daemon-level membership change must reach clients within this


def daemon_of(private_group: str) -> int:
    return int(private_group.rsplit("#d", 1)[1])


def ordered(names) -> list[str]:
    """The member order of §4.1: by daemon (conf order), then bytewise by name."""
    return sorted(names, key=lambda pg: (daemon_of(pg), pg.encode()))


class MultiDaemonTestCase(cluster.ClusterTestCase):

    def clients(self, spec) -> list[sp.Session]:
        """One session per (daemon index, name prefix) of spec."""
        return [self.client(i, name=random_name(prefix)) for i, prefix in spec]

    def join_all(self, group: str, sessions: list[sp.Session]) -> sp.Message:
        """Joins each session in turn; after each join every member joined so far must get the
        same JOIN view next. Returns the final view as seen by the first session."""
        joined: list[sp.Session] = []
        for s in sessions:
            s.join(group)
            joined.append(s)
            want = ordered(x.private_group for x in joined)
            views = {}
            for x in joined:
                m = x.receive(VIEW_TIMEOUT_S)
                self.assertTrue(m.is_reg_memb(), f"{x.private_group}: {m!r}")
                self.assertEqual((m.sender, m.cause(), m.groups, m.vs_sets, m.changed_member),
                                 (group, "JOIN", want, [[s.private_group]], s.private_group))
                self.assertEqual(m.mess_type, want.index(x.private_group))
                views[x] = m
            self.assertEqual(len({m.group_id for m in views.values()}), 1,
                             {x.private_group: m.group_id for x, m in views.items()})
        return views[sessions[0]]

    def expect_network_change(self, group: str, survivors: list[sp.Session], old_gid,
                              want_sets: list[list[sp.Session]]) -> tuple:
        """After daemons vanished: each survivor gets TRANSITION_MESS carrying the old group id,
        then REG_MEMB|CAUSED_BY_NETWORK listing exactly the survivors, with the vs-sets of
        `want_sets` and its own set marked local. Returns the new group id (same everywhere)."""
        want = ordered(s.private_group for s in survivors)
        sets = sorted(sorted(s.private_group for s in vs) for vs in want_sets)
        gids = {}
        for s in survivors:
            t = s.receive(VIEW_TIMEOUT_S)
            self.assertTrue(t.is_transition(), f"{s.private_group}: expected TRANSITION, got {t!r}")
            self.assertEqual((t.type, t.sender, t.groups, t.group_id),
                             (sp.TRANSITION_MESS, group, [], old_gid))
            m = s.receive(VIEW_TIMEOUT_S)
            self.assertTrue(m.is_reg_memb(), f"{s.private_group}: expected a view, got {m!r}")
            self.assertEqual((m.type, m.sender, m.groups),
                             (sp.REG_MEMB_MESS | sp.CAUSED_BY_NETWORK, group, want))
            self.check_network_sets(s, m, sets)
            gids[s.private_group] = m.group_id
        self.assertEqual(len(set(gids.values())), 1, f"one view, different group ids: {gids}")
        self.assertNotEqual(m.group_id, old_gid)
        return m.group_id

    def check_network_sets(self, s: sp.Session, m: sp.Message, sets: list[list[str]]):
        self.assertEqual(sorted(sorted(vs) for vs in m.vs_sets), sets, m)
        self.assertIsNotNone(m.local_vs_set)
        self.assertIn(s.private_group, m.vs_sets[m.local_vs_set], m)
        self.assertIsNone(m.changed_member)
        self.assertEqual(m.mess_type, m.groups.index(s.private_group))

    def expect_join_after_merge(self, group: str, old: list[sp.Session], joiner: sp.Session):
        """joiner (on a daemon that came back) joins: every old member and the joiner get the
        JOIN view. Before it an old member may get CAUSED_BY_NETWORK views of the merge, which
        must list the old members unchanged. Returns the group id."""
        joiner.join(group)
        want = ordered([joiner.private_group] + [s.private_group for s in old])
        gids = {}
        for s in old + [joiner]:
            m, skipped = s.receive_until(lambda m: m.is_membership() and m.cause() == "JOIN",
                                         VIEW_TIMEOUT_S)
            for x in skipped:
                self.assertTrue(x.is_reg_memb() and x.cause() == "NETWORK", f"{s}: {x!r}")
                self.assertEqual(x.groups, ordered(o.private_group for o in old), x)
            self.assertEqual((m.sender, m.groups, m.changed_member),
                             (group, want, joiner.private_group))
            gids[s.private_group] = m.group_id
        self.assertEqual(len(set(gids.values())), 1, f"one view, different group ids: {gids}")
        return m.group_id

    def exchange(self, group: str, sender: sp.Session, members: list[sp.Session]):
        data = os.urandom(16)
        sender.multicast(sp.SAFE_MESS, group, data, mess_type=11)
        for r in members:
            m = r.receive(VIEW_TIMEOUT_S)
            self.assertEqual((m.type, m.sender, m.groups, m.mess_type, m.data),
                             (sp.SAFE_MESS, sender.private_group, [group], 11, data))


class ThreeDaemons(MultiDaemonTestCase):
    daemons = 3

    def test_wait_ring_again(self):
        self.cluster.wait_ring([1, 2, 3])

    def test_same_view_on_every_daemon(self):
        # Join order differs from both name order and daemon order.
        m, b, z, a = self.clients([(3, "m"), (2, "b"), (1, "z"), (2, "a")])
        g = random_name("g")
        final = self.join_all(g, [m, b, z, a])
        self.assertEqual(final.groups, [z.private_group, a.private_group, b.private_group,
                                        m.private_group])

    def test_leave_and_disconnect_across_daemons(self):
        x1, x2, x3 = self.clients([(1, "x"), (2, "x"), (3, "x")])
        g = random_name("g")
        self.join_all(g, [x1, x2, x3])
        x2.leave(g)
        self.assertTrue(x2.receive(VIEW_TIMEOUT_S).is_self_leave())
        for s in (x1, x3):
            m = s.receive(VIEW_TIMEOUT_S)
            self.assertEqual((m.cause(), m.groups, m.vs_sets),
                             ("LEAVE", [x1.private_group, x3.private_group], [[x2.private_group]]))
        x3.disconnect()
        m = x1.receive(VIEW_TIMEOUT_S)
        self.assertEqual((m.cause(), m.groups, m.changed_member),
                         ("DISCONNECT", [x1.private_group], x3.private_group))

    def test_every_service_everywhere_and_one_total_order(self):
        senders = self.clients([(1, "s"), (2, "s"), (3, "s")])
        g = random_name("g")
        self.join_all(g, senders)
        rounds = 10
        services = list(sp.SERVICES.values())
        outgoing = {}
        for si, s in enumerate(senders):
            outgoing[s] = b"".join(
                sp.encode_message(svc, s.private_group, [g], struct.pack("<BBH", si, svc, k),
                                  mess_type=si * 100 + k)
                for k in range(rounds) for svc in services)
        total = len(senders) * rounds * len(services)
        got = sp.pump(outgoing, senders,
                      lambda got: all(len(got[r]) >= total for r in senders), timeout=60)
        expected = {(si, svc, k) for si in range(len(senders)) for svc in services
                    for k in range(rounds)}
        orders = []
        for r in senders:
            msgs = got[r]
            self.assertEqual([m for m in msgs if not m.is_regular()], [])
            keys = [struct.unpack("<BBH", m.data) for m in msgs]
            self.assertEqual(len(keys), total)
            self.assertEqual(set(keys), expected, f"{r.private_group}: missing or extra messages")
            for m, (si, svc, k) in zip(msgs, keys):
                self.assertEqual((m.type, m.sender, m.groups, m.mess_type),
                                 (svc, senders[si].private_group, [g], si * 100 + k))
            for si in range(len(senders)):  # FIFO per sender within each service level
                for svc in services:
                    ks = [k for (i, v, k) in keys if i == si and v == svc]
                    self.assertEqual(ks, list(range(rounds)), (r.private_group, si, hex(svc)))
            orders.append([key for key in keys if key[1] in (sp.AGREED_MESS, sp.SAFE_MESS)])
        for other in orders[1:]:
            self.assertEqual(other, orders[0], "AGREED/SAFE total order differs between members")

    def test_kill9_then_restart(self):
        c = self.cluster
        a1, b1, x2, a3 = self.clients([(1, "a"), (1, "b"), (2, "x"), (3, "a")])
        g = random_name("g")
        before = self.join_all(g, [a1, x2, b1, a3])
        c.kill9(2)
        survivors = [a1, b1, a3]
        self.expect_network_change(g, survivors, before.group_id, [survivors])
        with self.assertRaises(sp.ConnectionClosed):
            x2.receive(VIEW_TIMEOUT_S)
        self.exchange(g, a3, survivors)
        # d2 comes back as a new incarnation with no sessions; a new client there joins.
        c.restart(2)
        c.wait_ring([1, 2, 3])
        y2 = self.client(2, name=random_name("y"))
        self.expect_join_after_merge(g, survivors, y2)
        self.exchange(g, y2, survivors + [y2])

    def test_partition_heals_into_a_merge(self):
        """SIGSTOP keeps d2's sessions while the others form a ring without it; after SIGCONT the
        two sides merge and every member gets CAUSED_BY_NETWORK with both sides' members."""
        c = self.cluster
        a1, b2, a3 = self.clients([(1, "a"), (2, "b"), (3, "a")])
        g = random_name("g")
        before = self.join_all(g, [a1, b2, a3])
        c.pause(2)
        self.addCleanup(c.resume, 2)
        self.expect_network_change(g, [a1, a3], before.group_id, [[a1, a3]])
        c.resume(2)
        everyone = [a1, b2, a3]
        want = ordered(s.private_group for s in everyone)
        sets = sorted([sorted([a1.private_group, a3.private_group]), [b2.private_group]])
        gids = {}
        for s in everyone:
            # d2's client may first see its own side shrink (TRANSITION, then a view of b2 only).
            m, skipped = s.receive_until(lambda m: m.is_reg_memb() and m.groups == want,
                                         VIEW_TIMEOUT_S * 2)
            for x in skipped:
                self.assertTrue(s is b2 and x.is_membership() and x.cause() in (None, "NETWORK"),
                                f"{s.private_group}: unexpected {x!r} before the merged view")
            self.assertEqual((m.type, m.sender), (sp.REG_MEMB_MESS | sp.CAUSED_BY_NETWORK, g))
            self.check_network_sets(s, m, sets)
            gids[s.private_group] = m.group_id
        self.assertEqual(len(set(gids.values())), 1, f"one view, different group ids: {gids}")
        self.exchange(g, b2, everyone)


class ThreeDaemonsLatencyProfile(ThreeDaemons):
    """Every ThreeDaemons test again with the latency settings (docs/configuration.md
    "Latency"): a lone sender keeps the token after its visit and the daemons busy-poll. The
    guarantees must not change; the ring's counters show the linger was used."""
    options = ("TokenLinger = 200", "BusyPoll = 2000")

    def test_a_lone_sender_lingers(self):
        s1, r2 = self.clients([(1, "s"), (2, "r")])
        g = random_name("g")
        self.join_all(g, [s1, r2])
        for k in range(20):  # each sent when the previous one came back: one outstanding
            s1.multicast(sp.AGREED_MESS, g, struct.pack("<I", k))
            self.assertEqual(s1.receive(VIEW_TIMEOUT_S).data, struct.pack("<I", k))
        for k in range(20):
            self.assertEqual(r2.receive(VIEW_TIMEOUT_S).data, struct.pack("<I", k))
        self.assertGreater(self.cluster.status(1)["ring"]["token_lingers"], 0)


class FiveDaemons(MultiDaemonTestCase):
    daemons = 5

    def test_same_view_on_five_daemons(self):
        sessions = self.clients([(5, "e"), (4, "d"), (3, "c"), (2, "b"), (1, "a")])
        final = self.join_all(random_name("g"), sessions)
        self.assertEqual([daemon_of(pg) for pg in final.groups], [1, 2, 3, 4, 5])

    def test_two_daemons_killed_at_once(self):
        c = self.cluster
        spec = [(1, "a"), (2, "a"), (3, "a"), (3, "b"), (4, "a"), (5, "a")]
        s1, s2, s3a, s3b, s4, s5 = self.clients(spec)
        g = random_name("g")
        before = self.join_all(g, [s1, s2, s3a, s3b, s4, s5])
        c.kill9(2)
        c.kill9(4)
        survivors = [s1, s3a, s3b, s5]
        self.expect_network_change(g, survivors, before.group_id, [survivors])
        self.exchange(g, s5, survivors)
        c.wait_ring([1, 3, 5])
        c.restart(2)
        c.restart(4)
        c.wait_ring([1, 2, 3, 4, 5])
        n2 = self.client(2, name=random_name("n"))
        self.expect_join_after_merge(g, survivors, n2)
        n4 = self.client(4, name=random_name("n"))
        self.expect_join_after_merge(g, survivors + [n2], n4)
        self.exchange(g, n4, survivors + [n2, n4])


if __name__ == "__main__":
    unittest.main()

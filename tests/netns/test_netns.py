"""test_netns.py — chorusd between hosts: three network namespaces on one bridge, addresses in
198.18.0.0/15, every daemon on the same port as in a real Spread deployment (issue 4).

Two deployments run the whole three-daemon suite of tests/integration/test_multi.py (views,
every service level, one total order, kill -9 and restart, SIGSTOP partition and merge) plus
tests of their own:
  - UnicastHosts: the segment is a broadcast address, so daemons fan packets out by unicast;
  - MulticastHosts: the segment is an IP multicast group (239.255.x.y), so each data packet
    leaves once and the bridge copies it to every host (checked on the hosts' counters).
Both also pull a host's cable (its link goes down): the others see TRANSITION then
CAUSED_BY_NETWORK, the cut-off host's client sees its daemon alone, and the mended link merges
everyone back.

Needs root and iproute2; without them the module exits with 77, which ctest reports as skipped
and names the reason.

Run alone (as root): python3 tests/netns/test_netns.py -v
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import cluster  # noqa: E402
import netns  # noqa: E402
import spread_client as sp  # noqa: E402
import test_multi  # noqa: E402
from cluster import random_name  # noqa: E402

VIEW_TIMEOUT_S = test_multi.VIEW_TIMEOUT_S


class HostCluster(cluster.Cluster):
    """Daemon d<i> runs in host namespace i at 198.18.<subnet>.i; all share one port."""

    def __init__(self, net: netns.Network, multicast: str | None):
        self.net = net
        self.multicast = multicast
        super().__init__(len(net.hosts))
        self.ports = {i: self.base_port for i in self.ports}

    def _conf_text(self) -> str:
        port = self.base_port
        segment = self.multicast or f"198.18.{self.net.subnet}.255"
        lines = [f"Spread_Segment {segment}:{port} {{"]
        lines += [f"    {self.name(i)} {self.net.address(i)}" for i in self.net.hosts]
        lines += ["}", f"RuntimeDir = {self.tmp}/run-%n", f"UnixSocketDir = {self.tmp}/sock-%n", ""]
        return "\n".join(lines)

    def unix_path(self, i: int) -> str:
        # Unix sockets live in the file system, which the namespaces share.
        return str(self.tmp / f"sock-{self.name(i)}" / str(self.base_port))

    def tcp(self, i: int) -> tuple[str, int]:
        return (self.net.address(i), self.base_port)

    def command(self, i: int) -> list[str]:
        return self.net.exec_prefix(i) + super().command(i)


class OnHosts:
    """Mixin: the class's cluster runs on network namespaces instead of 127.0.0.x."""

    multicast: str | None = None
    subnet = 0

    @classmethod
    def make_cluster(cls) -> cluster.Cluster:
        cls.net = netns.Network(cls.daemons, subnet=cls.subnet)
        return HostCluster(cls.net, cls.multicast)

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls.net.close()

    def test_a_pulled_cable_partitions_and_the_mended_one_merges(self):
        c = self.cluster
        a1, a2, a3 = self.clients([(1, "a"), (2, "a"), (3, "a")])
        g = random_name("g")
        before = self.join_all(g, [a1, a2, a3])
        self.net.cut(3)
        self.addCleanup(self.net.mend, 3)
        self.expect_network_change(g, [a1, a2], before.group_id, [[a1, a2]])
        # The cut-off daemon forms a ring of its own: its client sees the group shrink to itself.
        m, _ = a3.receive_until(lambda m: m.is_reg_memb() and m.groups == [a3.private_group],
                                VIEW_TIMEOUT_S)
        self.assertEqual(m.cause(), "NETWORK")
        self.net.mend(3)
        everyone = [a1, a2, a3]
        want = test_multi.ordered(s.private_group for s in everyone)
        gids = set()
        for s in everyone:
            m, _ = s.receive_until(lambda m: m.is_reg_memb() and m.groups == want,
                                   VIEW_TIMEOUT_S * 2)
            self.assertEqual(m.cause(), "NETWORK")
            gids.add(m.group_id)
        self.assertEqual(len(gids), 1)
        c.wait_ring([1, 2, 3])
        self.exchange(g, a3, everyone)

    def test_log_names_how_daemons_reach_each_other(self):
        want = "by IP multicast to " + self.multicast if self.multicast else "by unicast (2 peers)"
        for i in self.cluster.ports:
            self.assertIn("reaching the other daemons " + want, self.cluster.log(i))


class UnicastHosts(OnHosts, test_multi.ThreeDaemons):
    subnet = 1

    def test_no_multicast_on_the_wire(self):
        a1, a2, a3 = self.clients([(1, "a"), (2, "a"), (3, "a")])
        g = random_name("g")
        self.join_all(g, [a1, a2, a3])
        to_host2 = self.net.capture(2, self.net.address(2))
        for k in range(50):
            a1.multicast(sp.AGREED_MESS, g, b"unicast %d" % k)
            for s in (a1, a2, a3):
                self.assertEqual(s.receive(VIEW_TIMEOUT_S).data, b"unicast %d" % k)
        # Each message reached d2 in a datagram addressed to d2 (tokens add more).
        self.assertGreaterEqual(to_host2.count(), 50)


class MulticastHosts(OnHosts, test_multi.ThreeDaemons):
    subnet = 2
    multicast = "239.255.42.17"

    def test_data_travels_by_multicast(self):
        a1, a2, a3 = self.clients([(1, "a"), (2, "a"), (3, "a")])
        g = random_name("g")
        self.join_all(g, [a1, a2, a3])
        to_group = {i: self.net.capture(i, self.multicast) for i in (2, 3)}
        # One message per round trip, so each goes out in a packet of its own.
        for k in range(50):
            a1.multicast(sp.AGREED_MESS, g, b"multicast %d" % k)
            for s in (a1, a2, a3):
                self.assertEqual(s.receive(VIEW_TIMEOUT_S).data, b"multicast %d" % k)
        # d1 sent each data packet once, to the group; d2 and d3 each received all of them.
        for i, cap in to_group.items():
            self.assertGreaterEqual(cap.count(), 50, f"d{i}")


if __name__ == "__main__":
    why = netns.usable()
    if why is not None:
        print(f"skipped: {why}")
        sys.exit(77)
    unittest.main()

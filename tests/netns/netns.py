"""netns.py — hosts made of Linux network namespaces, for tests of chorusd between "machines".

A Network creates one namespace per host (chorus-<id>-h1, h2, …) and one for a switch
(chorus-<id>-sw) holding a bridge; each host is linked to the bridge by a veth pair and gets
198.18.<subnet>.<i>/24 (198.18.0.0/15 is reserved for benchmarking: no traffic ever leaves the
namespaces). IGMP snooping is off on the bridge, so multicast reaches every port without a
querier. cut(i)/mend(i) take a host's link down and up (a partition or a pulled cable).

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; usable() says whether this machine
allows it. close() deletes every namespace it made (their interfaces go with them); an atexit
hook does the same if a test dies.

Thread-safety: none.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys

_live: set["Network"] = set()


@atexit.register
def _cleanup() -> None:
    for n in list(_live):
        n.close()


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = (["ip", "-n", ns] if ns else ["ip"]) + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    return out


def usable() -> str | None:
    """None if network namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    name = f"chorus-probe-{os.getpid()}"
    try:
        out = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    except FileNotFoundError:
        return "iproute2 (the ip command) is not installed"
    if out.returncode != 0:
        return f"ip netns add failed: {out.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class Network:
    def __init__(self, hosts: int, subnet: int = 0):
        self.tag = f"chorus-{os.getpid()}-{subnet}"
        self.switch = f"{self.tag}-sw"
        self.hosts = {i: f"{self.tag}-h{i}" for i in range(1, hosts + 1)}
        self.subnet = subnet
        self._made: list[str] = []
        _live.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def address(self, i: int) -> str:
        return f"198.18.{self.subnet}.{i}"

    def _build(self) -> None:
        for ns in [self.switch, *self.hosts.values()]:
            _ip("netns", "del", ns, check=False)  # a leftover of a killed run
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", "br0", "type", "bridge", "mcast_snooping", "0", ns=self.switch)
        _ip("link", "set", "br0", "up", ns=self.switch)
        for i, ns in self.hosts.items():
            # Created in the host namespace, the switch end moved out: names never collide
            # with the root namespace's interfaces.
            _ip("link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", ns=ns)
            _ip("link", "set", f"p{i}", "netns", self.switch, ns=ns)
            _ip("link", "set", f"p{i}", "master", "br0", ns=self.switch)
            _ip("link", "set", f"p{i}", "up", ns=self.switch)
            _ip("addr", "add", f"{self.address(i)}/24", "dev", "eth0", ns=ns)
            _ip("link", "set", "eth0", "up", ns=ns)
            _ip("route", "add", "224.0.0.0/4", "dev", "eth0", ns=ns)

    def exec_prefix(self, i: int) -> list[str]:
        """Prefix for a command that runs on host i."""
        return ["ip", "netns", "exec", self.hosts[i]]

    def cut(self, i: int) -> None:
        """Host i loses its link: nothing in or out until mend(i)."""
        _ip("link", "set", f"p{i}", "down", ns=self.switch)

    def mend(self, i: int) -> None:
        _ip("link", "set", f"p{i}", "up", ns=self.switch)

    def capture(self, i: int, destination: str) -> "Capture":
        """Starts counting the IPv4 packets to `destination` that host i's interface receives
        (a packet socket in that namespace; veth keeps no multicast counter)."""
        return Capture(self.exec_prefix(i), destination)

    def close(self) -> None:
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
        self._made.clear()
        _live.discard(self)


_CAPTURE = r"""
import select, socket, struct, sys
dst = socket.inet_aton(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind(("eth0", 0))
print("ready", flush=True)
count = 0
def take(p):
    global count
    if len(p) >= 20 and p[16:20] == dst:
        count += 1
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if s in r:
        take(s.recv(65536))
    if sys.stdin in r:
        break
# Packets that arrived before the stop but were not read yet count too: the stop comes once
# the test saw their effect, and this process may lag behind on a busy machine.
s.setblocking(False)
while True:
    try:
        take(s.recv(65536))
    except BlockingIOError:
        break
print(count, flush=True)
"""


class Capture:
    """Counts packets to one IPv4 destination on a host's eth0 until count() is called."""

    def __init__(self, prefix: list[str], destination: str):
        self.proc = subprocess.Popen(prefix + [sys.executable, "-c", _CAPTURE, destination],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("packet capture did not start")

    def count(self) -> int:
        out, _ = self.proc.communicate("stop\n", timeout=10)
        return int(out.strip())

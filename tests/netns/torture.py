#!/usr/bin/env python3
"""torture.py — fault torture scenarios on real chorusd daemons in network namespaces.

Each scenario builds a netns.Network (one namespace per host on a bridge), starts one chorusd per
host (test_netns.HostCluster writes the spread.conf; unicast between daemons), waits for one
ring, then starts two torture_client processes per daemon in its host's namespace — one on the
daemon's Unix socket (growing its buffer after BUFFER_TOO_SHORT), one over TCP (a 16 KiB buffer
with DROP_RECV) — and applies the scenario's fault timeline while they send. The clients stop
sending at a common deadline, log their final views at a second one and leave; then
torture_check.py checks all their logs. Printed: the checker's figures and violations, and per
fault the time until the connections alive across it installed their next regular view (from
the clients' logs) and how many regular configurations each daemon installed until the next
fault (the daemons' logs).

Scenarios: steady, kill, partition3, partition5, oneway-3to1, oneway-1to3, loss, churn,
churn-loss (see SCENARIOS below for what each does and when).

Faults are made with nftables rules in the hosts' namespaces (an inet table "torture" with an
input chain, rules only on eth0) — drop by source address for partitions and one-way links,
"numgen random mod 100 < 5 drop" for loss — and kill -9 for daemons and clients. The kernel here
has no sch_netem: delay and reordering come from nfq_delay.c behind an iptables NFQUEUE rule
(the kernel has no nft queue expression); without nfq_delay or iptables, loss goes alone.

usage (as root): torture.py --scenario NAME [--seconds S] [--rate R] [--seed N] [--keep]
  $CHORUSD (default <repo>/build/tools/chorusd) and $TORTURE_CLIENT (default
  <repo>/build/tests/netns/torture_client) and $NFQ_DELAY (default
  <repo>/build/tests/netns/nfq_delay) name the binaries.
Exit: 0 no violation, 1 violations, 2 the run could not be set up, 77 no namespaces here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import netns  # noqa: E402
import torture_check  # noqa: E402

REPO = HERE.parents[1]
DEFAULT_CLIENT = REPO / "build" / "tests" / "netns" / "torture_client"
DEFAULT_NFQ = REPO / "build" / "tests" / "netns" / "nfq_delay"
GROUPS = ["ga", "gb", "gc"]
QUIET_S = 4.0       # between the end of sending and the clients' final views
SETUP_EXIT = 2


class SetupError(Exception):
    pass


def now() -> tuple[int, float]:
    return time.monotonic_ns(), time.time()


class Run:
    """One scenario run: the network, the daemons, the clients and the fault timeline."""

    def __init__(self, daemons: int, seconds: float, rate: float, seed: int, keep: bool):
        # test_netns brings tests/integration's cluster and spread_client (for wait_ring).
        from test_netns import HostCluster
        self.rng = random.Random(seed)
        self.seed = seed
        self.seconds = seconds
        self.rate = rate
        self.keep = keep
        self.client_bin = os.environ.get("TORTURE_CLIENT") or str(DEFAULT_CLIENT)
        self.nfq_bin = os.environ.get("NFQ_DELAY") or str(DEFAULT_NFQ)
        self.delayers: dict[int, subprocess.Popen] = {}
        if not os.access(self.client_bin, os.X_OK):
            raise SetupError(f"torture_client not found at {self.client_bin}: build it or set "
                             "TORTURE_CLIENT")
        if shutil.which("nft") is None:
            raise SetupError("nft not found: apt-get install nftables (scripts/setup)")
        subnet = 100 + os.getpid() % 150
        self.net = netns.Network(daemons, subnet=subnet)
        self.cluster = HostCluster(self.net, None)
        self.logdir = self.cluster.tmp / "clients"
        self.logdir.mkdir()
        self.clients: dict[str, subprocess.Popen] = {}
        self.client_host: dict[str, int] = {}
        self.timeline: list[dict] = []
        self.wall: list[float] = []
        self.names_used: set[str] = set()
        for i in self.net.hosts:
            self.nft(i, "add table inet torture\n"
                        "add chain inet torture input { type filter hook input priority 0; "
                        "policy accept; }\n")

    # ---- daemons, clients, faults ----

    def start(self) -> None:
        c = self.cluster
        c.start_all(timeout=15)
        c.wait_ring(range(1, len(self.net.hosts) + 1), timeout=30)
        self.t0 = time.monotonic()
        self.send_until = self.t0 + self.seconds
        self.exit_at = self.send_until + QUIET_S

    def spec(self, i: int, tcp: bool) -> str:
        if tcp:
            return f"{self.cluster.base_port}@{self.net.address(i)}"
        return self.cluster.unix_path(i)

    def client(self, name: str, i: int, tcp: bool, extra: list[str] = (),
               rate: float | None = None) -> None:
        """Starts torture_client `name` on host i (`name` at most 6 letters, unique per run)."""
        if name in self.names_used:
            raise ValueError(f"client name {name} used twice")
        self.names_used.add(name)
        k = len(self.names_used)
        joined = [GROUPS[k % 3], GROUPS[(k + 1) % 3]]
        other = [g for g in GROUPS if g not in joined]
        cmd = self.net.exec_prefix(i) + [
            self.client_bin, "--daemon", self.spec(i, tcp), "--name", name,
            "--groups", ",".join(joined), "--other", ",".join(other),
            "--rate", str(rate if rate is not None else self.rate),
            "--send-until", f"{self.send_until:.3f}", "--exit-at", f"{self.exit_at:.3f}",
            "--seed", str(self.seed * 1000 + k), "--log", str(self.logdir / f"{name}.jsonl"),
            "--drop-recv" if tcp else "--grow", *extra]
        err = open(self.logdir / f"{name}.stderr", "wb")
        self.clients[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err,
                                              stderr=subprocess.STDOUT, start_new_session=True)
        self.client_host[name] = i

    def standard_clients(self, extra: list[str] = ()) -> None:
        for i in self.net.hosts:
            self.client(f"u{i}", i, tcp=False, extra=extra)
            self.client(f"t{i}", i, tcp=True, extra=extra)

    def mark(self, what: str) -> None:
        t, w = now()
        self.timeline.append({"t": t, "what": what})
        self.wall.append(w)
        print(f"  +{time.monotonic() - self.t0:6.1f} s  {what}", flush=True)

    def sleep_until(self, fraction: float) -> None:
        """Sleeps until `fraction` of the sending period has passed."""
        delay = self.t0 + fraction * self.seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def nft(self, i: int, script: str) -> None:
        out = subprocess.run(self.net.exec_prefix(i) + ["nft", "-f", "-"], input=script,
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise SetupError(f"nft on host {i}: {out.stderr.strip()}\n{script}")

    def drop_from(self, i: int, sources: list[int]) -> None:
        """Host i drops every packet from the hosts in `sources`."""
        addrs = ", ".join(self.net.address(s) for s in sources)
        self.nft(i, f'add rule inet torture input iifname "eth0" ip saddr {{ {addrs} }} '
                    'counter drop\n')

    def lossy(self, i: int, percent: int) -> None:
        self.nft(i, f'add rule inet torture input iifname "eth0" numgen random mod 100 < '
                    f'{percent} counter drop\n')

    def dropped(self, i: int) -> int:
        """Packets host i's torture rules dropped so far."""
        out = subprocess.run(self.net.exec_prefix(i) + ["nft", "list", "chain", "inet", "torture",
                                                        "input"],
                             capture_output=True, text=True, timeout=10)
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", out.stdout))

    def delay_available(self) -> str | None:
        """None if nfq_delay can delay and reorder here, else why not."""
        if not os.access(self.nfq_bin, os.X_OK):
            return f"no nfq_delay at {self.nfq_bin} (set NFQ_DELAY)"
        if shutil.which("iptables") is None:
            return "no iptables (the kernel has no nft queue; NFQUEUE goes through iptables)"
        return None

    def delayed(self, i: int, seed: int) -> bool:
        """Host i's incoming UDP on eth0 waits 2 +- 1 ms in nfq_delay, a quarter of it 4 ms
        more (reordered). Returns False (after saying why) if that cannot be done here."""
        why = self.delay_available()
        if why is not None:
            print(f"           no delay or reordering: {why}; loss only", flush=True)
            return False
        p = subprocess.Popen(self.net.exec_prefix(i) + [
            self.nfq_bin, "--queue", "0", "--delay-us", "2000", "--jitter-us", "1000",
            "--reorder", "25", "--seed", str(self.seed + i)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        self.delayers[i] = p
        if not p.stdout.readline().startswith("ready"):
            raise SetupError(f"nfq_delay on host {i} did not start")
        out = subprocess.run(self.net.exec_prefix(i) + [
            "iptables", "-A", "INPUT", "-i", "eth0", "-p", "udp", "-j", "NFQUEUE",
            "--queue-num", "0", "--queue-bypass"], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise SetupError(f"iptables on host {i}: {out.stderr.strip()}")
        return True

    def heal(self, i: int) -> None:
        n = self.dropped(i)
        if n:
            print(f"           host {i} dropped {n} packets", flush=True)
        self.nft(i, "flush chain inet torture input\n")
        p = self.delayers.pop(i, None)
        if p is not None:
            subprocess.run(self.net.exec_prefix(i) + ["iptables", "-F", "INPUT"],
                           capture_output=True, timeout=10)
            p.send_signal(signal.SIGTERM)
            try:
                out, _ = p.communicate(timeout=5)
                print(f"           host {i}: {out.strip()}", flush=True)
            except subprocess.TimeoutExpired:
                p.kill()

    def heal_all(self) -> None:
        for i in self.net.hosts:
            self.heal(i)

    # ---- the end ----

    def finish(self) -> int:
        deadline = self.exit_at + 15
        for name, p in self.clients.items():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"torture: client {name} did not exit in time; killed", file=sys.stderr)
                p.kill()
                p.wait(5)
        end_wall = time.time()
        (self.cluster.tmp / "timeline.json").write_text(json.dumps(self.timeline))
        ck = torture_check.Checker()
        ck.load_paths([str(self.logdir)])
        ck.run()
        rc = ck.report()
        self.print_faults(ck, end_wall)
        doc = ck.figures()
        doc["examples"] = {k: v[:5] for k, v in ck.violations.items()}
        doc["recovery"] = ck.recovery(self.timeline)
        (self.cluster.tmp / "summary.json").write_text(json.dumps(doc, indent=1))
        dead = [i for i in self.net.hosts if not self.cluster.alive(i)]
        if dead:
            print(f"torture: daemons {dead} died during the run", file=sys.stderr)
            for i in dead:
                print(self.cluster.log_tail(i, 20), file=sys.stderr)
            rc = 1
        if rc != 0 or self.keep:
            self.cluster.failed = True
            print(f"torture: logs kept in {self.cluster.tmp}")
        return rc

    def configurations(self, i: int) -> list[float]:
        """Wall-clock times of the regular configurations daemon i installed (its log)."""
        out = []
        pat = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\] .*regular configuration")
        for line in self.cluster.log(i).splitlines():
            m = pat.match(line)
            if m:
                out.append(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                           .timestamp())
        return out

    def print_faults(self, ck: torture_check.Checker, end_wall: float) -> None:
        if not self.timeline:
            return
        confs = {i: self.configurations(i) for i in self.net.hosts}
        rec = ck.recovery(self.timeline)
        print("faults:")
        for k, (f, r) in enumerate(zip(self.timeline, rec)):
            start = self.wall[k]
            stop = self.wall[k + 1] if k + 1 < len(self.wall) else end_wall
            counts = " ".join(f"d{i}:{sum(start <= t < stop for t in ts)}"
                              for i, ts in confs.items())
            view = (f"next regular view after median {r['median_ms']} ms, max {r['max_ms']} ms"
                    if "median_ms" in r else "no new regular view")
            print(f"  {f['what']}: {view} ({r['connections']} connections, "
                  f"{r['without_new_view']} without); daemon regular configurations until the "
                  f"next fault: {counts}")

    def close(self) -> None:
        for p in [*self.clients.values(), *self.delayers.values()]:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.cluster.close()
        self.net.close()


# ---- scenarios: each starts clients, applies its faults, and returns ----

def steady(r: Run) -> None:
    r.standard_clients()


def kill(r: Run) -> None:
    r.standard_clients()
    r.sleep_until(0.25)
    r.cluster.kill9(3)
    r.mark("kill -9 d3")
    r.sleep_until(0.55)
    r.mark("restart d3")
    r.cluster.start(3, wait=True, timeout=15)


def partition(r: Run, minority: list[int]) -> None:
    r.standard_clients()
    majority = [i for i in r.net.hosts if i not in minority]
    r.sleep_until(0.25)
    for i in majority:
        r.drop_from(i, minority)
    for i in minority:
        r.drop_from(i, majority)
    r.mark(f"partition {''.join(map(str, majority))}|{''.join(map(str, minority))}")
    r.sleep_until(0.55)
    r.heal_all()
    r.mark("heal")


def partition3(r: Run) -> None:
    partition(r, [3])


def partition5(r: Run) -> None:
    partition(r, [4, 5])


def oneway(r: Run, src: int, dst: int) -> None:
    r.standard_clients()
    r.sleep_until(0.25)
    r.drop_from(dst, [src])
    r.mark(f"drop {src}->{dst} (at d{dst}'s input)")
    r.sleep_until(0.6)
    r.heal(dst)
    r.mark("heal")


def oneway_3to1(r: Run) -> None:
    oneway(r, 3, 1)


def oneway_1to3(r: Run) -> None:
    oneway(r, 1, 3)


def lossy_network(r: Run) -> None:
    delayed = all([r.delayed(i, r.seed) for i in r.net.hosts])
    for i in r.net.hosts:
        r.lossy(i, 5)
    r.mark("5 % loss" + (", 2+-1 ms delay, 25 % reordered," if delayed else "")
           + " at every host's input")


def loss(r: Run) -> None:
    r.standard_clients()
    r.sleep_until(0.1)
    lossy_network(r)
    r.sleep_until(0.75)
    r.heal_all()
    r.mark("heal")


def churn_clients(r: Run) -> None:
    """The standard clients churn (leave/rejoin, disconnect/reconnect, SP_kill, some exit);
    short-lived clients come and go; one client is killed with kill -9."""
    hosts = list(r.net.hosts)
    for i in hosts:
        r.client(f"u{i}", i, tcp=False, extra=["--churn", "3"])
        r.client(f"t{i}", i, tcp=True, extra=["--churn", "4", "--churn-exit"])
        r.client(f"s{i}", i, tcp=False)  # steady: keeps every group busy
    k = 0
    victim_done = False
    while time.monotonic() < r.send_until - 3:
        i = hosts[k % len(hosts)]
        k += 1
        r.client(f"e{k}", i, tcp=bool(k % 2), extra=["--lifetime", f"{1 + r.rng.random() * 3:.2f}"],
                 rate=20)
        if not victim_done and time.monotonic() > r.t0 + 0.4 * r.seconds:
            victim = f"u{hosts[0]}"
            r.clients[victim].kill()
            r.mark(f"kill -9 client {victim}")
            r.client("v1", hosts[0], tcp=False, extra=["--churn", "3"])
            victim_done = True
        time.sleep(1.0 + r.rng.random())


def churn(r: Run) -> None:
    churn_clients(r)


def churn_loss(r: Run) -> None:
    lossy_network(r)
    churn_clients(r)
    r.sleep_until(0.8)
    r.heal_all()
    r.mark("heal")


SCENARIOS = {
    "steady": (3, steady),
    "kill": (3, kill),
    "partition3": (3, partition3),
    "partition5": (5, partition5),
    "oneway-3to1": (3, oneway_3to1),
    "oneway-1to3": (3, oneway_1to3),
    "loss": (3, loss),
    "churn": (3, churn),
    "churn-loss": (3, churn_loss),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--seconds", type=float, default=30, help="sending period (default 30)")
    ap.add_argument("--rate", type=float, default=10, help="messages/s per client (default 10)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the logs even on success")
    a = ap.parse_args(argv)
    why = netns.usable()
    if why is not None:
        print(f"skipped: {why}")
        return 77
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1 << 30)
    daemons, scenario = SCENARIOS[a.scenario]
    print(f"torture: scenario {a.scenario}, {daemons} daemons, {a.seconds:g} s, "
          f"{a.rate:g} msg/s per client, seed {seed}", flush=True)

    def on_alarm(signum, frame):
        raise TimeoutError("the run took too long")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(SETUP_EXIT))
    signal.alarm(int(a.seconds + QUIET_S + 120))
    run = None
    try:
        run = Run(daemons, a.seconds, a.rate, seed, a.keep)
        run.start()
        scenario(run)
        return run.finish()
    except (SetupError, TimeoutError, AssertionError, RuntimeError, OSError) as e:
        print(f"torture: the run could not be completed: {e}", file=sys.stderr)
        if run is not None:
            run.cluster.failed = True
            run.cluster.dump_logs(20)
        return SETUP_EXIT
    finally:
        signal.alarm(0)
        if run is not None:
            run.close()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""daemon_bench.py — chorusd end to end: throughput and latency through real daemons.

Starts daemons on 127.0.0.1… (a fresh configuration in a temporary directory), drives them with
build/bench/daemon_bench (the client side, one process, one thread per connection), and prints:
  - throughput (messages/s, MB/s) of AGREED and SAFE messages of 100 B, 1 KB and 10 KB: one
    sender, one receiving member per daemon, every member receives every message;
  - latency p50/p99 with one message outstanding (a member sends, waits for its own message),
    back to back and sporadic (1 ms between messages, so each finds the ring idle);
  - daemon CPU per delivered message (user+system time of all daemons over the run, divided by
    the messages sent) and each daemon's peak RSS;
  - the same latencies through 3 daemons with the latency profile (TokenLinger, BusyPoll: see
    docs/configuration.md "Latency") side by side with the defaults, with the daemons' CPU use,
    each with blocking clients and with polling clients (every member polls its socket before
    it sleeps, as the client library's busy_poll does); and the profile once more with the
    daemons and the members pinned (`--cpu-affinity`, `daemon_bench --member-cpus`; see
    placement()): busy-polling processes left to the kernel are sometimes all put on one core,
    and every hop then waits for the others' turns, so unpinned figures vary from run to run
    with where the kernel happened to put the six pollers; and pinned again with the clients'
    requests sent through shared memory (`--shm`: the SHM method, docs/protocol.md) instead of
    the socket;
  - memory with a client that stops reading: RSS before and after a 1 KB flood, and whether the
    daemon cut the reader off (it must, at MaxSessionMessages).
The baseline column is the same run through a single daemon (no ring hops), measured in the
same script; the goals are issue 4's. A first line measures the machine's floor with no daemon
at all (`daemon_bench --mode floor`): a 100-byte round trip between two processes over a Unix
socket (what a client-daemon round trip costs in wake-ups alone) and one rotation around three
processes over UDP (what a token rotation costs), each with blocking and with polling
processes. AGREED latency cannot beat the first figure and SAFE latency cannot beat their sum;
on a virtual machine whose idle CPUs halt, each wake-up of an idle CPU costs tens of
microseconds, and the difference between the blocking and the polling figures shows how many. Usage: bench/daemon_bench.py [--build build] [--quick]
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


class Daemons:
    def __init__(self, build, n, options=(), pin=None):
        self.dir = tempfile.mkdtemp(prefix="chorus-bench.")
        base = 30000 + random.randrange(0, 2000) * 10
        self.ports = [base + 10 * i for i in range(n)]
        lines = [f"Spread_Segment 127.0.0.255:{self.ports[0]} {{"]
        lines += [f"    d{i + 1} 127.0.0.{i + 1}:{p}" for i, p in enumerate(self.ports)]
        lines += ["}", f"RuntimeDir = {self.dir}/run-%n", f"UnixSocketDir = {self.dir}"]
        lines += list(options)
        conf = os.path.join(self.dir, "spread.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.procs = []
        for i in range(n):
            log = open(os.path.join(self.dir, f"d{i + 1}.log"), "w")
            cmd = [os.path.join(build, "tools", "chorusd"), "-c", conf, "-n", f"d{i + 1}"]
            if pin:  # a list: daemon i on CPU pin[i]
                cmd += ["--cpu-affinity", str(pin[i])]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        for p in self.ports:
            path = os.path.join(self.dir, str(p))
            deadline = time.monotonic() + 10
            while not os.path.exists(path):
                if time.monotonic() > deadline:
                    sys.exit(f"daemon on port {p} did not start; see {self.dir}")
                time.sleep(0.02)
        time.sleep(0.5)  # the ring forms (a few token timeouts at most)

    def endpoints(self):
        out = []
        for p in self.ports:
            out += ["--endpoint", os.path.join(self.dir, str(p))]
        return out

    def cpu_seconds(self):
        total = 0
        for p in self.procs:
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICK

    def memory_kib(self, key):
        out = []
        for p in self.procs:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        out.append(int(line.split()[1]))
        return out

    def log(self, i):
        with open(os.path.join(self.dir, f"d{i + 1}.log")) as f:
            return f.read()

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_client(build, daemons, *args):
    cmd = [os.path.join(build, "bench", "daemon_bench")] + daemons.endpoints() + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"daemon_bench failed: {' '.join(cmd)}\n{out.stderr}")
    return dict(kv.split("=", 1) for kv in out.stdout.split())


# Every table has a row per service and size.
CASES = [(service, size) for service in ("agreed", "safe") for size in (100, 1000, 10000)]


def latencies(build, d, service, size, rounds, *extra):
    """p50/p99 with one message outstanding, back to back, and `extra` daemon_bench options."""
    r = run_client(build, d, "--mode", "latency", "--service", service, "--size", str(size),
                   "--count", str(rounds), *extra)
    return float(r["p50_us"]), float(r["p99_us"])


def sporadic_latencies(build, d, service, size, rounds, *extra):
    """The same with 1 ms between messages: each finds the ring idle."""
    return latencies(build, d, service, size, max(rounds // 5, 50), "--gap-us", "1000", *extra)


def measure(build, n, service, size, count, rounds):
    d = Daemons(build, n)
    try:
        cpu0 = d.cpu_seconds()
        t = run_client(build, d, "--mode", "throughput", "--service", service,
                       "--size", str(size), "--count", str(count))
        cpu = d.cpu_seconds() - cpu0
        p50, p99 = latencies(build, d, service, size, rounds)
        sp50, sp99 = sporadic_latencies(build, d, service, size, rounds)
        return {
            "msgs": float(t["msgs_per_s"]), "mb": float(t["mb_per_s"]),
            "p50": p50, "p99": p99, "sp50": sp50, "sp99": sp99,
            "cpu_us": cpu / count * 1e6, "rss_mib": max(d.memory_kib("VmHWM")) / 1024,
        }
    finally:
        d.stop()


# The latency profile: a lone sender keeps the token 100 µs after its visit, and the daemons
# poll 1 ms after each event before they sleep (docs/configuration.md, "Latency").
LATENCY_PROFILE = ("TokenLinger = 100", "BusyPoll = 1000")
# Polling clients: every member polls its socket this long before it sleeps, as the client
# library does with connect_options::busy_poll or CHORUS_BUSY_POLL_US.
CLIENT_POLL_US = 1000


def placement(n):
    """Where the pinned runs put n daemons and the latency run's n members (member i on daemon
    i): two lists of CPUs. The first daemon orders every message and serves the sender, so it
    gets a core no other daemon uses; the others share the remaining cores round robin. Each
    member runs on the next core after its daemon's, so a polling member and its daemon never
    take turns on one core. On this 2-core host: daemons on 0, 1, 1 and members on 1, 0, 0."""
    cpus = sorted(os.sched_getaffinity(0))
    rest = cpus[1:] or cpus
    daemons = [cpus[0]] + [rest[i % len(rest)] for i in range(n - 1)]
    members = [cpus[(cpus.index(c) + 1) % len(cpus)] for c in daemons]
    return daemons, members


def measure_latency(build, service, size, rounds, options, pin=False, shm=False):
    daemon_cpus, member_cpus = placement(3)
    d = Daemons(build, 3, options, daemon_cpus if pin else None)
    extra = ("--shm",) if shm else ()
    if pin:
        extra += ("--member-cpus", ",".join(map(str, member_cpus)))
    try:
        cpu0 = d.cpu_seconds()
        t0 = time.monotonic()
        p50, p99 = latencies(build, d, service, size, rounds, *extra)
        cpu = (d.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        sp50, sp99 = sporadic_latencies(build, d, service, size, rounds, *extra)
        pp50, pp99 = latencies(build, d, service, size, rounds, "--poll-us", str(CLIENT_POLL_US),
                               *extra)
        return {"p50": p50, "p99": p99, "sp50": sp50, "sp99": sp99, "pp50": pp50, "pp99": pp99,
                "cpus": cpu}
    finally:
        d.stop()


def slow_reader(build, count):
    d = Daemons(build, 3)
    try:
        before = d.memory_kib("VmRSS")
        run_client(build, d, "--mode", "throughput", "--service", "agreed", "--size", "1000",
                   "--count", str(count), "--stalled", "1")
        after = d.memory_kib("VmRSS")
        peak = d.memory_kib("VmHWM")
        cut = "not reading" in d.log(0)
        return before, after, peak, cut
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    a = ap.parse_args()
    scale = 0.1 if a.quick else 1.0
    rounds = int(5000 * scale)
    print(f"chorusd, 3 daemons on 127.0.0.1-3 vs a single daemon (baseline); {os.cpu_count()} cores")
    out = subprocess.run([os.path.join(a.build, "bench", "daemon_bench"), "--mode", "floor",
                          "--count", str(rounds)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f"daemon_bench --mode floor failed:\n{out.stderr}")
    f = dict(kv.split("=", 1) for kv in out.stdout.split())
    print(f"machine floor, no daemon: process round trip over a Unix socket p50 "
          f"{float(f['unix_round_trip_p50_us']):.1f} µs (p99 {float(f['unix_round_trip_p99_us']):.1f}), "
          f"rotation around 3 processes over UDP p50 {float(f['udp_rotation3_p50_us']):.1f} µs "
          f"(p99 {float(f['udp_rotation3_p99_us']):.1f}); the same with polling processes: "
          f"{float(f['polling_unix_round_trip_p50_us']):.1f} µs and "
          f"{float(f['polling_udp_rotation3_p50_us']):.1f} µs")
    print("p50/p99: one message outstanding, back to back; sporadic: the same with 1 ms between "
          "messages (the ring is idle when each arrives)")
    print(f"{'service':<7} {'size':>6} | {'msg/s':>9} {'MB/s':>7} {'p50 µs':>7} {'p99 µs':>7} "
          f"{'sporadic p50/p99':>16} {'CPU µs/msg':>10} {'RSS MiB':>7} | {'1 daemon msg/s':>14} "
          f"{'p50 µs':>7}")
    for service, size in CASES:
        count = int((300000 if size < 10000 else 60000) * scale)
        r3 = measure(a.build, 3, service, size, count, rounds)
        r1 = measure(a.build, 1, service, size, count, rounds)
        print(f"{service:<7} {size:>6} | {r3['msgs']:>9.0f} {r3['mb']:>7.1f} {r3['p50']:>7.1f} "
              f"{r3['p99']:>7.1f} {r3['sp50']:>8.1f}/{r3['sp99']:<7.1f} "
              f"{r3['cpu_us']:>10.2f} {r3['rss_mib']:>7.1f} | "
              f"{r1['msgs']:>14.0f} {r1['p50']:>7.1f}", flush=True)
    daemon_cpus, member_cpus = placement(3)
    print(f"latency profile ({', '.join(LATENCY_PROFILE)}), 3 daemons, side by side with the "
          "defaults; back to back with blocking clients and with polling clients (every member "
          f"polls {CLIENT_POLL_US} µs before it sleeps: busy_poll, CHORUS_BUSY_POLL_US); sporadic "
          "with blocking clients; CPUs: the daemons' CPU time over the blocking run, in CPUs; "
          f"pinned: the profile with daemons on CPUs {daemon_cpus} (--cpu-affinity) and their "
          f"members on CPUs {member_cpus}, never on their own daemon's core; +shm: pinned, "
          "and the clients' requests go through shared memory (the SHM method, as the client "
          "library does by default on the Unix socket) instead of the socket")
    group = (f"{'p50/p99':>7} {'polling':>14} {'sporadic':>14} {'CPUs':>5}")
    print(f"{'service':<7} {'size':>6} | {'default':>8} {group} | {'profile':>8} {group} | "
          f"{'pinned':>8} {group} | {'+shm':>8} {group}")
    for service, size in CASES:
        cols = []
        for options, pin, shm in (((), False, False), (LATENCY_PROFILE, False, False),
                                  (LATENCY_PROFILE, True, False), (LATENCY_PROFILE, True, True)):
            r = measure_latency(a.build, service, size, rounds, options, pin, shm)
            cols.append(f"{r['p50']:>7.1f}/{r['p99']:<8.1f} {r['pp50']:>6.1f}/{r['pp99']:<7.1f} "
                        f"{r['sp50']:>6.1f}/{r['sp99']:<7.1f} {r['cpus']:>5.2f}")
        print(f"{service:<7} {size:>6} | {' | '.join(cols)}", flush=True)
    print("goals (issue 4): ≥ 150,000 msg/s for 1 KB AGREED with 3 daemons; p50 ≤ 30 µs AGREED, "
          "≤ 50 µs SAFE (Spread 5.0.1 here: 25-40 k msg/s, 55 µs, 103 µs)")
    count = int(200000 * scale)
    before, after, peak, cut = slow_reader(a.build, count)
    print(f"a member that never reads, {count} × 1 KB AGREED sent: daemon RSS KiB before "
          f"{before}, after {after}, peak {peak}; slow reader disconnected: {cut}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""sp_bench.py — Spread's C API through Chorus's library, beside a baseline, against the same
three chorusd daemons (issue 19, item 6).

Three daemons on 127.0.0.1–3. One sender on d1 floods AGREED messages with 200 of its own
outstanding (it counts its own deliveries, as Spread's flooder does); one receiver on d2 and one
on d3 (three members in all) that start reading once the sender is done, so they drain a full
mailbox. Each run prints the sender's rate (first send to its last own delivery) and the slower
receiver's (first message to last). The libraries compared:

  pattern        the baseline, bench/spread_pattern.c: a client making the system calls Spread
                 5.0.1's libspread makes per message (blocking socket; a send is one send() for
                 header and group names and one for the body; a receive is one recv() each for
                 header, names and body). Spread's own library is not in Debian's archive and
                 cannot be built here, so this is the closest measurable stand-in.
  chorus         Chorus's libchorus (sp.h): over TCP, and over the Unix socket with its default,
                 requests through shared memory;
  chorus-socket  libchorus over the Unix socket with CHORUS_SHARED_MEMORY=0.

The daemons queue a whole run's messages for a client (MaxSessionMessages); keep COUNT × (BYTES +
80) below the daemon's 64 MiB per client.

Besides the rates, which the daemons set more than the clients, each client prints its own CPU
time (user and system) per message: the cost of the library itself, which is what differs.
Rounds are interleaved (pattern, chorus, ... per round) so a slow moment of the machine falls on
all; the table gives each library's median over the rounds and how many times less CPU per
message it needs than the pattern.

Usage: bench/sp_bench.py [--build build] [--rounds 3] [--count 50000] [--quick]
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def run_once(bench, cluster, library, transport, count, size, group):
    env = dict(os.environ)
    api = "pattern" if library == "pattern" else "chorus"
    if library == "chorus-socket":
        env["CHORUS_SHARED_MEMORY"] = "0"

    def where(i):
        if transport == "unix":
            return cluster.unix_path(i)
        host, port = cluster.tcp(i)
        return f"{port}@{host}"

    receivers = []
    for i in (2, 3):
        p = subprocess.Popen([bench, api, "recv", where(i), group, str(count), str(size)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        line = p.stdout.readline()
        if line.strip() != "joined":
            raise RuntimeError(f"{library} receiver on d{i}: {line!r} {p.communicate()[1]!r}")
        receivers.append(p)
    sender = subprocess.run([bench, api, "send", where(1), group, str(count), str(size), "3",
                             "200"], capture_output=True, text=True, env=env, timeout=300)
    if sender.returncode != 0:
        raise RuntimeError(f"{library} sender: {sender.stderr}")
    words = sender.stdout.split()
    send_rate, send_cpu = count / float(words[3]), float(words[6])
    receive_rates, receive_cpus = [], []
    for p in receivers:
        out, err = p.communicate("go\n", timeout=300)
        if p.returncode != 0 or not out.startswith(f"received {count} "):
            raise RuntimeError(f"{library} receiver: {out!r} {err!r}")
        words = out.split()
        receive_rates.append(count / float(words[3]))
        receive_cpus.append(float(words[6]))
    return send_rate, min(receive_rates), send_cpu, statistics.mean(receive_cpus)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=40000)
    ap.add_argument("--quick", action="store_true", help="one short round (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.count = 1, 2000
    build = Path(args.build).resolve()
    bench = str(build / "bench" / "sp_bench")
    os.environ.setdefault("CHORUSD", str(build / "tools" / "chorusd"))
    import cluster  # after CHORUSD is set

    sizes = [100] if args.quick else [100, 1000]
    cases = [(t, s) for t in ("tcp", "unix") for s in sizes]
    libraries = {"tcp": ["pattern", "chorus"], "unix": ["pattern", "chorus-socket", "chorus"]}
    results = {}
    # The sender paces itself by its own deliveries only, so a receiver may fall a whole run
    # behind: the daemons may queue that much for it instead of cutting it off as too slow.
    c = cluster.Cluster(3, options=(f"MaxSessionMessages = {args.count + 1000}",))
    try:
        c.start_all()
        c.wait_ring([1, 2, 3])
        run = 0
        for r in range(args.rounds):
            for transport, size in cases:
                for library in libraries[transport]:
                    run += 1
                    rate = run_once(bench, c, library, transport, args.count, size, f"b{run}")
                    results.setdefault((transport, size, library), []).append(rate)
                    print(f"round {r + 1}: {transport} {size:>5} B {library:<13} "
                          f"send {rate[0]:>7.0f}/s {rate[2]:5.2f} µs  "
                          f"receive {rate[1]:>7.0f}/s {rate[3]:5.2f} µs", flush=True)
    except BaseException:
        for i in (1, 2, 3):
            print(f"---- d{i}'s log ----\n{c.log(i)[-3000:]}", file=sys.stderr)
        raise
    finally:
        c.close()

    print()
    print(f"AGREED, 3 daemons, 1 sender (window 200) + 2 receivers, {args.count} messages, "
          f"median of {args.rounds} interleaved rounds")
    print("rate: messages/s (the daemons set it); CPU: the client process's user+system time per "
          "message (the library's cost)")
    print(f"{'transport':<9} {'size':>6}  {'library':<13} {'send/s':>8} {'recv/s':>8}  "
          f"{'send CPU':>9} {'recv CPU':>9}  {'CPU: pattern / this':>19}")
    for transport, size in cases:
        def med(library, k):
            return statistics.median(x[k] for x in results[(transport, size, library)])
        for library in libraries[transport]:
            gain = (f"{med('pattern', 2) / med(library, 2):.2f}x send "
                    f"{med('pattern', 3) / med(library, 3):.2f}x recv")
            print(f"{transport:<9} {size:>4} B  {library:<13} {med(library, 0):>8.0f} "
                  f"{med(library, 1):>8.0f}  {med(library, 2):>6.2f} µs {med(library, 3):>6.2f} µs"
                  f"  {gain:>19}")


if __name__ == "__main__":
    main()

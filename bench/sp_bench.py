#!/usr/bin/env python3
"""sp_bench.py — Spread's C API through Chorus's library, beside a baseline, against the same
three chorusd daemons (issue 19, item 6).

Three daemons on 127.0.0.1–3. One sender on d1 floods AGREED messages with 200 of its own
outstanding (it counts its own deliveries, as Spread's flooder does); one receiver on d2 and one
on d3 (three members in all). Each run prints the sender's rate (first send to its last own
delivery) and the slower receiver's. The libraries compared:

  pattern        the baseline, bench/spread_pattern.c: a client making the system calls Spread
                 5.0.1's libspread makes per message (blocking socket; a send is one send() for
                 header and group names and one for the body; a receive is one recv() each for
                 header, names and body). Spread's own library is not in Debian's archive and
                 cannot be built here, so this is the closest measurable stand-in.
  chorus         Chorus's libchorus (sp.h): over TCP, and over the Unix socket with its default,
                 requests through shared memory;
  chorus-socket  libchorus over the Unix socket with CHORUS_SHARED_MEMORY=0.

The daemons queue up to a whole run's messages for a client (MaxSessionMessages), so a receiver
that falls behind the sender is measured, not cut off.

Rounds are interleaved (pattern, chorus, ... per round) so a slow moment of the machine falls on
both; the table gives each library's median over the rounds and chorus / pattern.

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
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = p.stdout.readline()
        if line.strip() != "joined":
            raise RuntimeError(f"{library} receiver on d{i}: {line!r} {p.communicate()[1]!r}")
        receivers.append(p)
    sender = subprocess.run([bench, api, "send", where(1), group, str(count), str(size), "3",
                             "200"], capture_output=True, text=True, env=env, timeout=300)
    if sender.returncode != 0:
        raise RuntimeError(f"{library} sender: {sender.stderr}")
    rates = [count / float(sender.stdout.split()[3])]
    for p in receivers:
        out, err = p.communicate(timeout=300)
        if p.returncode != 0 or not out.startswith(f"received {count} "):
            raise RuntimeError(f"{library} receiver: {out!r} {err!r}")
        rates.append(count / float(out.split()[3]))
    return rates[0], min(rates[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=50000)
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
                          f"send {rate[0]:>9.0f}/s  receive {rate[1]:>9.0f}/s", flush=True)
    except BaseException:
        for i in (1, 2, 3):
            print(f"---- d{i}'s log ----\n{c.log(i)[-3000:]}", file=sys.stderr)
        raise
    finally:
        c.close()

    print()
    print(f"AGREED, 3 daemons, 1 sender (window 200) + 2 receivers, {args.count} messages, "
          f"median of {args.rounds} interleaved rounds (messages/s)")
    print(f"{'transport':<9} {'size':>6}  {'library':<13} {'send':>9} {'receive':>9}  "
          f"{'vs pattern':>10}")
    for transport, size in cases:
        base = statistics.median(x[1] for x in results[(transport, size, "pattern")])
        for library in libraries[transport]:
            runs = results[(transport, size, library)]
            send = statistics.median(x[0] for x in runs)
            receive = statistics.median(x[1] for x in runs)
            print(f"{transport:<9} {size:>4} B  {library:<13} {send:>9.0f} {receive:>9.0f}  "
                  f"{receive / base:>9.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""demo_clients.py — the client side of scripts/demo.

Three clients, one per daemon, join group "demo" and each send AGREED messages; every client
prints what it receives, and all three print the same order. Then the daemon of the third
client is killed with SIGKILL (by the pid file the demo wrote) and the two survivors print the
TRANSITION and the REG_MEMB|CAUSED_BY_NETWORK messages that follow; the daemon is restarted and
a new client on it joins again.

Usage: demo_clients.py <demo dir> <port1> <port2> <port3>  (the demo dir holds the Unix sockets)
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import spread_client as sp  # noqa: E402


def show(who, m):
    if m.is_regular():
        print(f"  {who:<9} got {sp.type_name(m.type):<6} from {m.sender}: {m.data.decode()}")
    elif m.is_transition():
        print(f"  {who:<9} got TRANSITION for group {m.sender}")
    elif m.is_reg_memb():
        print(f"  {who:<9} got REG_MEMB ({m.cause()}) for {m.sender}: members {m.groups}, "
              f"vs-sets {m.vs_sets}")


def main():
    run_dir, ports = sys.argv[1], sys.argv[2:5]
    names = ["alice", "bob", "carol"]
    clients = [sp.connect(os.path.join(run_dir, p), n) for p, n in zip(ports, names)]
    print("three clients, one on each daemon, join group 'demo':")
    for c in clients:
        c.join("demo")
    for c, n in zip(clients, names):
        m, _ = c.receive_until(lambda m: m.is_reg_memb() and len(m.groups) == 3, 10)
        show(n, m)

    print("\neach client sends two AGREED messages at once; every client sees one order:")
    for round_ in range(2):
        for c, n in zip(clients, names):
            c.multicast(sp.AGREED_MESS, ["demo"], f"{n} #{round_ + 1}".encode())
    orders = []
    for c, n in zip(clients, names):
        got = [c.receive_until(lambda m: m.is_regular(), 5)[0] for _ in range(6)]
        orders.append([m.data for m in got])
        print(f"  {n:<9} received: " + ", ".join(m.data.decode() for m in got))
    print("  same order everywhere:", all(o == orders[0] for o in orders))

    with open(os.path.join(run_dir, "d3.pid")) as f:
        pid = int(f.read())
    print(f"\nkill -9 of daemon d3 (pid {pid}), carol's daemon:")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    for c, n in zip(clients[:2], names[:2]):
        m, _ = c.receive_until(lambda m: m.is_transition(), 10)
        show(n, m)
        m, _ = c.receive_until(lambda m: m.is_reg_memb(), 10)
        show(n, m)
    print(f"  (new view {1000 * (time.monotonic() - t0):.0f} ms after the kill)")

    print("\nrestart d3; dave connects to it and joins:")
    subprocess.run([os.path.join(run_dir, "start-d3")], check=True)
    dave = None
    deadline = time.monotonic() + 10
    while dave is None:
        try:
            dave = sp.connect(os.path.join(run_dir, ports[2]), "dave")
        except (OSError, sp.ConnectionClosed):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    dave.join("demo")
    for c, n in zip(clients[:2] + [dave], names[:2] + ["dave"]):
        m, _ = c.receive_until(lambda m: m.is_reg_memb() and len(m.groups) == 3, 10)
        show(n, m)
    for c in clients[:2] + [dave]:
        c.disconnect()


if __name__ == "__main__":
    main()

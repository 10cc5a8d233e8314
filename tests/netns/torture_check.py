#!/usr/bin/env python3
"""torture_check.py — offline checker of one torture run: reads the JSON-lines logs that every
torture_client wrote (tests/netns/torture_client.c names the events) and checks the guarantees of
Extended Virtual Synchrony as a client sees them. Exits 1 on any violation, 0 otherwise.

A connection is identified by its private group ("c" in every line); a process may have several
in turn (reconnects get a new name). Kinds of violation:

  integrity      a delivery whose checksum, sender, service, groups or size differ from the send
  duplicate      a connection delivers one message twice
  fifo           a sender's FIFO/CAUSAL/AGREED/SAFE messages reach a connection out of order
  hole           inside one view of the receiver, a sender's message between two it delivered
                 (addressed to that group, FIFO or stronger) is missing
  total_order    AGREED/SAFE messages are not in one order at every connection (a cycle)
  causal         m reached a connection before a message its sender had sent or delivered
                 before sending m (CAUSAL, AGREED and SAFE messages)
  outside_view   a data message reached a connection that was in none of its groups at that
                 point of its own views (and it was not sent to its private group)
  gid            one (group, gid) with two member lists, or a connection seeing a gid come back
  vs             two connections that install the same view V' of a group, each in the other's
                 vs-set, came from different previous views, or delivered different
                 messages of the group in the previous view V
  safe           a SAFE message delivered in a regular view V is missing at a member of V
                 that installed V and then stayed in the group and connected (a later view
                 or the end), which includes every member that moved on with the deliverer
  self_delivery  a connection that stayed to the end did not get its own message to a group
                 it was in (not sent with SELF_DISCARD), or got back one sent with it
  converge       at the end, the live connections of a group are not in one view, or that view
                 does not list exactly them

usage: torture_check.py [--timeline FILE] [--json OUT] [--examples N] LOG_OR_DIR...
The timeline (written by torture.py) is a JSON list of {"t": monotonic ns, "what": text}; with
it, the summary names, per fault, how long the surviving connections took to their next
regular view.
"""

from __future__ import annotations

import argparse
import bisect
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

AGREED, SAFE, FIFO, RELIABLE, CAUSAL, UNRELIABLE = 0x10, 0x20, 0x04, 0x02, 0x08, 0x01
ORDERED = {FIFO, CAUSAL, AGREED, SAFE}   # per-sender order, no holes
TOTAL = {AGREED, SAFE}
CAUSAL_CLASS = {CAUSAL, AGREED, SAFE}
KINDS = ["integrity", "duplicate", "fifo", "hole", "total_order", "causal", "outside_view",
         "gid", "vs", "safe", "self_delivery", "converge"]


class View:
    __slots__ = ("group", "gid", "members", "vs", "cause", "t", "msgs", "trans", "next", "conn")

    def __init__(self, conn, group, gid, members, vs, cause, t):
        self.conn, self.group, self.gid = conn, group, gid
        self.members, self.vs, self.cause, self.t = members, vs, cause, t
        self.msgs: set = set()     # keys of messages for this group delivered in this view
        self.trans = False         # a TRANSITION_MESS arrived in this view
        self.next = None           # gid of the next view, "LEFT", "END" (final) or "GONE"


class Conn:
    def __init__(self, name):
        self.name = name
        self.events: list[dict] = []
        self.final = False
        self.pos: dict = {}        # message key -> index in its delivery sequence
        self.views: dict[str, list[View]] = defaultdict(list)
        self.final_views: dict[str, View] = {}


class Checker:
    def __init__(self, examples: int = 5):
        self.conns: dict[str, Conn] = {}
        self.sends: dict = {}          # (sender, ctr) -> send event
        self.failed_sends: set = set()
        self.violations: dict[str, list[str]] = defaultdict(list)
        self.examples = examples
        self.counts = {"lines": 0, "bad_lines": 0, "errors": 0, "connect_failed": 0}
        self.delivered_by: dict = defaultdict(list)   # key -> [(conn, pos)]
        self.view_index: dict = {}     # (conn, group, gid) -> View
        self.membs = 0
        self.trans_count = 0
        # how much each check had to look at (a check that saw nothing proves nothing)
        self.checked = defaultdict(int)

    # ---- input ----

    def load_lines(self, lines) -> None:
        for line in lines:
            self.counts["lines"] += 1
            try:
                e = json.loads(line)
            except ValueError:
                self.counts["bad_lines"] += 1   # the cut last line of a killed client
                continue
            c = e.get("c") or ""
            ev = e.get("ev")
            if ev == "connect_failed":
                self.counts["connect_failed"] += 1
            if ev == "error":
                self.counts["errors"] += 1
            if not c:
                continue
            conn = self.conns.get(c)
            if conn is None:
                conn = self.conns[c] = Conn(c)
            conn.events.append(e)
            if ev == "send":
                self.sends[(c, e["ctr"])] = e
            elif ev == "send_failed":
                self.failed_sends.add((c, e["ctr"]))
            elif ev == "final":
                conn.final = True

    def load_paths(self, paths) -> None:
        files = []
        for p in paths:
            files += sorted(glob.glob(os.path.join(p, "*.jsonl"))) if os.path.isdir(p) else [p]
        for f in files:
            with open(f, errors="replace") as fh:
                self.load_lines(fh)

    def flag(self, kind: str, text: str) -> None:
        self.violations[kind].append(text)

    # ---- the walk over each connection: views, deliveries, integrity, self-delivery ----

    @staticmethod
    def effective_vs(conn, members, vs, cause):
        """Who came with the receiver from its previous view. For network changes that is the
        vs-set; Spread's join/leave/disconnect views carry the changed member instead."""
        if cause == "network":
            return frozenset(vs)
        if cause == "join":
            joiner = vs[0] if vs else None
            if joiner == conn:
                return frozenset([conn])
            return frozenset(m for m in members if m != joiner)
        return frozenset(members)

    def walk(self, conn: Conn) -> None:
        current: dict[str, View | None] = {}
        pending_leave: set = set()
        seen_gids: dict[str, list] = defaultdict(list)
        expected_self: list = []
        n = 0
        for e in conn.events:
            ev = e["ev"]
            if ev == "memb":
                self.membs += 1
                g, gid = e["g"], tuple(e["gid"])
                prev = current.get(g)
                if prev is not None:
                    prev.next = gid
                if gid in seen_gids[g] and (prev is None or prev.gid != gid):
                    self.flag("gid", f"{conn.name} sees gid {list(gid)} of {g} again at "
                                     f"t={e['t']} after {len(seen_gids[g])} views")
                seen_gids[g].append(gid)
                v = View(conn.name, g, gid, list(e["members"]),
                         self.effective_vs(conn.name, e["members"], e.get("vs", []),
                                           e["cause"]), e["cause"], e["t"])
                current[g] = v
                conn.views[g].append(v)
                self.view_index[(conn.name, g, gid)] = v
            elif ev == "trans":
                self.trans_count += 1
                v = current.get(e["g"])
                if v is not None:
                    v.trans = True
            elif ev == "selfleave":
                v = current.get(e["g"])
                if v is not None:
                    v.next = "LEFT"
                current[e["g"]] = None
                conn.views[e["g"]].append(None)
                pending_leave.discard(e["g"])
            elif ev == "leave":
                pending_leave.add(e["g"])
            elif ev == "join":
                pending_leave.discard(e["g"])
            elif ev == "send":
                if e.get("sd"):
                    continue
                groups = e["groups"]
                mine = conn.name in groups or any(
                    current.get(g) is not None and g not in pending_leave for g in groups)
                if mine:
                    expected_self.append((conn.name, e["ctr"]))
            elif ev == "recv":
                self.check_integrity(conn, e)
                key = (e["hfrom"] or e["from"], e["ctr"])
                if key in conn.pos:
                    self.flag("duplicate", f"{conn.name} delivers {key} again at t={e['t']}")
                    continue
                if key[0] == conn.name and e.get("sd"):
                    self.flag("self_delivery", f"{conn.name} got back its own {key} sent with "
                                               f"SELF_DISCARD (t={e['t']})")
                conn.pos[key] = n
                self.delivered_by[key].append((conn.name, n))
                n += 1
                groups = e["groups"]
                inside = [g for g in groups if current.get(g) is not None]
                if not inside and conn.name not in groups:
                    self.flag("outside_view", f"{conn.name} delivers {key} for {groups} at "
                                              f"t={e['t']} while in none of them")
                for g in inside:
                    v = current[g]
                    v.msgs.add(key)
                    if e["svc"] == SAFE and not v.trans:
                        self.safe_deliveries.append((conn.name, g, v, key))
        for g, v in current.items():
            if v is not None:
                v.next = "END" if conn.final else "GONE"
                if conn.final:
                    conn.final_views[g] = v
        if conn.final:
            self.checked["self_delivery"] += len(expected_self)
            for key in expected_self:
                if key not in conn.pos and key not in self.failed_sends:
                    s = self.sends[key]
                    self.flag("self_delivery", f"{conn.name} never got its own {key} "
                                               f"({s['svc']} to {s['groups']}, t={s['t']})")

    def check_integrity(self, conn: Conn, e: dict) -> None:
        key = (e["hfrom"], e["ctr"])
        s = self.sends.get(key)
        where = f"{conn.name} t={e['t']} from {e['from']}"
        if e["ok"] not in ("ok", "trunc"):
            self.flag("integrity", f"{where}: payload {e['ok']} ({key})")
            return
        if s is None:
            self.flag("integrity", f"{where}: {key} was never sent")
            return
        wrong = []
        if e["from"] != e["hfrom"]:
            wrong.append(f"sender {e['from']} != {e['hfrom']}")
        if e["svc"] != s["svc"] or e["hsvc"] != s["svc"]:
            wrong.append(f"service {e['svc']}/{e['hsvc']} != {s['svc']}")
        if not e.get("gcut") and e["groups"] != s["groups"]:
            wrong.append(f"groups {e['groups']} != {s['groups']}")
        if e["hgroups"] != ",".join(s["groups"]):
            wrong.append(f"header groups {e['hgroups']}")
        if e["size"] != s["size"]:
            wrong.append(f"size {e['size']} != {s['size']}")
        if bool(e.get("sd")) != bool(s.get("sd")):
            wrong.append("SELF_DISCARD bit")
        if wrong:
            self.flag("integrity", f"{where} {key}: " + "; ".join(wrong))

    # ---- checks across connections ----

    def check_fifo_and_holes(self) -> None:
        by_sender_group: dict = defaultdict(list)   # (sender, group) -> sorted ctrs, ordered svc
        for (s, ctr), e in self.sends.items():
            if e["svc"] in ORDERED and (s, ctr) not in self.failed_sends:
                for g in e["groups"]:
                    by_sender_group[(s, g)].append(ctr)
        for v in by_sender_group.values():
            v.sort()
        for conn in self.conns.values():
            last: dict = {}
            for e in conn.events:
                if e["ev"] != "recv" or e["svc"] not in ORDERED:
                    continue
                s, ctr = e["hfrom"] or e["from"], e["ctr"]
                if s in last and ctr <= last[s]:
                    if ctr != last[s]:  # equal is a duplicate, reported as such
                        self.flag("fifo", f"{conn.name} delivers {s} #{ctr} after #{last[s]} "
                                          f"(t={e['t']})")
                last[s] = max(ctr, last.get(s, ctr))
            for g, views in conn.views.items():
                for v in views:
                    if v is None:
                        continue
                    per_sender: dict = defaultdict(list)
                    for (s, ctr) in v.msgs:
                        if self.sends.get((s, ctr), {}).get("svc") in ORDERED:
                            per_sender[s].append(ctr)
                    for s, ctrs in per_sender.items():
                        if len(ctrs) < 2:
                            continue
                        lo, hi = min(ctrs), max(ctrs)
                        self.checked["hole"] += 1
                        all_ctrs = by_sender_group[(s, g)]
                        i = bisect.bisect_right(all_ctrs, lo)
                        j = bisect.bisect_left(all_ctrs, hi)
                        for k in all_ctrs[i:j]:
                            if (s, k) in conn.pos:
                                continue
                            if s == conn.name and self.sends[(s, k)].get("sd"):
                                continue
                            self.flag("hole", f"{conn.name} in view {list(v.gid)} of {g} got "
                                              f"{s} #{lo}..#{hi} but not #{k}")

    def check_total_order(self) -> None:
        succ: dict = defaultdict(set)
        seqs: dict[str, list] = {}
        for conn in self.conns.values():
            seq = [(e["hfrom"] or e["from"], e["ctr"]) for e in conn.events
                   if e["ev"] == "recv" and e["svc"] in TOTAL]
            seen, uniq = set(), []
            for k in seq:
                if k not in seen:
                    seen.add(k)
                    uniq.append(k)
            seqs[conn.name] = uniq
            for a, b in zip(uniq, uniq[1:]):
                succ[a].add(b)
            self.checked["total_order"] += len(uniq)
        sccs = [c for c in strongly_connected(succ) if len(c) > 1]
        for comp in sccs:
            self.flag("total_order", self.explain_cycle(comp, seqs))

    @staticmethod
    def explain_cycle(comp, seqs) -> str:
        comp = set(comp)
        orders = {c: [k for k in s if k in comp] for c, s in seqs.items()}
        names = [c for c, o in orders.items() if len(o) > 1]
        for i, a in enumerate(names):
            pa = {k: n for n, k in enumerate(orders[a])}
            for b in names[i + 1:]:
                common = [k for k in orders[b] if k in pa]
                for x, y in zip(common, common[1:]):
                    if pa[x] > pa[y]:
                        return (f"{len(comp)} AGREED/SAFE messages in a cycle: {a} delivers "
                                f"{y} before {x}, {b} the other way round")
        return f"{len(comp)} AGREED/SAFE messages in a cycle of orders across connections"

    def check_causal(self) -> None:
        for sender in self.conns.values():
            runmax: dict[str, tuple[int, tuple]] = {}
            for e in sender.events:
                ev = e["ev"]
                if ev == "recv" and e["svc"] in CAUSAL_CLASS:
                    key = (e["hfrom"] or e["from"], e["ctr"])
                elif ev == "send" and e["svc"] in CAUSAL_CLASS:
                    key = (sender.name, e["ctr"])
                    for c, p in self.delivered_by.get(key, ()):
                        self.checked["causal"] += 1
                        before = runmax.get(c)
                        if before is not None and before[0] > p:
                            self.flag("causal", f"{c} delivers {key} before {before[1]}, which "
                                                f"{sender.name} had seen before sending it")
                else:
                    continue
                for c, p in self.delivered_by.get(key, ()):
                    if c not in runmax or runmax[c][0] < p:
                        runmax[c] = (p, key)

    def check_gids(self) -> None:
        lists: dict = {}
        for conn in self.conns.values():
            for g, views in conn.views.items():
                for v in views:
                    if v is None:
                        continue
                    k = (g, v.gid)
                    if k not in lists:
                        lists[k] = (v.members, conn.name)
                    elif lists[k][0] != v.members:
                        self.flag("gid", f"gid {list(v.gid)} of {g}: {lists[k][1]} sees "
                                         f"{lists[k][0]}, {conn.name} sees {v.members}")

    def discarded(self, key, conn: str) -> bool:
        """key was sent by conn with SELF_DISCARD (so conn never gets it)."""
        return key[0] == conn and bool(self.sends.get(key, {}).get("sd"))

    def check_vs(self) -> None:
        """Two connections that install the same view V' of G, each in the other's vs-set,
        came from the same previous view V and delivered the same messages of G in V."""
        steps: dict = defaultdict(list)   # (group, gid of V') -> [(conn, vs of V', V)]
        for conn in self.conns.values():
            for g, views in conn.views.items():
                for v, w in zip(views, views[1:]):
                    if v is None or w is None:
                        continue
                    steps[(g, w.gid)].append((conn.name, w.vs, v))
        for (g, nxt), rows in steps.items():
            for i, (a, vs_a, va) in enumerate(rows):
                for b, vs_b, vb in rows[i + 1:]:
                    if b not in vs_a or a not in vs_b:
                        continue
                    self.checked["vs"] += 1
                    if va.gid != vb.gid:
                        self.flag("vs", f"{g} -> {list(nxt)}: {a} and {b} in one vs-set, but "
                                        f"{a} comes from {list(va.gid)} ({len(va.msgs)} "
                                        f"delivered) and {b} from {list(vb.gid)} "
                                        f"({len(vb.msgs)} delivered)")
                        continue
                    if va.msgs == vb.msgs:
                        continue
                    # a sender's own SELF_DISCARD messages count as delivered to it
                    only_a = sorted(k for k in va.msgs - vb.msgs if not self.discarded(k, b))
                    only_b = sorted(k for k in vb.msgs - va.msgs if not self.discarded(k, a))
                    if only_a or only_b:
                        self.flag("vs", f"{g} {list(va.gid)} -> {list(nxt)}: {a} and {b} in "
                                        f"one vs-set; only {a}: {len(only_a)} {only_a[:3]}, "
                                        f"only {b}: {len(only_b)} {only_b[:3]}")

    def check_safe(self) -> None:
        for deliverer, g, v, key in self.safe_deliveries:
            for m in v.members:
                if m == deliverer or m not in self.conns:
                    continue
                w = self.view_index.get((m, g, v.gid))
                # m stays in G and connected (EVS: every member of V that does not crash);
                # this covers the members that move with the deliverer to its next view
                if w is None or w.next in ("LEFT", "GONE"):
                    continue
                self.checked["safe"] += 1
                if key not in w.msgs and not self.discarded(key, m):
                    self.flag("safe", f"SAFE {key} delivered by {deliverer} in regular view "
                                      f"{list(v.gid)} of {g}; {m}, in that view and the next, "
                                      f"did not deliver it in the view")

    def check_convergence(self) -> None:
        live: dict[str, list[Conn]] = defaultdict(list)
        for conn in self.conns.values():
            for g in conn.final_views:
                live[g].append(conn)
        for g, conns in sorted(live.items()):
            self.checked["converge"] += len(conns)
            gids = defaultdict(list)
            for c in conns:
                gids[c.final_views[g].gid].append(c.name)
            if len(gids) > 1:
                desc = "; ".join(f"{list(k)}: {len(v)} ({v[0]}…)" for k, v in gids.items())
                self.flag("converge", f"{g}: the live connections end in {len(gids)} views: {desc}")
                continue
            members = set(conns[0].final_views[g].members)
            names = {c.name for c in conns}
            if members != names:
                self.flag("converge", f"{g}: the final view lists {sorted(members - names)} not "
                                      f"live, misses {sorted(names - members)}")

    # ---- driver ----

    def run(self) -> None:
        self.safe_deliveries = []
        for conn in self.conns.values():
            self.walk(conn)
        self.check_fifo_and_holes()
        self.check_total_order()
        self.check_causal()
        self.check_gids()
        self.check_vs()
        self.check_safe()
        self.check_convergence()

    def figures(self) -> dict:
        delivered = sum(len(c.pos) for c in self.conns.values())
        return {
            "connections": len(self.conns),
            "connections_to_the_end": sum(c.final for c in self.conns.values()),
            "sent": len(self.sends), "send_failed": len(self.failed_sends),
            "delivered": delivered,
            "views": self.membs, "transitions": self.trans_count,
            "distinct_views": len({(g, v.gid) for c in self.conns.values()
                                   for g, vs in c.views.items() for v in vs if v}),
            **self.counts,
            "checked": dict(self.checked),
            "violations": {k: len(v) for k, v in self.violations.items() if v},
        }

    def recovery(self, timeline: list[dict]) -> list[dict]:
        """Per fault: how long the connections alive across it took to their next regular view
        (first REG_MEMB of any group after the fault time)."""
        out = []
        for f in timeline:
            t = f["t"]
            waits, none = [], 0
            for conn in self.conns.values():
                ts = [e["t"] for e in conn.events]
                if not ts or ts[0] > t or ts[-1] < t:
                    continue
                after = [e["t"] for e in conn.events if e["ev"] == "memb" and e["t"] > t]
                if after:
                    waits.append((after[0] - t) / 1e6)
                else:
                    none += 1
            row = {"what": f["what"], "connections": len(waits) + none,
                   "without_new_view": none}
            if waits:
                row.update(median_ms=round(statistics.median(waits), 1),
                           max_ms=round(max(waits), 1))
            out.append(row)
        return out

    def report(self, out=sys.stdout, timeline=None) -> int:
        f = self.figures()
        print(f"torture_check: {f['connections']} connections ({f['connections_to_the_end']} to "
              f"the end), {f['sent']} sent ({f['send_failed']} failed), {f['delivered']} "
              f"delivered, {f['views']} views ({f['distinct_views']} distinct), "
              f"{f['transitions']} transitional signals, {f['errors']} client errors, "
              f"{f['connect_failed']} failed connects", file=out)
        print("  checked: " + ", ".join(f"{k} {v}" for k, v in sorted(self.checked.items())),
              file=out)
        if timeline:
            for r in self.recovery(timeline):
                extra = (f"median {r['median_ms']} ms, max {r['max_ms']} ms"
                         if "median_ms" in r else "no new view")
                print(f"  fault '{r['what']}': {r['connections']} connections, next regular "
                      f"view {extra}, {r['without_new_view']} without one", file=out)
        total = 0
        for kind in KINDS:
            v = self.violations.get(kind, [])
            total += len(v)
            if v:
                print(f"  VIOLATION {kind}: {len(v)}", file=out)
                for text in v[:self.examples]:
                    print(f"    {text}", file=out)
        print("torture_check: " + ("OK, no violation" if total == 0 else
                                   f"FAILED, {total} violations"), file=out)
        return 1 if total else 0


def strongly_connected(succ: dict) -> list[list]:
    """Tarjan's algorithm without recursion; returns the components."""
    index, low, on, stack, comps = {}, {}, set(), [], []
    counter = 0
    nodes = set(succ)
    for vs in succ.values():
        nodes |= vs
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(succ.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == node:
                        break
                comps.append(comp)
    return comps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="client logs, or directories of *.jsonl")
    ap.add_argument("--timeline", help="faults of the run (JSON list of {t, what})")
    ap.add_argument("--json", help="write the figures and violations here")
    ap.add_argument("--examples", type=int, default=5)
    a = ap.parse_args(argv)
    ck = Checker(a.examples)
    ck.load_paths(a.logs)
    ck.run()
    timeline = None
    if a.timeline:
        with open(a.timeline) as fh:
            timeline = json.load(fh)
    rc = ck.report(timeline=timeline)
    if a.json:
        doc = ck.figures()
        doc["examples"] = {k: v[:a.examples] for k, v in ck.violations.items()}
        if timeline:
            doc["recovery"] = ck.recovery(timeline)
        with open(a.json, "w") as fh:
            json.dump(doc, fh, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""torture_selftest.py — proves that torture_check.py can fail: builds a small correct history of
three connections (views, a 2|1 partition and its merge, every service level, an open-group send,
a message to a private group), checks that it passes, then breaks it in one way per kind of
violation and checks that each break is caught as that kind. No daemon, no root; under a second.

Run: python3 tests/netns/torture_selftest.py -v
"""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torture_check as tc  # noqa: E402

A, B, C = "#a#d1", "#b#d2", "#c#d3"
AGREED, SAFE, FIFO, RELIABLE, CAUSAL = tc.AGREED, tc.SAFE, tc.FIFO, tc.RELIABLE, tc.CAUSAL


class History:
    """Appends events to each connection's log in the order a correct system would."""

    def __init__(self):
        self.logs = {A: [], B: [], C: []}
        self.t = 1000
        self.ctr = {A: 0, B: 0, C: 0}

    def add(self, conn, ev, **fields):
        self.t += 1000
        e = {"t": self.t, "c": conn, "ev": ev, **fields}
        self.logs[conn].append(e)
        return e

    def view(self, group, gid, members, cause, to=None, vs=None):
        for c in to or members:
            self.add(c, "memb", g=group, gid=list(gid), members=list(members),
                     vs=list(vs.get(c, members) if isinstance(vs, dict) else (vs or members)),
                     nvs=1, cause=cause)

    def msg(self, sender, svc, groups, receivers, sd=0):
        self.ctr[sender] += 1
        k = self.ctr[sender]
        size = 100 + k
        self.add(sender, "send", ctr=k, svc=svc, groups=list(groups), size=size,
                 sum="0" * 16, sd=sd)
        for r in receivers:
            self.add(r, "recv", **{"from": sender}, svc=svc, groups=list(groups), gcut=0,
                     size=size, got=size, ctr=k, hsvc=svc, hgroups=",".join(groups),
                     hfrom=sender, ok="ok", trunc=0, sd=sd)
        return (sender, k)

    def lines(self):
        import json
        return [json.dumps(e) for log in self.logs.values() for e in log]


def correct_history() -> History:
    h = History()
    for c in (A, B, C):
        h.add(c, "connect", daemon="x", name=c.split("#")[1])
        h.add(c, "join", g="g")
    h.view("g", (1, 1, 3), [A, B, C], "network")
    everyone = [A, B, C]
    h.msg(A, AGREED, ["g"], everyone)
    h.msg(B, FIFO, ["g"], everyone)
    h.msg(A, FIFO, ["g"], everyone)             # A#2
    h.msg(A, FIFO, ["g"], everyone)             # A#3
    h.msg(A, FIFO, ["g"], everyone)             # A#4
    h.msg(C, SAFE, ["g"], everyone)             # C#1
    h.msg(B, AGREED, ["g"], everyone)           # B#2
    h.msg(A, RELIABLE, ["g"], everyone)         # A#5
    h.msg(C, CAUSAL, ["g"], everyone)           # C#2
    h.msg(A, CAUSAL, ["g"], everyone)           # A#6, after A delivered C#2
    h.msg(B, SAFE, ["g", C], everyone)          # B#3, to the group and C's private group
    h.msg(C, AGREED, ["x"], [])                 # C#3, open group nobody is in
    # partition: A and B on one side, C alone
    for c in everyone:
        h.add(c, "trans", g="g", gid=[1, 1, 3])
    h.view("g", (1, 2, 1), [A, B], "network", vs={A: [A, B], B: [A, B]})
    h.view("g", (3, 2, 1), [C], "network", vs=[C])
    h.msg(A, AGREED, ["g"], [A, B])             # A#7
    h.msg(C, AGREED, ["g"], [C])                # C#4
    h.msg(B, RELIABLE, ["g"], [A], sd=1)        # B#4, self-discarded
    h.msg(B, SAFE, ["g"], [A, B])               # B#5
    # merge
    h.view("g", (1, 3, 1), [A, B, C], "network", vs={A: [A, B], B: [A, B], C: [C]})
    h.msg(C, AGREED, ["g"], everyone)           # C#5
    h.msg(A, SAFE, ["g"], everyone)             # A#8
    for c in everyone:
        h.add(c, "final")
        h.add(c, "disconnect", how="end")
    return h


def check(h_or_lines) -> tc.Checker:
    ck = tc.Checker()
    ck.load_lines(h_or_lines.lines() if isinstance(h_or_lines, History) else h_or_lines)
    ck.run()
    return ck


def find(log, pred, nth=0):
    hits = [i for i, e in enumerate(log) if pred(e)]
    return hits[nth]


def recv_of(sender, ctr):
    return lambda e: e["ev"] == "recv" and e["hfrom"] == sender and e["ctr"] == ctr


class CheckerCatchesEachBreak(unittest.TestCase):
    def setUp(self):
        self.h = correct_history()

    def assertCaught(self, kind):
        ck = check(self.h)
        self.assertIn(kind, ck.violations, f"not caught as {kind}: {dict(ck.violations)}")

    def test_the_correct_history_passes(self):
        ck = check(self.h)
        self.assertEqual(dict(ck.violations), {})
        f = ck.figures()
        self.assertEqual(f["connections"], 3)
        self.assertGreater(f["delivered"], 30)

    def test_a_corrupted_checksum_is_integrity(self):
        self.h.logs[B][find(self.h.logs[B], recv_of(A, 3))]["ok"] = "bad"
        self.assertCaught("integrity")

    def test_a_changed_service_is_integrity(self):
        e = self.h.logs[C][find(self.h.logs[C], recv_of(A, 1))]
        e["svc"] = SAFE
        self.assertCaught("integrity")

    def test_a_duplicate_delivery(self):
        log = self.h.logs[B]
        i = find(log, recv_of(A, 3))
        log.insert(i + 1, copy.deepcopy(log[i]))
        self.assertCaught("duplicate")

    def test_reordered_fifo(self):
        log = self.h.logs[B]
        i, j = find(log, recv_of(A, 3)), find(log, recv_of(A, 4))
        log[i], log[j] = log[j], log[i]
        self.assertCaught("fifo")

    def test_a_hole_in_one_view(self):
        log = self.h.logs[C]
        del log[find(log, recv_of(A, 3))]
        self.assertCaught("hole")

    def test_two_agreed_swapped_at_one_receiver(self):
        log = self.h.logs[B]
        i, j = find(log, recv_of(C, 1)), find(log, recv_of(B, 2))  # SAFE then AGREED
        log[i], log[j] = log[j], log[i]
        ck = check(self.h)
        self.assertIn("total_order", ck.violations)
        self.assertNotIn("fifo", ck.violations)

    def test_broken_causality(self):
        # A#6 (CAUSAL) was sent after A delivered C#2; C delivers A#6 first. Different senders,
        # and CAUSAL is not totally ordered: only the causal check can see it.
        log = self.h.logs[B]
        i, j = find(log, recv_of(C, 2)), find(log, recv_of(A, 6))
        log[i], log[j] = log[j], log[i]
        ck = check(self.h)
        self.assertIn("causal", ck.violations)
        self.assertNotIn("total_order", ck.violations)

    def test_a_delivery_outside_any_view(self):
        # C's private-group-less delivery of a message to group "x", which C is not in
        log = self.h.logs[C]
        i = find(log, recv_of(A, 8))
        e = copy.deepcopy(log[i])
        e.update(groups=["x"], hgroups="x", ctr=9)
        log.insert(i + 1, e)
        self.h.logs[A].insert(find(self.h.logs[A], lambda e: e["ev"] == "final"),
                              {"t": 1, "c": A, "ev": "send", "ctr": 9, "svc": SAFE,
                               "groups": ["x"], "size": e["size"], "sum": "0" * 16, "sd": 0})
        self.assertCaught("outside_view")

    def test_a_delivery_before_the_first_view(self):
        log = self.h.logs[C]
        i = find(log, recv_of(A, 1))
        e = log.pop(i)
        log.insert(find(log, lambda e: e["ev"] == "memb"), e)
        self.assertCaught("outside_view")

    def test_a_reused_gid(self):
        log = self.h.logs[C]
        log[find(log, lambda e: e["ev"] == "memb", 1)]["gid"] = [1, 1, 3]
        self.assertCaught("gid")

    def test_one_gid_two_member_lists(self):
        log = self.h.logs[B]
        log[find(log, lambda e: e["ev"] == "memb", 2)]["members"] = [B, A, C]
        self.assertCaught("gid")

    def test_one_vs_set_two_message_sets(self):
        # A#5 is RELIABLE (no hole check): only virtual synchrony says B must have it too
        log = self.h.logs[B]
        del log[find(log, recv_of(A, 5))]
        ck = check(self.h)
        self.assertIn("vs", ck.violations)
        self.assertNotIn("hole", ck.violations)

    def test_one_vs_set_two_previous_views(self):
        # C merges from its own view but A and C both claim the other came along
        for c in (A, C):
            log = self.h.logs[c]
            log[find(log, lambda e: e["ev"] == "memb", 2)]["vs"] = [A, B, C]
        ck = check(self.h)
        self.assertIn("vs", ck.violations)
        self.assertIn("comes from", ck.violations["vs"][0])

    def test_a_lost_safe_delivery(self):
        # B#5 is SAFE in the regular view {A, B}; A moves on with B to the merged view
        log = self.h.logs[A]
        del log[find(log, recv_of(B, 5))]
        self.assertCaught("safe")

    def test_a_lost_self_delivery(self):
        log = self.h.logs[C]
        del log[find(log, recv_of(C, 4))]   # C alone in its view: nobody else to compare with
        ck = check(self.h)
        self.assertIn("self_delivery", ck.violations)
        self.assertNotIn("vs", ck.violations)

    def test_self_discard_is_not_expected_back(self):
        self.assertNotIn((B, 4), check(self.h).conns[B].pos)
        self.assertEqual(dict(check(self.h).violations), {})

    def test_a_self_discarded_message_delivered_back(self):
        log = self.h.logs[A]
        e = copy.deepcopy(log[find(log, recv_of(B, 4))])
        e["c"] = B
        self.h.logs[B].insert(find(self.h.logs[B], lambda e: e["ev"] == "final"), e)
        self.assertCaught("self_delivery")

    def test_diverging_final_views(self):
        log = self.h.logs[C]
        del log[find(log, lambda e: e["ev"] == "memb", 2)]  # C never sees the merge
        log[:] = [e for e in log if not (e["ev"] == "recv" and e["hfrom"] in (A, C) and e["ctr"]
                                         in ((8,) if e["hfrom"] == A else (5,)))]
        self.h.logs[C] = [e for e in log if not (e["ev"] == "send" and e["ctr"] == 5)]
        self.assertCaught("converge")

    def test_a_dead_member_in_the_final_view(self):
        self.h.logs[C] = [e for e in self.h.logs[C] if e["ev"] != "final"]
        self.assertCaught("converge")


if __name__ == "__main__":
    unittest.main()

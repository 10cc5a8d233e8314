"""test_tool.py — the `chorus` tool (issue 5) against real daemons: user (scripted on stdin),
flood (1 and 3 daemons, text and JSON), ping, monitor status (readable and JSON), --help of
every subcommand, and clear failures.

The tool is $CHORUS_TOOL, default <repo>/build/tools/chorus.

Run alone: python3 -m unittest -v tests/integration/test_tool.py
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
import spread_client as sp  # noqa: E402

TOOL = os.environ.get("CHORUS_TOOL") or str(cluster.REPO / "build" / "tools" / "chorus")


def chorus(*args, input=None, timeout=120):
    return subprocess.run([TOOL, *map(str, args)], input=input, capture_output=True, text=True,
                          timeout=timeout)


class Help(unittest.TestCase):
    def test_every_subcommand_has_help(self):
        for cmd in ([], ["user"], ["flood"], ["ping"], ["monitor"], ["monitor", "status"]):
            out = chorus(*cmd, "--help")
            self.assertEqual(out.returncode, 0, cmd)
            self.assertIn("Usage", out.stdout + out.stderr, cmd)
        top = chorus("--help").stdout
        for sub in ("user", "flood", "ping", "monitor"):
            self.assertIn(sub, top)

    def test_no_subcommand_or_a_bad_option_fails(self):
        self.assertNotEqual(chorus().returncode, 0)
        self.assertNotEqual(chorus("flood", "--no-such-option").returncode, 0)

    def test_no_daemon_is_a_clear_error(self):
        out = chorus("ping", "-s", "/nonexistent/socket")
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot connect to '/nonexistent/socket'", out.stderr)


class OneDaemon(cluster.ClusterTestCase):
    daemons = 1

    def test_flood_json(self):
        out = chorus("flood", "-s", self.cluster.unix_path(1), "-n", 20000, "-b", 1000, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        r = json.loads(out.stdout)
        self.assertEqual((r["mode"], r["sent"], r["received"], r["size"]), ("both", 20000, 20000, 1000))
        self.assertGreater(r["msgs_per_s"], 0)
        self.assertEqual(r["latency_us"]["samples"], 20000)
        self.assertLessEqual(r["latency_us"]["p50"], r["latency_us"]["p99"])

    def test_flood_text_and_bad_arguments(self):
        out = chorus("flood", "-s", self.cluster.unix_path(1), "-n", 1000, "--service", "safe")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"both: 1000 messages of 1000 bytes \(safe\) in [0-9.]+ s: "
                                     r"[0-9]+ msg/s, [0-9.]+ MB/s")
        self.assertIn("latency µs: p50", out.stdout)
        bad = chorus("flood", "-s", self.cluster.unix_path(1), "--service", "fast")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown service 'fast'", bad.stderr)
        bad = chorus("flood", "-s", self.cluster.unix_path(1), "-b", 5)
        self.assertEqual(bad.returncode, 2)

    def test_ping(self):
        out = chorus("ping", "-s", self.cluster.unix_path(1), "-c", 5, "-i", 0)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count(" bytes: seq="), 5)
        self.assertRegex(out.stdout, r"--- 5 round trips: min [0-9.]+ +p50 [0-9.]+")
        polled = chorus("ping", "-s", self.cluster.unix_path(1), "-c", 5, "-i", 0, "-q",
                        "--busy-poll", 1000)
        self.assertEqual(polled.returncode, 0, polled.stderr)
        self.assertRegex(polled.stdout, r"--- 5 round trips: min [0-9.]+ +p50 [0-9.]+")
        bad = chorus("ping", "-s", self.cluster.unix_path(1), "--busy-poll", 2000000)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--busy-poll", bad.stderr)

    def test_user_scripted(self):
        peer = self.client(name="peer")
        peer.join("talk")
        peer.receive(5)
        script = "\n".join(["j talk", "r", "type 7", "service fifo",
                            "s talk,elsewhere hello there", "r", "bogus", "service fast",
                            "p", "l talk", "r", "q"]) + "\n"
        out = chorus("user", "-s", self.cluster.unix_path(1), "-u", "scripted", input=script)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        text = out.stdout
        self.assertIn("connected to", text)
        self.assertIn("as #scripted#d1", text)
        self.assertIn("view of talk", text)
        self.assertIn("#scripted#d1  (me)", text)
        self.assertIn("because #scripted#d1 joined", text)
        self.assertIn("received FIFO message from #scripted#d1, type 7, to talk elsewhere "
                      "(11 bytes): hello there", text)
        self.assertIn("unknown command 'bogus'", text)
        self.assertIn("unknown service 'fast'", text)
        self.assertIn("left talk", text)
        # The peer saw the same message and the leave.
        m = peer.receive_until(lambda m: m.is_regular(), 5)[0]
        self.assertEqual((m.data, m.mess_type), (b"hello there", 7))

    def test_user_r_times_out_with_a_message(self):
        out = chorus("user", "-s", self.cluster.unix_path(1), input="r\n", timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("nothing received within 10 s", out.stdout)

    def test_monitor_status(self):
        s = self.client(name="watched")
        s.join("mon")
        s.receive(5)
        control = self.cluster.control_path(1)
        out = chorus("monitor", "status", "--control", control)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("daemon d1 (node 0", out.stdout)
        self.assertIn("configuration: regular, ring d1/", out.stdout)
        self.assertIn("#watched#d1", out.stdout)
        self.assertRegex(out.stdout, r"mon +1 members: #watched#d1")
        j = json.loads(chorus("monitor", "status", "--control", control, "--json").stdout)
        self.assertEqual(j["daemon"]["name"], "d1")
        # Found from the configuration file as well.
        out = chorus("monitor", "status", "-c", self.cluster.conf, "-n", "d1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("daemon d1", out.stdout)
        bad = chorus("monitor", "status", "-c", self.cluster.conf, "-n", "nobody")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no daemon named 'nobody'", bad.stderr)
        bad = chorus("monitor", "status", "--control", self.cluster.tmp / "nothing")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("no control socket", bad.stderr)


class ThreeDaemons(cluster.ClusterTestCase):
    daemons = 3

    def test_flood_from_d1_to_a_receiver_on_d3(self):
        c = self.cluster
        receiver = subprocess.Popen([TOOL, "flood", "--mode", "receive", "-s", c.unix_path(3),
                                     "-n", "30000", "--json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(receiver.kill)
        self.assertEqual(receiver.stdout.readline().strip(), "ready")
        sender = chorus("flood", "-s", c.unix_path(1), "-n", 30000, "--json")
        self.assertEqual(sender.returncode, 0, sender.stderr)
        out, err = receiver.communicate(timeout=120)
        self.assertEqual(receiver.returncode, 0, err)
        r = json.loads(out)
        self.assertEqual((r["mode"], r["received"]), ("receive", 30000))
        self.assertGreater(r["msgs_per_s"], 0)
        s = json.loads(sender.stdout)
        self.assertEqual(s["sent"], 30000)


if __name__ == "__main__":
    unittest.main()

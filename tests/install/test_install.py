"""test_install.py — the client library as a user gets it (issues 5, 6 and 19): `cmake --install`
into a fresh prefix, then the installed examples built the two ways a user would build them —
find_package(Chorus) with CMake (shared and static), and pkg-config with the C compiler alone —
and run against the installed chorusd; the chorus::shm examples run as three processes.

The Spread compatibility suite (issue 19): tests/compat/spread_style_user.c, a client written as
Spread programs are, compiled with -Werror against the installed headers and linked every way a
Spread program links (-lspread, -lspread-core, -ltspread-core, pkg-config, Spread's static
libspread-core.a libspread-util.a -ldl), each build talking to another through chorusd; the
shared libraries carry Spread's soname and export every function Spread's headers declare.

Usage: CHORUS_BUILD=<build dir> python3 test_install.py -v   (ctest sets it; default build/)
"""

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

BUILD = Path(os.environ.get("CHORUS_BUILD") or HERE.parents[1] / "build").resolve()
COMPAT_SOURCE = HERE.parent / "compat" / "spread_style_user.c"
SPREAD_LIBRARIES = ["spread", "spread-core", "tspread-core"]


class Program:
    """A running spread_style_user: commands go to its stdin, its lines are read with a
    deadline (a thread moves them into a queue)."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, command: str):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        """The next line that starts with `prefix` (lines before it are kept in `seen`)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{self.cmd[0]}: no line '{prefix}…' within {timeout} s; "
                                     f"saw {self.seen[-20:]}") from None
            if line is None:
                raise AssertionError(f"{self.cmd[0]} ended before '{prefix}…'; "
                                     f"saw {self.seen[-20:]}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def finish(self) -> int:
        """Its exit status; a program still running 10 s after its stdin closed is killed."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc.stdout.close()


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n"
                             f"{out.stdout}\n{out.stderr}")
    return out.stdout


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="chorus-install-"))
        cls.prefix = cls.tmp / "prefix"
        run(["cmake", "--install", str(BUILD), "--prefix", str(cls.prefix)])
        libdir = next(p for p in (cls.prefix / "lib", cls.prefix / "lib64",
                                  *(cls.prefix / "lib").glob("*-linux-gnu"))
                      if (p / "pkgconfig" / "chorus.pc").exists())
        cls.libdir = libdir
        os.environ["CHORUSD"] = str(cls.prefix / "bin" / "chorusd")
        import cluster  # after CHORUSD is set: the installed daemon
        cls.cluster = cluster.Cluster(1, tmpdir=cls.tmp / "daemon")
        cls.cluster.start_all()
        cls.endpoint = cls.cluster.unix_path(1)
        # The installed examples, built as a user project would (find_package(Chorus)).
        cls.examples = cls.tmp / "examples-cmake"
        src = cls.prefix / "share" / "doc" / "chorus" / "examples"
        run(["cmake", "-S", str(src), "-B", str(cls.examples), "-G", "Ninja",
             f"-DCMAKE_PREFIX_PATH={cls.prefix}"])
        run(["cmake", "--build", str(cls.examples)])

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout(self):
        for f in ["bin/chorusd", "include/sp.h", "include/chorus/client.hpp"]:
            self.assertTrue((self.prefix / f).exists(), f)
        names = {p.name for p in self.libdir.iterdir()}
        self.assertIn("libchorus.a", names)
        self.assertIn("libchorus.so", names)
        self.assertTrue((self.libdir / "cmake" / "Chorus" / "ChorusConfig.cmake").exists())

    def test_examples_with_cmake_find_package(self):
        out = self.examples
        for exe in ["hello_c", "hello_cpp", "hello_c_static"]:
            text = run([str(out / exe), self.endpoint, "install-" + exe.replace("_", "-")])
            self.assertIn("hello from #", text, exe)
        # listen_c and listen_cpp see a hello's message and the views around it.
        for listener in ["listen_c", "listen_cpp"]:
            group = "lg-" + listener.replace("_", "-")
            p = subprocess.Popen([str(out / listener), self.endpoint, group, "4"],
                                 stdout=subprocess.PIPE, text=True)
            first = p.stdout.readline()  # "<pg> listening to <group>": it has joined
            self.assertIn("listening to " + group, first)
            run([str(out / "hello_c"), self.endpoint, group])
            rest, _ = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, rest)
            self.assertIn("hello from #", rest)
            self.assertIn("now has 2 members", rest)

    def test_shm_pipeline_of_three_processes(self):
        # chorus::shm: the server boots the region, the middle process transforms, the client
        # checks every frame and tells the server; all three are separate processes.
        region = f"install-example-{os.getpid()}"
        server = subprocess.Popen([str(self.examples / "shm_server"), "5000", region],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertIn("region " + region + " ready", server.stdout.readline())
        middle = subprocess.Popen([str(self.examples / "shm_middle"), region],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        client = run([str(self.examples / "shm_client"), region])
        server_out, _ = server.communicate(timeout=60)
        middle_out, _ = middle.communicate(timeout=60)
        self.assertIn("client: FRAME 0 FROM THE SERVER", client)
        self.assertIn("client: 5000 frames", client)
        self.assertEqual(middle.returncode, 0, middle_out)
        self.assertIn("middle: 5000 frames transformed", middle_out)
        self.assertEqual(server.returncode, 0, server_out)
        self.assertIn("the client got 5000 of 5000 frames; buffers still in use: 0", server_out)
        self.assertFalse(Path("/dev/shm/chorus." + region).exists(), "the server removes it")

    def test_c_example_with_pkg_config(self):
        env = dict(os.environ, PKG_CONFIG_PATH=str(self.libdir / "pkgconfig"))
        flags = run(["pkg-config", "--cflags", "--libs", "chorus"], env=env).split()
        exe = self.tmp / "hello-pkgconfig"
        src = self.prefix / "share" / "doc" / "chorus" / "examples" / "c" / "hello.c"
        run(["cc", "-Wall", "-Wextra", "-Werror", str(src), *flags, "-o", str(exe)])
        text = run([str(exe), self.endpoint, "pkgconfig"],
                   env=dict(os.environ, LD_LIBRARY_PATH=str(self.libdir)))
        self.assertIn("hello from #", text)
        self.assertIn("Spread library version 5.0.1", text)



    # ---- Spread compatibility (issue 19) ----

    def compat_builds(self) -> dict[str, tuple[Path, dict]]:
        """spread_style_user built every way a Spread program is built: name → (program, the
        environment it runs in)."""
        if hasattr(self, "_compat"):
            return self._compat
        inc, lib = self.prefix / "include", self.libdir
        strict = ["-Wall", "-Wextra", "-Werror"]
        out = self.tmp / "compat"
        out.mkdir(exist_ok=True)
        # A directory holding nothing but libspread-core.so.3, the file a binary built against
        # Spread's libspread-core needs at run time.
        soname_only = self.tmp / "soname-only"
        soname_only.mkdir(exist_ok=True)
        shutil.copy(lib / "libspread-core.so.3", soname_only / "libspread-core.so.3")
        env = dict(os.environ, LD_LIBRARY_PATH=str(lib))
        builds = {}
        for name in SPREAD_LIBRARIES:
            builds["-l" + name] = ([f"-I{inc}", str(COMPAT_SOURCE), f"-L{lib}", "-l" + name], env)
        builds["c99 -pedantic -lspread-core"] = (
            ["-std=c99", "-pedantic", f"-I{inc}", str(COMPAT_SOURCE), f"-L{lib}", "-lspread-core"],
            dict(os.environ, LD_LIBRARY_PATH=str(soname_only)))
        pc_env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
        for name in ["spread", "tspread-core"]:
            flags = run(["pkg-config", "--cflags", "--libs", name], env=pc_env).split()
            builds["pkg-config " + name] = ([str(COMPAT_SOURCE), *flags], env)
        # The way Spread 4.2+ Makefiles link: the core archive, the util archive, -ldl.
        builds["libspread-core.a libspread-util.a"] = (
            [f"-I{inc}", str(COMPAT_SOURCE), str(lib / "libspread-core.a"),
             str(lib / "libspread-util.a"), "-ldl", "-lpthread"], dict(os.environ))
        self._compat = {}
        for i, (name, (args, run_env)) in enumerate(builds.items()):
            exe = out / f"spread_style_user_{i}"
            run(["cc", *strict, *args, "-o", str(exe)])
            self._compat[name] = (exe, run_env)
        return self._compat

    def test_spread_libraries_have_spreads_sonames_and_every_function(self):
        declared = set()
        for header in ["sp_func.h", "sp_events.h"]:
            text = (self.prefix / "include" / header).read_text()
            declared |= set(re.findall(r"\b((?:SP|E)_\w+)\s*\(", text))
        self.assertGreater(len(declared), 40, declared)
        for name in SPREAD_LIBRARIES:
            so = self.libdir / f"lib{name}.so.3"
            self.assertTrue(so.exists(), so)
            self.assertTrue((self.libdir / f"lib{name}.a").exists())
            dynamic = run(["readelf", "-d", str(so)])
            self.assertIn(f"Library soname: [lib{name}.so.3]", dynamic)
            exported = set(run(["nm", "-D", "--defined-only", "--format=just-symbols", str(so)])
                           .split())
            self.assertEqual(declared - exported, set(), name)
        exe, _ = self.compat_builds()["c99 -pedantic -lspread-core"]
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", run(["readelf", "-d", str(exe)]))
        self.assertIn("libspread-core.so.3", needed)

    def test_spread_style_programs_talk_through_chorusd_with_every_library(self):
        builds = list(self.compat_builds().items())
        for i, (name_a, (exe_a, env_a)) in enumerate(builds):
            name_b, (exe_b, env_b) = builds[(i + 1) % len(builds)]
            with self.subTest(a=name_a, b=name_b):
                self.compat_scenario(f"cg{i}", (exe_a, env_a), (exe_b, env_b))

    def compat_scenario(self, group: str, a_build, b_build):
        a = Program([str(a_build[0]), self.endpoint, "ca"], env=a_build[1])
        b = Program([str(b_build[0]), self.endpoint, "cb", "16"], env=b_build[1])  # 16-byte buffer
        try:
            for p in (a, b):
                self.assertEqual(p.expect("version"), "version 5.0.1 header 5.0.1")
                connected = p.expect("connected")
                self.assertRegex(connected, r"^connected #c[ab]#d1 auth 1$")
                p.expect("ready")
            a.send(f"j {group}")
            first = a.expect(f"view {group}")
            self.assertRegex(first, r" members 1 cause JOIN index 0 changed #ca#d1 new 1$")
            b.send(f"j {group}")
            views = [p.expect(f"view {group}") for p in (a, b)]
            ids = {re.search(r" id (-?\d+ -?\d+ -?\d+) ", v).group(1) for v in views}
            self.assertEqual(len(ids), 1, views)  # gid.id[] the same at both members
            for v in views:
                self.assertIn(" members 2 cause JOIN ", v)
                self.assertIn(" changed #cb#d1 new 1", v)
            self.assertEqual(b.expect("vsset"), "vsset 0* #cb#d1")
            # A SAFE message sent from a two-element scatter, received into one.
            a.send(f"s {group} hello spread")
            line = f"message {group} from #ca#d1 to 1 groups service 32 type 7 endian 0 len 12: " \
                   "hello spread"
            self.assertEqual(a.expect("message"), line)
            self.assertEqual(b.expect("message"), line)
            # Too big for b's 16 bytes: BUFFER_TOO_SHORT with the size, then DROP_RECV cuts it
            # and endian_mismatch stays the endian flag.
            a.send(f"s {group} 0123456789abcdefghij")
            a.expect("message")
            self.assertEqual(b.expect("short"), "short buffer needs 20 bytes 0 groups")
            self.assertEqual(b.expect("message"),
                             f"message {group} from #ca#d1 to 1 groups service 32 type 7 "
                             "endian 0 len 16 truncated: 0123456789abcde")
            a.send(f"m {group} other-{group} to both")
            self.assertIn(" to 2 groups ", b.expect("message"))
            a.send("t 5")
            self.assertEqual(a.expect("timer"), "timer 5")  # an E_queue timer
            a.send("q")
            self.assertEqual(a.expect("bye"), "bye 0")
            self.assertRegex(b.expect(f"view {group}"),
                             r" members 1 cause DISCONNECT index 0 changed #ca#d1 new 1$")
            b.send(f"l {group}")
            self.assertEqual(b.expect("selfleave"), f"selfleave {group}")
            b.send("q")
            b.expect("bye")
        finally:
            results = [p.finish() for p in (a, b)]
        self.assertEqual(results, [0, 0], a.seen + b.seen)


if __name__ == "__main__":
    unittest.main()

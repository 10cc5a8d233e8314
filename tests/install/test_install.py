"""test_install.py — the client library as a user gets it (issues 5 and 6): `cmake --install`
into a fresh prefix, then the installed examples built the two ways a user would build them —
find_package(Chorus) with CMake (shared and static), and pkg-config with the C compiler alone —
and run against the installed chorusd; the chorus::shm examples run as three processes.

Usage: CHORUS_BUILD=<build dir> python3 test_install.py -v   (ctest sets it; default build/)
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

BUILD = Path(os.environ.get("CHORUS_BUILD") or HERE.parents[1] / "build").resolve()


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


if __name__ == "__main__":
    unittest.main()

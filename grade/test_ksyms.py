"""Self-tests of tools/mksyms.sh, the table behind panic backtraces.

    python3 -m unittest discover -s grade -p 'test_*.py'      (make test runs this)

A backtrace names functions through a table of the first link's text
symbols; these check it is built with the toolchain's nm ($NM) and that a
second link that moved a symbol stops the build instead of naming the wrong
function."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MKSYMS = os.path.join(ROOT, "tools", "mksyms.sh")

FIRST = "ffffffff80100000 T entry\nffffffff80100040 t helper\nffffffff80200000 D data\n"


class Mksyms(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def fake_nm(self, name, listings):
        """An nm that prints listings[path's basename] (a cross toolchain's nm)."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\ncase \"$2\" in\n")
            for k, v in listings.items():
                f.write("*%s) printf '%%s' '%s';;\n" % (k, v))
            f.write("*) exit 1;;\nesac\n")
        os.chmod(path, 0o755)
        return path

    def run_mksyms(self, nm, *args):
        # A PATH with sh and awk but no nm: only $NM can list the symbols.
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir, exist_ok=True)
        for tool in ("sh", "awk", "printf", "cat"):
            p = shutil.which(tool)
            if p and not os.path.exists(os.path.join(bindir, tool)):
                os.symlink(p, os.path.join(bindir, tool))
        env = {"PATH": bindir, "NM": nm}
        return subprocess.run([shutil.which("sh"), MKSYMS] + list(args), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)

    def test_uses_the_toolchains_nm(self):
        nm = self.fake_nm("x86_64-elf-nm", {"k.tmp": FIRST})
        p = self.run_mksyms(nm, "k.tmp")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("nksyms: .quad 2", p.stdout)
        self.assertIn('.asciz "helper"', p.stdout)
        self.assertNotIn('"data"', p.stdout)

    def test_no_symbols_stops_the_build(self):
        p = self.run_mksyms(self.fake_nm("nm1", {}), "k.tmp")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("mksyms.sh", p.stderr)

    def test_moved_symbol_stops_the_build(self):
        moved = FIRST.replace("80100040 t helper", "80100050 t helper")
        nm = self.fake_nm("nm2", {"k.tmp": FIRST, "k.elf": FIRST + "ffffffff80300000 r ksym_name_0\n",
                                  "m.elf": moved})
        self.assertEqual(self.run_mksyms(nm, "--same", "k.tmp", "k.elf").returncode, 0)
        p = self.run_mksyms(nm, "--same", "k.tmp", "m.elf")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("moved", p.stderr)


if __name__ == "__main__":
    unittest.main()

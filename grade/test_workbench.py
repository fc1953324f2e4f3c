"""Self-tests of the student's workbench (issue 14), run by `make test`:

- the committed .gdbinit: port (GDBPORT or the Makefile's per-user default),
  kernel (B), helpers, from a plain gdb started in the tree;
- make compile_commands.json: the real flags, and clangd finds no error;
- a student's path through the kit: a lab 1 handout under git, lab 1 solved,
  `make handin` (refused while the tree does not build), the Gradescope
  autograder grading that hand-in, then `make handout LAB=2` over the
  student's repository: the student's lab 1 code stays, and it builds and
  passes lab 1.

The last part needs the solution (it solves lab 1 with the solution's code):
it is skipped in a handout tree.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
BUILD = os.path.join(ROOT, os.environ.get("B") or "build")
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GDBPORT", "B", "LAB",
                          "SVMLAB_GDB_CONNECT")}
GIT_ID = ["-c", "user.name=student", "-c", "user.email=student@example.org"]


def run(argv, cwd=ROOT, env=None, timeout=600):
    e = dict(CLEAN_ENV)
    e.update(env or {})
    p = subprocess.run(argv, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout)
    return p.returncode, p.stdout


def is_solution_tree():
    return (not os.path.exists(os.path.join(ROOT, ".svmlab-handout")) and
            run(["git", "rev-parse", "--git-dir"])[0] == 0)


@unittest.skipUnless(shutil.which("gdb"), "gdb is not installed")
class Gdbinit(unittest.TestCase):
    """A plain gdb in the tree loads the committed .gdbinit (once allowed)."""

    def gdb(self, env, cwd=ROOT, extra=()):
        e = {"SVMLAB_GDB_CONNECT": "0"}
        e.update(env)
        return run(["gdb", "-q", "-nh", "-batch", "-iex",
                    "add-auto-load-safe-path " + os.path.join(ROOT, ".gdbinit")] + list(extra) +
                   ["-ex", "info symbol main"], cwd=cwd, env=e, timeout=60)[1]

    def test_default_port_is_the_makefiles(self):
        rc, out = run(["make", "-n", "--no-print-directory", "qemu-gdb", "B=" + BUILD])
        self.assertEqual(rc, 0, out)
        port = re.search(r"QEMU waits for gdb on 127\.0\.0\.1:(\d+)", out).group(1)
        self.assertIn("-gdb tcp:127.0.0.1:%s" % port, out)
        self.assertEqual(int(port), os.getuid() % 5000 + 25000)
        self.assertIn("svmlab: not connecting to 127.0.0.1:%s" % port, self.gdb({}))

    def test_gdbport_from_the_environment(self):
        self.assertIn("not connecting to 127.0.0.1:1234", self.gdb({"GDBPORT": "1234"}))
        self.assertIn("not connecting to /tmp/x.sock", self.gdb({"GDBPORT": "/tmp/x.sock"}))

    def test_kernel_and_helpers(self):
        if not os.path.exists(os.path.join(BUILD, "kernel.elf")):
            self.skipTest("no %s/kernel.elf" % BUILD)
        out = self.gdb({"B": BUILD})
        self.assertIn("svmlab: SVM commands loaded", out)
        self.assertRegex(out, r"(?m)^main in section \.text$")
        out = self.gdb({"B": "/nonexistent"})
        self.assertIn("svmlab: /nonexistent/kernel.elf is missing: run make first", out)

    def test_outside_the_tree(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = run(["gdb", "-q", "-nx", "-batch", "-x", os.path.join(ROOT, ".gdbinit")],
                      cwd=tmp, env={"SVMLAB_GDB_CONNECT": "0"}, timeout=60)[1]
        self.assertIn("svmlab: start gdb in the top directory of the tree", out)

    def test_refused_stub_says_what_to_do(self):
        # A socket path nobody listens on: gdb fails at once, .gdbinit explains.
        out = self.gdb({"SVMLAB_GDB_CONNECT": "", "GDBPORT": "/nonexistent/stub.sock"})
        self.assertIn("svmlab: no gdb stub at /nonexistent/stub.sock", out)
        self.assertIn("start `make qemu-gdb` in another terminal", out)


class CompileCommands(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "compile_commands.json")
        rc, text = run([sys.executable, os.path.join(ROOT, "tools", "compile_commands.py"),
                        "-B", BUILD, "-o", self.out])
        self.assertEqual(rc, 0, text)
        with open(self.out) as f:
            self.db = json.load(f)

    def tearDown(self):
        self.tmp.cleanup()

    def entry(self, rel):
        found = [e for e in self.db if e["file"] == os.path.join(ROOT, rel)]
        self.assertTrue(found, "%s is not in compile_commands.json" % rel)
        return found[0]

    def test_real_flags_for_kernel_user_and_guests(self):
        run_c = self.entry("kern/svm/run.c")["arguments"]
        # The kernel's own flags, as make -n prints them.
        rc, dry = run(["make", "-n", "-B", "--no-print-directory", "B=" + BUILD,
                       os.path.join(BUILD, "k", "kern", "svm", "run.o")])
        line = next(l for l in dry.splitlines() if "kern/svm/run.c" in l)
        for flag in ("-mcmodel=kernel", "-Ikern", "-ffreestanding", "-mno-red-zone", "-Werror"):
            self.assertIn(flag, run_c)
            self.assertIn(flag, line)
        self.assertNotIn("-MMD", run_c)
        self.assertIn("-Iuser/lib", self.entry("user/sh.c")["arguments"])
        self.assertNotIn("-mcmodel=kernel", self.entry("user/sh.c")["arguments"])
        self.assertIn("-D__ASSEMBLER__", self.entry("user/guests/hello.S")["arguments"])
        self.entry("user/vmm/main.c")
        self.entry("kern/svm/vmenter.S")
        self.assertTrue(all(e["directory"] == ROOT for e in self.db))

    def test_make_target(self):
        rc, out = run(["make", "-n", "--no-print-directory", "compile_commands.json"])
        self.assertEqual(rc, 0, out)
        self.assertIn("tools/compile_commands.py -B build -o compile_commands.json", out)

    @unittest.skipUnless(shutil.which("clangd"), "clangd is not installed")
    def test_clangd_reports_no_error(self):
        out = self.clangd()
        self.assertIn("All checks completed, 0 errors", out)
        # ...and the check can fail: without -Ikern the kernel headers are not found.
        for e in self.db:
            e["arguments"] = [a for a in e["arguments"] if a != "-Ikern"]
        with open(self.out, "w") as f:
            json.dump(self.db, f)
        self.assertNotIn("All checks completed, 0 errors", self.clangd())

    def clangd(self):
        return run(["clangd", "--compile-commands-dir=" + self.tmp.name,
                    "--check=" + os.path.join(ROOT, "kern", "svm", "run.c")],
                   env={"XDG_CACHE_HOME": self.tmp.name}, timeout=300)[1]


def solve_lab1(student):
    """Writes lab 1 into the student's tree the way a student would: below each
    `// LAB 1:` contract, the solution's code plus a line of their own."""
    import handout
    for path, items in handout.parse_tree(ROOT).items():
        if not any(isinstance(it, handout.Region) and it.lab == 1 for it in items):
            continue
        out = []
        for it in items:
            if not isinstance(it, handout.Region):
                out.append(it)
            elif it.lab == 1 and it.stub:
                out += [it.stub[0], "  /* student: my own lab 1 */\n"] + it.solution
            elif it.lab == 1:
                out += it.solution        # a helper of the solution's: the student's too
            else:
                out += it.stub
        with open(os.path.join(student, path), "w") as f:
            f.write("".join(out))


@unittest.skipUnless(is_solution_tree(), "needs the solution tree (git, not a handout)")
class StudentPath(unittest.TestCase):
    """Lab 1 handout -> solved -> make handin -> Gradescope -> updated to lab 2."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="svmlab-student-")
        cls.student = os.path.join(cls.tmp, "student")
        rc, out = run([sys.executable, "tools/handout.py", "--lab", "1", "--dest", cls.student])
        assert rc == 0, out
        seed_build(cls.student)
        solve_lab1(cls.student)
        for argv in (["init", "-q"], ["add", "-A"], GIT_ID + ["commit", "-qm", "lab 1 done"]):
            rc, out = run(["git"] + argv, cwd=cls.student)
            assert rc == 0, out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def make(self, *args, cwd=None):
        return run(["make", "--no-print-directory"] + list(args), cwd=cwd or self.student)

    def test_1_handin_refuses_a_tree_that_does_not_build(self):
        path = os.path.join(self.student, "kern", "svm", "hsave.c")
        with open(path) as f:
            good = f.read()
        try:
            with open(path, "a") as f:
                f.write("\nint handin_test_broken(void) { return undeclared_thing; }\n")
            rc, out = self.make("handin", "LAB=1")
        finally:
            with open(path, "w") as f:
                f.write(good)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("handin: not packed: the tree does not build", out)
        self.assertIn("undeclared_thing", out)
        self.assertFalse(os.path.exists(os.path.join(self.student, "handin-lab1-hsave.zip")))

    def test_2_handin_packs_the_tree(self):
        with open(os.path.join(self.student, "notes.txt"), "w") as f:
            f.write("not committed yet\n")
        rc, out = self.make("handin", "LAB=hsave")
        self.assertEqual(rc, 0, out)
        self.assertIn("handin: warning: 1 file(s) with uncommitted changes", out)
        self.assertIn("notes.txt", out)
        self.assertIn("answers-lab1.txt is missing or empty", out)
        self.assertIn("handin: wrote handin-lab1-hsave.zip", out)
        with zipfile.ZipFile(os.path.join(self.student, "handin-lab1-hsave.zip")) as z:
            names = z.namelist()
            self.assertIn("/* student: my own lab 1 */", z.read("kern/svm/hsave.c").decode())
            self.assertIn("svmlab hand-in: lab 1 (hsave)", z.read("HANDIN.txt").decode())
        self.assertIn("notes.txt", names)
        self.assertIn("Makefile", names)
        self.assertFalse([n for n in names if n.startswith(("build/", ".git/")) or
                          n.endswith(".o")], names)
        # Answers written (the solution's stand in for the student's), all committed: no warning.
        answers = os.path.join(ROOT, "answers-lab1.txt")
        if os.path.exists(answers):
            shutil.copy(answers, self.student)
        else:
            with open(os.path.join(self.student, "answers-lab1.txt"), "w") as f:
                f.write("1. an answer\n")
        for argv in (["add", "-A"], GIT_ID + ["commit", "-qm", "answers"]):
            self.assertEqual(run(["git"] + argv, cwd=self.student)[0], 0)
        rc, out = self.make("handin", "LAB=1")
        self.assertEqual(rc, 0, out)
        self.assertNotIn("warning", out)
        with zipfile.ZipFile(os.path.join(self.student, "handin-lab1-hsave.zip")) as z:
            self.assertIn("answers-lab1.txt", z.namelist())

    def test_3_gradescope_grades_the_handin(self):
        stage = os.path.join(self.tmp, "stage")
        rc, out = run(["sh", "grade/gradescope/stage.sh", "1", stage])
        self.assertEqual(rc, 0, out)
        seed_build(os.path.join(stage, "tree"))
        sub = os.path.join(self.tmp, "submission")
        os.makedirs(sub)
        shutil.copy(os.path.join(self.student, "handin-lab1-hsave.zip"), sub)
        res = os.path.join(self.tmp, "results")
        rc, out = run(["sh", os.path.join(stage, "run_autograder")],
                      env={"AG_SOURCE": stage, "AG_SUBMISSION": sub, "AG_RESULTS": res,
                           "AG_WORK": os.path.join(self.tmp, "work"), "AG_JOBS": "2"})
        self.assertEqual(rc, 0, out)
        with open(os.path.join(res, "results.json")) as f:
            doc = json.load(f)
        self.assertGreater(doc["max_score"], 0, out)
        self.assertEqual(doc["score"], doc["max_score"],
                         "\n".join(t["output"] for t in doc["tests"] if t["status"] != "passed"))
        self.assertTrue(all(t["tags"] == ["hsave"] for t in doc["tests"]))

    def test_4_next_lab_keeps_the_students_code(self):
        rc, out = run(["make", "--no-print-directory", "handout", "LAB=2", "DEST=" + self.student])
        self.assertEqual(rc, 0, out)
        self.assertIn("updating the repository", out)
        with open(os.path.join(self.student, "kern", "svm", "hsave.c")) as f:
            self.assertIn("/* student: my own lab 1 */", f.read())
        with open(os.path.join(self.student, ".svmlab-handout")) as f:
            self.assertIn("lab: 2\nfirst: 1\n", f.read())
        self.assertTrue(os.path.isdir(os.path.join(self.student, ".git")))
        rc, out = self.make("-j2", "all")
        self.assertEqual(rc, 0, out)
        # Lab 1 still works (two of its tests: the whole lab ran in test_3).
        rc, out = run([sys.executable, "grade/grade.py", "--lab", "hsave", "-j", "2",
                       "-k", "hsave_2cpu|disable"], cwd=self.student)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^[1-9]\d* passed, 0 failed$")
        rc, out = run([sys.executable, "grade/grade.py", "--lab", "vmcb", "-j", "2", "-k", "modes"],
                      cwd=self.student)
        self.assertNotEqual(rc, 0, "lab 2 is still the student's to write:\n" + out)


def seed_build(tree):
    """Copies this tree's build outputs into a fresh handout tree, so that make
    there recompiles only the files that differ (handout.py keeps the mtimes of
    the files it copies unchanged). Only a speed-up: make decides."""
    if os.path.isdir(BUILD):
        shutil.copytree(BUILD, os.path.join(tree, "build"), symlinks=True,
                        ignore=shutil.ignore_patterns("test-logs", "grade-lab*", "gradescope-lab*",
                                                      "*.json", "*.xml", "fuzz-*"))


if __name__ == "__main__":
    unittest.main()

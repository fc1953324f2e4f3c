"""Self-tests of tools/handout.py on small throw-away git trees."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANDOUT = os.path.join(ROOT, "tools", "handout.py")

GOOD_C = """\
int before(void) { return 1; }
int f(void)
{
  // LAB 1 BEGIN
  int secret_value_of_lab_one = 42;
  return secret_value_of_lab_one;
  // LAB 1 STUB
  // // LAB 1: return the answer of f.
  // return lab_missing(1, "f");
  // LAB 1 END
}
int g(void)
{
  // LAB 2 BEGIN
  return compute_the_lab_two_answer(7);
  // LAB 2 STUB
  // // LAB 2: compute g's value.
  //
  // return -1;  /* stub of lab 2 */
  // LAB 2 END
}
"""

GOOD_S = """\
.globl h
h:
# LAB 4 BEGIN
  movq $0x1234567, %rax   // lab four solution
# LAB 4 STUB
# # LAB 4: put h's value in %rax.
# ud2
# LAB 4 END
  ret
"""


class Handout(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = os.path.join(self.tmp.name, "src")
        self.dest = os.path.join(self.tmp.name, "out")
        os.makedirs(os.path.join(self.src, "kern"))
        subprocess.run(["git", "init", "-q", self.src], check=True)

    def tearDown(self):
        self.tmp.cleanup()

    def add(self, path, text):
        full = os.path.join(self.src, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        subprocess.run(["git", "-C", self.src, "add", path], check=True)

    def handout(self, *args):
        p = subprocess.run([sys.executable, HANDOUT, "--src", self.src] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        return p.returncode, p.stdout + p.stderr

    def read(self, path):
        with open(os.path.join(self.dest, path)) as f:
            return f.read()

    def test_lab1_strips_every_region(self):
        self.add("kern/f.c", GOOD_C)
        self.add("kern/h.S", GOOD_S)
        rc, out = self.handout("--lab", "1", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        c = self.read("kern/f.c")
        self.assertIn('  return lab_missing(1, "f");\n', c)
        self.assertIn("  return -1;  /* stub of lab 2 */\n", c)
        self.assertNotIn("secret_value", c)
        self.assertNotIn(" BEGIN", c)
        self.assertNotIn(" STUB", c)
        self.assertIn("int before(void)", c)
        # The contract stays visible where the student writes.
        self.assertIn("{\n  // LAB 1: return the answer of f.\n  return lab_missing", c)
        self.assertIn("  // LAB 2: compute g's value.\n  \n  return -1;", c)
        s = self.read("kern/h.S")
        self.assertIn("h:\n# LAB 4: put h's value in %rax.\nud2\n", s)
        self.assertNotIn("0x1234567", s)

    def test_lab2_keeps_lab1_solution(self):
        self.add("kern/f.c", GOOD_C)
        rc, out = self.handout("--lab", "vmcb", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        c = self.read("kern/f.c")
        self.assertIn("secret_value_of_lab_one = 42", c)
        self.assertNotIn("lab_missing", c)
        self.assertNotIn("compute_the_lab_two_answer", c)
        self.assertNotIn("LAB 1", c)   # a solved lab shows no contract line
        self.assertIn("// LAB 2: compute g's value.", c)
        self.assertNotIn("BEGIN", c)

    def test_untracked_files_are_not_copied(self):
        self.add("kern/f.c", GOOD_C)
        with open(os.path.join(self.src, "kern", "scratch.c"), "w") as f:
            f.write("int x;\n")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "kern", "scratch.c")))

    def bad(self, text, want, path="kern/bad.c"):
        self.add(path, text)
        rc, out = self.handout("--lab", "1", "--dest", self.dest)
        self.assertEqual(rc, 1, out)
        self.assertIn(want, out)

    def test_nested(self):
        self.bad("// LAB 1 BEGIN\n// LAB 2 BEGIN\n", "kern/bad.c:2: LAB 2 BEGIN inside the LAB 1")

    def test_region_without_stub_is_dropped(self):
        self.add("kern/f.c", "a;\n// LAB 1 BEGIN\nstatic int helper_only_the_solution_uses;\n"
                 "// LAB 1 END\nb;\n")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        self.assertEqual(self.read("kern/f.c"), "a;\nb;\n")

    def test_region_with_blank_stub_is_dropped(self):
        self.add("kern/f.c", "a;\n// LAB 1 BEGIN\nstatic int helper_only_the_solution_uses;\n"
                 "// LAB 1 STUB\n//\n// LAB 1 END\nb;\n")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        self.assertEqual(self.read("kern/f.c"), "a;\nb;\n")

    def test_contract_only_stub_leaves_a_note(self):
        self.add("kern/f.c", "a;\n// LAB 1 BEGIN\nstatic int helper_only_the_solution_uses;\n"
                 "// LAB 1 STUB\n// // LAB 1: your helpers may go here.\n// LAB 1 END\nb;\n")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        self.assertEqual(self.read("kern/f.c"), "a;\n// LAB 1: your helpers may go here.\nb;\n")

    def test_stub_without_contract(self):
        self.bad("int f(void)\n{\n  // LAB 1 BEGIN\n  return 42;\n  // LAB 1 STUB\n"
                 "  // return lab_missing(1, \"f\");\n  // LAB 1 END\n}\n",
                 "kern/bad.c:6: the stub of the LAB 1 region opened at kern/bad.c:3 must start "
                 "with its contract, `// // LAB 1: <what the code must do>`")

    def test_contract_after_a_blank_line(self):
        self.bad("// LAB 1 BEGIN\nx;\n// LAB 1 STUB\n//\n// // LAB 1: f.\n// LAB 1 END\n",
                 "kern/bad.c:4: the stub of the LAB 1 region opened at kern/bad.c:1")

    def test_contract_of_another_lab(self):
        self.bad("// LAB 1 BEGIN\nx;\n// LAB 1 STUB\n// // LAB 2: f.\n// LAB 1 END\n",
                 "kern/bad.c:4: the stub of the LAB 1 region")

    def test_empty_contract(self):
        self.bad("// LAB 1 BEGIN\nx;\n// LAB 1 STUB\n// // LAB 1:\n// return;\n// LAB 1 END\n",
                 "kern/bad.c:4: the stub of the LAB 1 region")

    def test_asm_contract_uses_its_leader(self):
        self.bad(".globl h\n# LAB 4 BEGIN\nret\n# LAB 4 STUB\n# // LAB 4: h.\n# ud2\n"
                 "# LAB 4 END\n", "kern/bad.S:5: the stub of the LAB 4 region opened at "
                 "kern/bad.S:2 must start with its contract, `# # LAB 4:", path="kern/bad.S")

    def test_handout_passes_check(self):
        # A handout's visible contract lines are not markers: handout.py accepts
        # the student tree (e.g. `make handout` run again inside it).
        self.add("kern/f.c", GOOD_C)
        self.add("kern/h.S", GOOD_S)
        self.add("kern/tricky.c", "// LAB 1 BEGIN\nx;\n// LAB 1 STUB\n"
                 "// // LAB 1: BEGIN by reading the APM; END with a return.\n// LAB 1 END\n")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        subprocess.run(["git", "init", "-q", self.dest], check=True)
        subprocess.run(["git", "-C", self.dest, "add", "-A"], check=True)
        p = subprocess.run([sys.executable, HANDOUT, "--src", self.dest, "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("markers of labs (none)", p.stdout)

    def test_unknown_lab(self):
        self.bad("// LAB 42 BEGIN\n", "kern/bad.c:1: unknown lab '42'")

    def test_lab0_has_no_markers(self):
        self.bad("// LAB 0 BEGIN\n", "kern/bad.c:1: unknown lab '0'")

    def test_missing_end(self):
        self.bad("a;\n// LAB 3 BEGIN\nx;\n// LAB 3 STUB\n", "kern/bad.c:2: LAB 3 BEGIN has no LAB 3 END")

    def test_stub_without_begin(self):
        self.bad("// LAB 1 STUB\n", "kern/bad.c:1: LAB 1 STUB without a LAB 1 BEGIN")

    def test_mismatched_end(self):
        self.bad("// LAB 1 BEGIN\n// LAB 1 STUB\n// LAB 2 END\n", "kern/bad.c:3: LAB 2 END inside the LAB 1")

    def test_malformed(self):
        self.bad("/* LAB 1 BEGIN */\n", "kern/bad.c:1: malformed marker")

    def test_uncommented_stub(self):
        self.bad("// LAB 1 BEGIN\n// LAB 1 STUB\nreturn 0;\n// LAB 1 END\n",
                 "kern/bad.c:3: stub line is not commented out")

    def test_hash_marker_in_c(self):
        self.bad("# LAB 1 BEGIN\n", "kern/bad.c:1: '#' markers are only for assembly")

    def test_leak_into_docs(self):
        self.add("kern/f.c", GOOD_C)
        self.add("labs/lab1.md", "Hint:\n    int secret_value_of_lab_one = 42;\n")
        rc, out = self.handout("--lab", "1", "--dest", self.dest)
        self.assertEqual(rc, 1, out)
        self.assertIn("labs/lab1.md:2: solution line from kern/f.c:4 survives", out)

    def test_refuses_foreign_dest(self):
        self.add("kern/f.c", GOOD_C)
        os.makedirs(self.dest)
        open(os.path.join(self.dest, "precious"), "w").close()
        rc, out = self.handout("--lab", "1", "--dest", self.dest)
        self.assertEqual(rc, 1)
        self.assertIn("not a handout tree", out)
        # A previous handout is replaced.
        os.unlink(os.path.join(self.dest, "precious"))
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        self.assertEqual(self.handout("--lab", "2", "--dest", self.dest)[0], 0)

    def commit(self, where, msg):
        subprocess.run(["git", "-C", where, "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qam", msg], check=True)

    def student_repo(self):
        """A lab 1 handout under git, lab 1 done in the student's own words."""
        self.add("kern/f.c", GOOD_C)
        self.add("README", "kit readme\n")
        self.commit(self.src, "kit v1")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        subprocess.run(["git", "init", "-q", self.dest], check=True)
        path = os.path.join(self.dest, "kern", "f.c")
        text = self.read("kern/f.c").replace('  return lab_missing(1, "f");\n',
                                             "  return 7;  /* my own lab 1 */\n")
        with open(path, "w") as f:
            f.write(text)
        subprocess.run(["git", "-C", self.dest, "add", "-A"], check=True)
        self.commit(self.dest, "lab 1 done")

    def test_update_keeps_student_code_and_merges_kit(self):
        self.student_repo()
        self.add("kern/f.c", GOOD_C.replace("{ return 1; }", "{ return 2; }  /* kit fix */"))
        self.add("docs/new.md", "lab 2 notes\n")
        self.commit(self.src, "kit v2")
        rc, out = self.handout("--lab", "2", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        self.assertIn("updating the repository", out)
        c = self.read("kern/f.c")
        self.assertIn("return 7;  /* my own lab 1 */", c)         # the student's code
        self.assertIn("// LAB 1: return the answer of f.", c)
        self.assertIn("{ return 2; }  /* kit fix */", c)          # the kit's change
        self.assertNotIn("secret_value", c)                      # no solution of lab 1
        self.assertIn("// LAB 2: compute g's value.", c)          # lab 2 still a stub
        self.assertEqual(self.read("docs/new.md"), "lab 2 notes\n")
        self.assertTrue(os.path.isdir(os.path.join(self.dest, ".git")))
        stamp = self.read(".svmlab-handout")
        self.assertIn("lab: 2\nfirst: 1\n", stamp)

    def test_update_reports_conflicts(self):
        self.student_repo()
        self.add("kern/f.c", GOOD_C.replace('// return lab_missing(1, "f");',
                                            '// return lab_missing(1, "f()");'))
        self.commit(self.src, "kit v2")
        rc, out = self.handout("--lab", "2", "--dest", self.dest)
        self.assertEqual(rc, 1, out)
        self.assertIn("conflicts (marked <<<<<<< yours / >>>>>>> handout now): kern/f.c (1 conflict)",
                      out)
        c = self.read("kern/f.c")
        self.assertIn("<<<<<<< yours\n  return 7;  /* my own lab 1 */", c)

    def test_update_without_kit_change_changes_nothing(self):
        self.student_repo()
        before = self.read("kern/f.c")
        rc, out = self.handout("--lab", "3", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.read("kern/f.c"), before)
        self.assertIn("lab: 3\n", self.read(".svmlab-handout"))

    def test_course_repo_then_student_pull(self):
        # Way 1 of docs/instructor.md: the course's handout repository is
        # updated in place and committed; a student's clone pulls it.
        self.add("kern/f.c", GOOD_C)
        self.commit(self.src, "kit v1")
        course = self.dest
        self.assertEqual(self.handout("--lab", "1", "--dest", course)[0], 0)
        git = lambda where, *a: subprocess.run(
            ["git", "-C", where, "-c", "user.name=t", "-c", "user.email=t@t"] + list(a),
            check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        git(course, "init", "-q")
        git(course, "add", "-A")
        git(course, "commit", "-qm", "lab 1")
        student = os.path.join(self.tmp.name, "student")
        subprocess.run(["git", "clone", "-q", course, student], check=True)
        path = os.path.join(student, "kern", "f.c")
        with open(path) as f:
            text = f.read().replace('  return lab_missing(1, "f");\n', "  return 7;  /* mine */\n")
        with open(path, "w") as f:
            f.write(text)
        git(student, "commit", "-qam", "lab 1 done")
        self.add("kern/f.c", GOOD_C.replace("{ return 1; }", "{ return 2; }"))
        self.commit(self.src, "kit v2")
        rc, out = self.handout("--lab", "2", "--dest", course)
        self.assertEqual(rc, 0, out)
        with open(os.path.join(course, "kern", "f.c")) as f:
            self.assertNotIn("secret_value", f.read())   # the course repo never gets a solution
        git(course, "add", "-A")
        git(course, "commit", "-qm", "lab 2")
        git(student, "pull", "-q", "--no-rebase", "--no-edit", "origin", "HEAD")
        with open(path) as f:
            text = f.read()
        self.assertIn("return 7;  /* mine */", text)
        self.assertIn("{ return 2; }", text)
        with open(os.path.join(student, ".svmlab-handout")) as f:
            self.assertIn("lab: 2\n", f.read())

    def prebuilt_tree(self):
        # A kit whose generator source is replaced by archives in early handouts:
        # the Makefile's target stands in for the real compile.
        self.add("user/fuzz/x86gen.c", "static int modrm_table_of_the_generator;\n")
        self.add("Makefile", "x86gen-prebuilt:\n\tmkdir -p $(B)/prebuilt\n"
                 "\techo svmlab > $(B)/prebuilt/libx86gen-svmlab.a\n"
                 "\techo host > $(B)/prebuilt/libx86gen-host.a\n")
        self.add("kern/f.c", GOOD_C)

    def test_generator_is_prebuilt_until_its_lab(self):
        self.prebuilt_tree()
        rc, out = self.handout("--lab", "7", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "user/fuzz/x86gen.c")))
        self.assertEqual(self.read("user/fuzz/libx86gen-svmlab.a"), "svmlab\n")
        self.assertEqual(self.read("user/fuzz/libx86gen-host.a"), "host\n")
        rc, out = self.handout("--lab", "8", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        self.assertIn("modrm_table", self.read("user/fuzz/x86gen.c"))
        self.assertFalse(os.path.exists(os.path.join(self.dest, "user/fuzz/libx86gen-host.a")))

    def test_update_keeps_generator_prebuilt(self):
        self.prebuilt_tree()
        self.commit(self.src, "kit v1")
        self.assertEqual(self.handout("--lab", "1", "--dest", self.dest)[0], 0)
        subprocess.run(["git", "init", "-q", self.dest], check=True)
        rc, out = self.handout("--lab", "8", "--dest", self.dest)
        self.assertEqual(rc, 0, out)
        self.assertFalse(os.path.exists(os.path.join(self.dest, "user/fuzz/x86gen.c")))
        self.assertEqual(self.read("user/fuzz/libx86gen-host.a"), "host\n")

    def test_has_markers(self):
        self.add("kern/f.c", GOOD_C)
        self.assertEqual(self.handout("--has-markers", "2")[0], 0)
        self.assertEqual(self.handout("--has-markers", "3")[0], 1)


if __name__ == "__main__":
    unittest.main()

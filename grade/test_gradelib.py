"""Self-tests of the grading harness, against a fake QEMU (fake_qemu.py).

    python3 -m unittest discover -s grade -p 'test_*.py'      (make test runs this)

The fake QEMU's behaviour is scripted through the kernel command line
(see fake_qemu.py), so a test states in one string what "the kernel" prints.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gradelib  # noqa: E402

FAKE = os.path.join(HERE, "fake_qemu.py")
GRADE = os.path.join(HERE, "grade.py")


def mk(fn, script, timeout=5.0, name=None, points=1, cpus=1, qemu_cpu=None, extra=()):
    """A Test (not registered) that boots the fake QEMU with `script`."""
    return gradelib.Test(fn, "fake", points, None, script, cpus, timeout, qemu_cpu,
                         extra, "64M", name or fn.__name__)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        for f in ("kernel.bin", "initrd.tar"):
            open(os.path.join(self.dir, f), "w").close()
        os.chmod(FAKE, 0o755)
        self.cfg = gradelib.Config(self.dir, qemu=FAKE)

    def tearDown(self):
        self.tmp.cleanup()
        self.assertEqual(gradelib._LIVE, set(), "a fake QEMU was left running")

    def run1(self, fn, script, **kw):
        return gradelib.run_test(mk(fn, script, **kw), self.cfg)


class Matching(Base):
    def test_expect_passes(self):
        def t(r):
            m = r.expect(r"^cpu(\d+): online$")
            r.check(m.group(1) == "0", "cpu0")
        res = self.run1(t, "p:svmlab: booting|p:cpu0: online|o:0")
        self.assertTrue(res.passed, res.message)

    def test_expect_fails_with_reason(self):
        res = self.run1(lambda r: r.expect(r"4 cpus online"), "p:svmlab: 2 cpus online|o:0")
        self.assertFalse(res.passed)
        self.assertIn("expected /4 cpus online/", res.message)
        self.assertIn("powered off with code 0", res.message)

    def test_regex_is_multiline(self):
        res = self.run1(lambda r: r.expect(r"^b$"), "p:a|p:b|p:c")
        self.assertTrue(res.passed, res.message)

    def test_reject_seen(self):
        def t(r):
            r.reject(r"^panic:")
            r.expect_exit(0)
        res = self.run1(t, "p:hello|p:panic: cpu0: x.c:1: boom|o:0")
        self.assertFalse(res.passed)
        self.assertIn("did not expect /^panic:/", res.message)
        self.assertIn("found: panic: cpu0: x.c:1: boom", res.message)

    def test_reject_checked_at_end(self):
        # The function returns before the bad line; the end-of-test check sees it.
        def t(r):
            r.reject(r"BAD")
            r.expect("first")
        res = self.run1(t, "p:first|p:BAD|o:0")
        # Output after the function returned may or may not have arrived
        # before QEMU was stopped; when it has, it must be rejected.
        if "BAD" in res.output:
            self.assertFalse(res.passed)

    def test_reject_absent(self):
        def t(r):
            r.reject("panic")
            r.expect_exit(0)
        self.assertTrue(self.run1(t, "p:fine|o:0").passed)

    def test_expect_order(self):
        ok = self.run1(lambda r: r.expect_order(["a", "b", "c"]), "p:a|p:b|p:c|o:0")
        self.assertTrue(ok.passed, ok.message)
        bad = self.run1(lambda r: r.expect_order(["a", "c", "b"]), "p:a|p:b|p:c|o:0")
        self.assertFalse(bad.passed)
        self.assertIn("expected /b/ after /c/", bad.message)

    def test_half_line_is_not_matched(self):
        # "after 1" arrives first; the rest of the number comes later.
        def t(r):
            m = r.expect(r"after (\d+)$")
            r.check(m.group(1) == "130425", "matched half a line: %r" % m.group(1))
        res = self.run1(t, "w:before 130425 after 1|s:0.1|p:30425|h")
        self.assertTrue(res.passed, res.message)

    def test_prompt_partial_or_quiet(self):
        ok = self.run1(lambda r: r.wait_for(r"^\$ $", partial=True), "p:boot|w:$ |h")
        self.assertTrue(ok.passed, ok.message)
        quiet = self.run1(lambda r: r.wait_for(r"^\$ $"), "p:boot|w:$ |h", timeout=3)
        self.assertTrue(quiet.passed, "a quiet prompt counts: " + quiet.message)
        self.assertLess(quiet.elapsed, 2)
        busy = self.run1(lambda r: r.wait_for(r"^\$ $"), "p:boot|w:$ |s:0.1|p:more|h",
                         timeout=2)
        self.assertFalse(busy.passed, "'$ ' was a line's start, not a prompt")

    def test_find_and_findall(self):
        def t(r):
            r.wait_exit()
            r.check(len(r.findall(r"x(\d)")) == 3, "three")
            r.check(r.find("nothere") is None, "none")
        self.assertTrue(self.run1(t, "p:x1 x2|p:x3|o:0").passed)

    def test_output_has_no_cr(self):
        res = self.run1(lambda r: r.wait_exit(), "p:one|p:two|o:0")
        self.assertEqual(res.output, "one\ntwo\n")

    def test_grader_bug_is_a_failure(self):
        res = self.run1(lambda r: 1 / 0, "o:0")
        self.assertFalse(res.passed)
        self.assertIn("grader error", res.message)
        self.assertIn("ZeroDivisionError", res.message)


class FailLines(Base):
    """Any FAIL line a test program prints fails the test, named or not."""

    def test_every_convention_fails(self):
        for line in ("FAIL: npt walk (npt_test.c:12)", "irqtest: FAIL: count: 3",
                     "hostile: bigio: FAIL: the VMM died", "devtest: pit: FAIL",
                     "usertests: fork: FAILED", "faulttest: ud2: status 0 FAIL",
                     "step: FAIL: the #DB came twice"):
            res = self.run1(lambda r: r.expect_exit(0), "p:ok: a|p:%s|p:ok: b|o:0" % line)
            self.assertFalse(res.passed, line)
            self.assertIn("a test program reported a failed check", res.message)
            self.assertIn("found: " + line, res.message)

    def test_a_line_no_check_names_fails_early(self):
        # The test waits for a line after the FAIL: the FAIL ends it at once.
        res = self.run1(lambda r: r.expect("^later$"), "p:FAIL: x (a.c:1)|s:3|p:later|o:0",
                        timeout=10)
        self.assertFalse(res.passed)
        self.assertIn("found: FAIL: x (a.c:1)", res.message)
        self.assertLess(res.elapsed, 2.5)

    def test_passing_lines_do_not_fail(self):
        res = self.run1(lambda r: r.expect_exit(0),
                        "p:ok: a|p:ktest x: 5 checks, 0 failed|p:apictest: 3 checks, 0 failed|"
                        "p:irqtest: count: passed|p:poweroff: code 0|o:0")
        self.assertTrue(res.passed, res.message)

    def test_opt_out_names_the_line(self):
        def t(r):
            r.allow_fail(r"^hostile: selftest: FAIL: provoked$")
            r.expect_exit(0)
        res = self.run1(t, "p:hostile: selftest: FAIL: provoked|o:0")
        self.assertTrue(res.passed, res.message)
        # Only that line: another FAIL still fails.
        res = self.run1(t, "p:hostile: selftest: FAIL: provoked|p:FAIL: real|o:0")
        self.assertFalse(res.passed)
        self.assertIn("found: FAIL: real", res.message)
        # Declared on the test.
        tst = mk(lambda r: r.expect_exit(0), "p:FAIL: on purpose (k.c:1)|o:0")
        tst.fails = (r"^FAIL: on purpose ",)
        self.assertTrue(gradelib.run_test(tst, self.cfg).passed)

    def test_decorator_takes_fails(self):
        n = len(gradelib.REGISTRY)
        try:
            gradelib.test(points=1, fails=[r"^FAIL: x"], name="fails_kw")(lambda r: None)
            self.assertEqual(gradelib.REGISTRY[-1].fails, (r"^FAIL: x",))
        finally:
            del gradelib.REGISTRY[n:]


class Cases(Base):
    """gradelib.cases: a table of rows declares one test each."""

    def test_one_test_per_row(self):
        n = len(gradelib.REGISTRY)
        seen = []
        try:
            gradelib.cases(lambda r, case: seen.append(case), ("points", "name", "cmdline", "case"), [
                (3, "row_a", "ktest=a", ("x", 1)),
                (5, "row_b", "ktest=b", ("y", 2), {"timeout": 60}),
            ], cpus=4, timeout=7)
            a, b = gradelib.REGISTRY[n:]
            self.assertEqual((a.name, a.points, a.cmdline, a.cpus, a.timeout), ("row_a", 3, "ktest=a", 4, 7))
            self.assertEqual((b.name, b.points, b.cmdline, b.timeout), ("row_b", 5, "ktest=b", 60))
            self.assertEqual(a.fn.__name__, "row_a")
            a.fn(None)
            b.fn(None)
            self.assertEqual(seen, [("x", 1), ("y", 2)])
        finally:
            del gradelib.REGISTRY[n:]

    def test_a_row_of_the_wrong_width(self):
        n = len(gradelib.REGISTRY)
        try:
            with self.assertRaises(ValueError):
                gradelib.cases(lambda r, case: None, ("points", "name"), [(1, "ok_row"), (2,)])
        finally:
            del gradelib.REGISTRY[n:]


class NoBoot(Base):
    """A test of files (the written answers) boots nothing: the kernel's
    state, a FAIL line or a hang, cannot cost it its points."""

    def test_boots_nothing(self):
        log = os.path.join(self.dir, "starts.log")
        os.environ["FAKE_QEMU_LOG"] = log
        try:
            tst = mk(lambda r: time.sleep(0.5), "p:FAIL: broken kernel (k.c:1)|h")
            tst.boot = False
            res = gradelib.run_test(tst, self.cfg)
        finally:
            del os.environ["FAKE_QEMU_LOG"]
        self.assertTrue(res.passed, res.message)
        self.assertEqual(res.output, "")
        self.assertFalse(os.path.exists(log), "QEMU was started")

    def test_its_own_check_still_fails(self):
        tst = mk(lambda r: r.check(False, "answers-lab9.txt is missing"), "o:0")
        tst.boot = False
        res = gradelib.run_test(tst, self.cfg)
        self.assertFalse(res.passed)
        self.assertIn("answers-lab9.txt is missing", res.message)
        self.assertIn("grade.py --lab fake", res.reproduce())


class Exits(Base):
    def test_exit_code(self):
        self.assertTrue(self.run1(lambda r: r.expect_exit(3), "o:3").passed)

    def test_wrong_exit_code(self):
        res = self.run1(lambda r: r.expect_exit(0), "p:panic|o:3")
        self.assertFalse(res.passed)
        self.assertIn("expected the kernel to power off with code 0", res.message)
        self.assertIn("powered off with code 3 (QEMU status 7)", res.message)

    def test_reset_has_no_code(self):
        res = self.run1(lambda r: r.expect_exit(0), "x:0")
        self.assertFalse(res.passed)
        self.assertIn("without a power-off code", res.message)

    def test_killed_by_signal(self):
        res = self.run1(lambda r: r.expect_exit(0), "k:9")
        self.assertFalse(res.passed)
        self.assertIn("killed by signal 9", res.message)

    def test_wait_exit_returns_code(self):
        codes = []
        self.run1(lambda r: codes.append(r.wait_exit()), "o:5")
        self.assertEqual(codes, [5])


class Timeouts(Base):
    def test_hang_times_out(self):
        t0 = time.monotonic()
        res = self.run1(lambda r: r.expect_exit(0), "p:stuck|h", timeout=1)
        self.assertLess(time.monotonic() - t0, 4)
        self.assertFalse(res.passed)
        self.assertIn("timed out after 1s", res.message)
        self.assertIn("stuck", res.report())

    def test_expect_times_out(self):
        res = self.run1(lambda r: r.expect("never"), "h", timeout=0.5)
        self.assertFalse(res.passed)
        self.assertIn("expected /never/", res.message)
        self.assertIn("timed out", res.message)

    def test_timeout_scale(self):
        cfg = gradelib.Config(self.dir, qemu=FAKE, timeout_scale=0.2)
        t0 = time.monotonic()
        res = gradelib.run_test(mk(lambda r: r.expect_exit(0), "h", timeout=2.5), cfg)
        self.assertFalse(res.passed)
        self.assertIn("timed out after 0.5s", res.message)
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_within_fails_early(self):
        # A first sign of life that never comes fails at `within` (scaled),
        # long before the test's timeout; one that comes passes.
        cfg = gradelib.Config(self.dir, qemu=FAKE, timeout_scale=0.5)
        t0 = time.monotonic()
        res = gradelib.run_test(mk(lambda r: r.wait_for("alive", within=1), "p:boot|h", timeout=30), cfg)
        self.assertFalse(res.passed)
        self.assertIn("it did not come within 0.5s", res.message)
        self.assertLess(time.monotonic() - t0, 10)
        res = gradelib.run_test(mk(lambda r: r.wait_for("alive", within=4), "s:0.3|p:alive|o:0", timeout=30), cfg)
        self.assertTrue(res.passed, res.message)

    def test_time_left_is_scaled(self):
        # A helper process's timeout comes from the scaled deadline.
        cfg = gradelib.Config(self.dir, qemu=FAKE, timeout_scale=4)
        left = []
        res = gradelib.run_test(mk(lambda r: left.append(r.time_left(margin=1)), "h", timeout=2), cfg)
        self.assertTrue(res.passed, res.message)
        self.assertGreater(left[0], 6)
        self.assertLessEqual(left[0], 7)

    def test_return_early_stops_qemu(self):
        t0 = time.monotonic()
        res = self.run1(lambda r: r.expect("ready"), "p:ready|h", timeout=30)
        self.assertTrue(res.passed, res.message)
        self.assertLess(time.monotonic() - t0, 5)

    def test_flood_is_stopped(self):
        old = gradelib.OUTPUT_LIMIT
        gradelib.OUTPUT_LIMIT = 100000
        try:
            res = self.run1(lambda r: r.expect_exit(0), "f", timeout=20)
        finally:
            gradelib.OUTPUT_LIMIT = old
        self.assertFalse(res.passed)
        self.assertIn("more than 100000 bytes", res.message)

    def test_missing_qemu(self):
        cfg = gradelib.Config(self.dir, qemu=os.path.join(self.dir, "no-such-qemu"))
        res = gradelib.run_test(mk(lambda r: r.expect_exit(0), "o:0"), cfg)
        self.assertFalse(res.passed)
        self.assertIn("could not start QEMU", res.message)


class Diagnosis(Base):
    """A failure says how the run ended, where it stopped and what to look at."""

    def test_fatal_keeps_head_and_tail_of_stderr(self):
        script = "p:ktest run_x: start|p:ok: first exit|e:qemu: fatal: invalid tss|d:60|A"
        res = self.run1(lambda r: r.expect("second exit"), script)
        self.assertFalse(res.passed)
        m = res.message
        self.assertIn("QEMU stopped on a fatal error: invalid tss. The last ktest line was: "
                      "ok: first exit", m)
        self.assertIn("host's TR was not saved", m)
        self.assertIn("    qemu: fatal: invalid tss", m)      # the head, cut off before
        self.assertIn("REG00=", m)
        self.assertIn("REG59=", m)                            # and the tail
        self.assertNotIn("REG40=", m)
        self.assertIn("lines left out", m)
        self.assertIn("reproduce: make qemu", res.report())

    def test_triple_fault_names_last_ktest_line(self):
        script = "p:ktest run_x: start|p:ok: first exit|p:svm: entering|x:0"
        res = self.run1(lambda r: r.expect_exit(0), script)
        self.assertFalse(res.passed)
        m = " ".join(res.message.split())
        self.assertIn("The machine reset without powering off (a triple fault", m)
        self.assertIn("The last ktest line was: ok: first exit. "
                      "The last console line was: svm: entering.", m)
        self.assertIn("GS base or TR were not restored after #VMEXIT", m)
        # A world switch that breaks the C calling convention crashes the same way.
        self.assertIn("callee-saved registers RBX, RBP, R12-R15", m)
        self.assertIn("the gprs pointer must be at (%rsp)", m)

    def test_reboot_loop_is_a_reset(self):
        # Without -no-reboot the output starts over and the test times out.
        script = "p:svmlab: booting|p:ktest x: start|p:svmlab: booting|h"
        res = self.run1(lambda r: r.expect_exit(0), script, timeout=1)
        self.assertFalse(res.passed)
        self.assertIn("The machine reset without powering off", res.message)
        self.assertIn("The last ktest line was: ktest x: start", " ".join(res.message.split()))

    def test_nested_banner_is_not_a_reset(self):
        # svmlab in svmlab's VMM prints its own banner, with another command line.
        script = ('p:svmlab: booting (cmdline "kernel.bin test=vmm -N")|'
                  'p:svmlab: booting (cmdline "kernel.bin test=vmm timer")|p:poweroff: code 1|x:3')
        res = self.run1(lambda r: r.expect(r"^timer: "), script)
        self.assertFalse(res.passed)
        self.assertNotIn("reset without powering off", res.message)
        self.assertIn("powered off with code 1", res.message)

    def test_timeout_names_last_line_and_hints(self):
        res = self.run1(lambda r: r.expect_exit(0), "p:ok: one|p:vcpu: spinning here|h",
                        timeout=1)
        m = " ".join(res.message.split())
        self.assertIn("Timed out after 1s. The last ktest line was: ok: one. The last console "
                      "line was: vcpu: spinning here.", m)
        self.assertIn("Hint: The kernel is stuck", m)
        self.assertIn("SVMLAB_TIMEOUT_SCALE=3", m)

    def test_timeout_on_a_slow_machine(self):
        self.cfg.slowness = 3.04
        res = self.run1(lambda r: r.expect_exit(0), "p:x|h", timeout=0.5)
        self.assertIn("The calibration boot ran 3.0x slower than on the reference machine.",
                      " ".join(res.message.split()))

    def test_timeout_on_a_fast_machine(self):
        self.cfg.slowness = 0.5
        res = self.run1(lambda r: r.expect_exit(0), "p:x|h", timeout=0.5)
        self.assertIn("The calibration boot ran 2.0x faster than on the reference machine.",
                      " ".join(res.message.split()))

    def test_timeout_without_output(self):
        res = self.run1(lambda r: r.expect("x"), "h", timeout=0.5)
        self.assertIn("Timed out after 0.5s. The console printed nothing.", res.message)

    def test_clean_poweroff_has_no_diagnosis(self):
        res = self.run1(lambda r: r.expect("never"), "p:FAIL: x (a.c:1)|o:1")
        self.assertFalse(res.passed)
        self.assertNotIn("Hint:", res.message)
        self.assertNotIn("reset", res.message)

    def test_unknown_fatal(self):
        res = self.run1(lambda r: r.expect_exit(0), "p:hi|e:qemu: fatal: something new|d:3|A")
        self.assertIn("QEMU stopped on a fatal error: something new. The last console line "
                      "was: hi.", " ".join(res.message.split()))
        self.assertIn("REG02=", res.message)


class Interaction(Base):
    def test_send_and_wait_for(self):
        def t(r):
            r.wait_for("ready")
            r.sendline("hello world")
            r.wait_for(r"got: (.*)")
            r.sendline("again")
            m = r.wait_for(r"got: (.*)")      # the cursor skips the first reply
            r.check(m.group(1) == "again", "second reply: %r" % m.group(1))
            r.expect_exit(0)
        res = self.run1(t, "p:ready|r|r|o:0")
        self.assertTrue(res.passed, res.message)


class Reports(Base):
    def test_tail_is_25_lines(self):
        script = "|".join("p:line %d" % i for i in range(40)) + "|o:1"
        res = self.run1(lambda r: r.expect_exit(0), script)
        rep = res.report()
        shown = [l for l in rep.split("\n") if l.startswith("      | ")]
        self.assertEqual(len(shown), 25)
        self.assertEqual(shown[-1], "      | line 39")
        self.assertIn("reproduce: make qemu CPUS=1", rep)

    def test_extra_function(self):
        seen = []
        res = self.run1(lambda r: seen.append(r.argv[-2:]), "o:0",
                        extra=lambda: ["-gdb", "tcp::%d" % gradelib.free_port()])
        self.assertTrue(res.passed, res.message)
        self.assertEqual(seen[0][0], "-gdb")
        self.assertRegex(seen[0][1], r"^tcp::\d+$")

    def test_qemu_argv(self):
        log = os.path.join(self.dir, "argv.log")
        os.environ["FAKE_QEMU_LOG"] = log
        try:
            self.run1(lambda r: r.wait_exit(), "o:0", cpus=4, qemu_cpu="qemu64",
                      extra=["-d", "int"])
            self.run1(lambda r: r.wait_exit(), "o:0")
        finally:
            del os.environ["FAKE_QEMU_LOG"]
        with open(log) as f:
            a1, a2 = [json.loads(l)[1:] for l in f]
        self.assertEqual(a1[a1.index("-cpu") + 1], "qemu64")
        self.assertEqual(a2[a2.index("-cpu") + 1], "max")
        self.assertEqual(a1[a1.index("-smp") + 1], "4")
        self.assertEqual(a1[a1.index("-append") + 1], "o:0")
        self.assertEqual(a1[-2:], ["-d", "int"])
        self.assertIn("isa-debug-exit,iobase=0xf4,iosize=0x04", a1)
        self.assertEqual(a1[a1.index("-accel") + 1], "tcg")


class Parallel(Base):
    def test_parallel_and_ordered(self):
        # The first test is the slowest: results still come back in order.
        tests = [mk(lambda r: r.expect_exit(0), "s:%g|o:0" % s, name="t%d" % i)
                 for i, s in enumerate([1.2, 0.8, 0.8, 0.8])]
        seen = []
        t0 = time.monotonic()
        res = gradelib.run_tests(tests, self.cfg, 4, lambda r: seen.append(r.test.name))
        wall = time.monotonic() - t0
        self.assertEqual(seen, ["t0", "t1", "t2", "t3"])
        self.assertTrue(all(r.passed for r in res))
        # Overlap, judged against the tests' own times (which include each
        # fake QEMU's start-up, slow on a loaded host): one after the other,
        # the wall time would be their sum.
        total = sum(r.elapsed for r in res)
        self.assertLess(wall, 0.75 * total, "4 jobs should overlap (took %.1fs for %.1fs of tests)"
                        % (wall, total))

    def test_interrupt_while_submitting(self):
        # A Ctrl-C can land while run_tests is still handing out tests, with
        # the first QEMUs already up (seen once on a loaded host: grade.py
        # then waited for their timeouts). They must be killed at once.
        log = os.path.join(self.dir, "pids.log")
        os.environ["FAKE_QEMU_LOG"] = log
        raised = []

        def tests():
            for i in range(2):
                yield mk(lambda r: r.expect_exit(0), "p:up|h", timeout=30, name="hang%d" % i)
            t = time.monotonic()
            while time.monotonic() - t < 20 and not (
                    os.path.exists(log) and len(open(log).readlines()) >= 2):
                time.sleep(0.05)
            raised.append(time.monotonic())
            raise KeyboardInterrupt
        try:
            with self.assertRaises(KeyboardInterrupt):
                gradelib.run_tests(tests(), self.cfg, 2)
            stopped = time.monotonic() - raised[0]
        finally:
            del os.environ["FAKE_QEMU_LOG"]
            gradelib._STOPPING = False   # kill_all's flag, for the next tests
        with open(log) as f:
            self.assertEqual(len(f.readlines()), 2, "both QEMUs were up before the interrupt")
        self.assertLess(stopped, 10, "run_tests waited for the QEMUs' 30 s timeouts")

    def test_jobs_limit(self):
        tests = [mk(lambda r: r.expect_exit(0), "s:0.5|o:0", name="t%d" % i) for i in range(3)]
        t0 = time.monotonic()
        gradelib.run_tests(tests, self.cfg, 1)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)


LAB_A = '''
from gradelib import test

@test(points=3, title="prints hello", cmdline="p:hello|o:0", cpus=1, timeout=5)
def hello(r):
    r.expect("hello")
    r.expect_exit(0)

@test(points=2, title="wants goodbye", cmdline="p:hello|o:0", cpus=1, timeout=5)
def goodbye(r):
    r.expect("goodbye")
'''

LAB_B = '''
from gradelib import test

@test(points=5, title="powers off with 3", cmdline="o:3", cpus=1, timeout=5)
def three(r):
    r.expect_exit(3)
'''


class CommandLine(Base):
    def setUp(self):
        super().setUp()
        self.gdir = os.path.join(self.dir, "g")
        os.mkdir(self.gdir)
        for name, text in (("lab_boot.py", LAB_A), ("lab_hsave.py", LAB_B)):
            with open(os.path.join(self.gdir, name), "w") as f:
                f.write(textwrap.dedent(text))

    def grade(self, *args, env=None):
        cmd = [sys.executable, GRADE, "--grade-dir", self.gdir, "--build-dir", self.dir,
               "--qemu", FAKE] + list(args)
        e = {k: v for k, v in os.environ.items() if not k.startswith("SVMLAB_")}
        e.update(env or {})
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60, env=e)
        return p.returncode, p.stdout, p.stderr

    def test_slow_machine_is_named_up_front(self):
        # The fake QEMU "boots" in a few ms; a reference of 0.1 ms makes it slow.
        env = {"SVMLAB_CALIBRATE": "1", "SVMLAB_REFERENCE_BOOT": "0.0001"}
        rc, out, _ = self.grade("--lab", "hsave", env=env)
        self.assertEqual(rc, 0, out)
        first = out.split("\n")[0]
        self.assertIn("grade.py: warning: this machine runs QEMU", first)
        self.assertRegex(first, r"slower than the one the timeouts were set on")
        self.assertRegex(out, r"grade with SVMLAB_TIMEOUT_SCALE=\d+ \(or --timeout-scale \d+; now 1\)")
        # A fast machine, or no calibration: nothing said.
        for env in ({"SVMLAB_CALIBRATE": "1", "SVMLAB_REFERENCE_BOOT": "100"},
                    {"SVMLAB_REFERENCE_BOOT": "0.0001"}):     # 1 test: no calibration boot
            rc, out, _ = self.grade("--lab", "hsave", env=env)
            self.assertNotIn("warning", out)

    def test_calibration_line_says_faster(self):
        env = {"SVMLAB_CALIBRATE": "1", "SVMLAB_REFERENCE_BOOT": "100"}
        rc, out, _ = self.grade("--lab", "hsave", "-v", env=env)
        self.assertRegex(out, r"calibration boot .*this machine is [\d.]+x faster\)")

    def test_stale_build_is_named(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location("grade_main", GRADE)
        grade = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(grade)
        root = os.path.join(self.dir, "src")
        os.makedirs(os.path.join(root, "kern"))
        src = os.path.join(root, "kern", "main.c")
        open(src, "w").close()
        os.utime(src, (1000, 1000))
        for f in ("kernel.bin", "initrd.tar"):
            os.utime(os.path.join(self.dir, f), (2000, 2000))
        self.assertIsNone(grade.newer_source(self.dir, root))
        os.utime(src, (3000, 3000))
        self.assertEqual(grade.newer_source(self.dir, root), src)
        # A user program is in the initrd only: a kernel built before it is not stale.
        os.makedirs(os.path.join(root, "user"))
        prog = os.path.join(root, "user", "vmm.c")
        open(prog, "w").close()
        os.utime(src, (1000, 1000))
        os.utime(prog, (2500, 2500))
        os.utime(os.path.join(self.dir, "kernel.bin"), (1500, 1500))
        os.utime(os.path.join(self.dir, "initrd.tar"), (3000, 3000))
        self.assertIsNone(grade.newer_source(self.dir, root))
        os.utime(os.path.join(self.dir, "initrd.tar"), (2000, 2000))
        self.assertEqual(grade.newer_source(self.dir, root), prog)

    def test_calibration_boot_failure_is_reported(self):
        rc, out, _ = self.grade("--lab", "hsave", "--qemu", os.path.join(self.dir, "nosuch"),
                                env={"SVMLAB_CALIBRATE": "1"})
        self.assertIn("grade.py: the calibration boot failed (could not start QEMU", out)

    def test_scales_multiply(self):
        # SVMLAB_TIMEOUT_SCALE (the machine) times --timeout-scale (the tool's factor).
        with open(os.path.join(self.gdir, "lab_vmcb.py"), "w") as f:
            f.write("from gradelib import test\n"
                    "@test(points=1, cmdline='h', cpus=1, timeout=2)\n"
                    "def hangs(r):\n    r.expect_exit(0)\n")
        rc, out, _ = self.grade("--lab", "vmcb", "--timeout-scale", "0.5",
                                env={"SVMLAB_TIMEOUT_SCALE": "0.25"})
        self.assertEqual(rc, 1)
        self.assertIn("timed out after 0.25s", out)
        rc, _, err = self.grade("--lab", "vmcb", env={"SVMLAB_TIMEOUT_SCALE": "fast"})
        self.assertEqual(rc, 2)
        self.assertIn("SVMLAB_TIMEOUT_SCALE='fast' is not a positive number", err)

    def test_all_labs_scores_and_files(self):
        js, ju = os.path.join(self.dir, "r.json"), os.path.join(self.dir, "j.xml")
        rc, out, _ = self.grade("--json", js, "--junit", ju, "-j", "3")
        self.assertEqual(rc, 1)
        lines = out.strip().split("\n")
        self.assertEqual(lines[-1], "2 passed, 1 failed")
        self.assertRegex(out, r"lab 0 boot\s+3/5")
        self.assertRegex(out, r"lab 1 hsave\s+5/5")
        self.assertRegex(out, r"total\s+8/10")
        self.assertRegex(out, r"boot: wants goodbye \(2 pts\): FAIL \(\d+\.\d+s\)")
        self.assertIn("expected /goodbye/", out)
        # Stable order: lab order, then declaration order.
        order = [l.split(" (")[0] for l in lines if l.endswith("s)") and ": " in l]
        self.assertEqual(order, ["boot: prints hello", "boot: wants goodbye",
                                 "hsave: powers off with 3"])
        with open(js) as f:
            doc = json.load(f)
        self.assertEqual(doc["score"], 8)
        self.assertEqual([t["score"] for t in doc["tests"]], [3, 0, 5])
        self.assertEqual([t["max_score"] for t in doc["tests"]], [3, 2, 5])
        self.assertIn("expected /goodbye/", doc["tests"][1]["output"])
        self.assertEqual(doc["extra_data"]["labs"]["boot"]["score"], 3)
        suites = ET.parse(ju).getroot()
        self.assertEqual(suites.get("failures"), "1")
        cases = suites.findall("testsuite/testcase")
        self.assertEqual([c.get("name") for c in cases], ["hello", "goodbye", "three"])
        self.assertIsNotNone(cases[1].find("failure"))
        self.assertIsNone(cases[0].find("failure"))

    def test_lab_by_number_and_pattern(self):
        rc, out, _ = self.grade("--lab", "1")
        self.assertEqual(rc, 0)
        self.assertEqual(out.strip().split("\n")[-1], "1 passed, 0 failed")
        rc, out, _ = self.grade("--lab", "boot", "-k", "hello")
        self.assertEqual(rc, 0)
        self.assertIn("prints hello", out)
        self.assertNotIn("goodbye", out)

    def test_no_match(self):
        rc, _, err = self.grade("-k", "nothing-matches-this")
        self.assertEqual(rc, 2)
        self.assertIn("no test matches", err)

    def test_list(self):
        rc, out, _ = self.grade("--list")
        self.assertEqual(rc, 0)
        self.assertIn("boot/hello", out)
        self.assertIn("hsave/three", out)
        self.assertIn("3 tests", out)

    def test_unknown_lab(self):
        rc, _, err = self.grade("--lab", "nosuch")
        self.assertEqual(rc, 2)
        self.assertIn("no grader for lab 'nosuch'", err)

    def test_interrupt_kills_every_qemu(self):
        with open(os.path.join(self.gdir, "lab_run.py"), "w") as f:
            f.write("from gradelib import test\n" + "".join(
                "@test(points=1, cmdline='p:up|h', timeout=60, name='hang%d')\n"
                "def t(r):\n    r.expect_exit(0)\n" % i for i in range(4)))
        log = os.path.join(self.dir, "pids.log")
        env = dict(os.environ, FAKE_QEMU_LOG=log)
        # grade.py starts as under an interactive shell, with SIGINT at its
        # default: make test itself may run with SIGINT ignored (a script's
        # background job), and grade.py would inherit that and never stop.
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            p = subprocess.Popen([sys.executable, GRADE, "--grade-dir", self.gdir, "--build-dir",
                                  self.dir, "--qemu", FAKE, "--lab", "run", "-j", "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        finally:
            signal.signal(signal.SIGINT, old)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            if os.path.exists(log):
                with open(log) as f:
                    if len(f.readlines()) >= 2:
                        break
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        t1 = time.monotonic()   # the QEMUs' start-up above may be slow on a loaded host
        p.communicate(timeout=20)
        self.assertEqual(p.returncode, 130)
        self.assertLess(time.monotonic() - t1, 10)
        with open(log) as f:
            pids = [json.loads(l)[0] for l in f]
        self.assertEqual(len(pids), 2, "no QEMU may start after the interrupt")
        for pid in pids:
            try:
                with open("/proc/%d/status" % pid) as f:
                    state = f.read().lower()
            except OSError:
                continue
            self.assertIn("zombie", state, "fake QEMU %d still runs" % pid)

    def test_kernel_missing(self):
        os.unlink(os.path.join(self.dir, "kernel.bin"))
        rc, _, err = self.grade()
        self.assertEqual(rc, 2)
        self.assertIn("run make first", err)


if __name__ == "__main__":
    unittest.main()

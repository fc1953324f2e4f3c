"""svmlab grading library (Python 3 standard library only).

A lab grader (grade/lab_<stem>.py) declares tests:

    from gradelib import test

    @test(points=5, title="every CPU comes up", cmdline="ktest=smp", cpus=4, timeout=30)
    def cpus_online(r):
        r.expect(r"svmlab: 4 cpus online")   # waits until the regex appears
        r.reject(r"panic:")                    # must never appear in the output
        r.expect_exit(0)                       # waits for power-off code 0

Each test boots QEMU on build/kernel.bin + build/initrd.tar with the given
kernel command line and runs the test function *while QEMU runs*:
expect-style calls wait for the serial output (up to the test's timeout).
When the function returns, QEMU is killed if it still runs, and every
reject() pattern is checked once more against the whole output.

The runner `r` offers:
  r.expect(rx)            wait until rx matches the output; returns the match
  r.reject(rx)            rx must never match (checked now and at the end)
  r.expect_exit(code)     wait for the kernel to power off with `code`
  r.expect_order([rx..])  the regexes match in this order
  r.wait_for(rx)          like expect, but from a cursor that moves past each
                          match: use it to step through an interactive session
  r.send(text)            type text on the serial console (r.sendline adds \\n)
  r.wait_exit()           wait for the end; returns the power-off code or None
  r.find(rx) / r.findall(rx)   search the output so far, without waiting
  r.check(cond, msg)      fail with msg unless cond
  r.allow_fail(rx)        a FAIL line matching rx does not fail this test
                          (see FAIL_LINE; @test(fails=[rx..]) says it up front)
  r.output                the serial output so far (\\r removed)
  r.build_dir, r.argv, r.test   where kernel.elf is, QEMU's argv, the Test
  r.time_left(margin)     seconds to the deadline: the timeout of a helper
                          process (never a fixed number: it would escape
                          SVMLAB_TIMEOUT_SCALE)
Every test also fails on any line in the FAIL conventions of svmlab's test
programs (FAIL_LINE: "FAIL: ..." from a ktest, "prog: FAIL: ...",
"prog: name: FAILED", "... FAIL" at the end of a line): a failed check is
never dropped because no rule of the grader names it.  A test that provokes
such a line on purpose names it: @test(fails=[rx]) or r.allow_fail(rx).

Regexes are Python `re` patterns compiled with re.MULTILINE.  While QEMU
runs they see complete lines, plus the unfinished last line once the output
has been quiet for 0.3 s (a shell prompt "$ " waiting for input);
partial=True (expect, wait_for, find) sees that last line at once.

QEMU's isa-debug-exit device ends QEMU with status (code << 1) | 1.
"""
import codecs
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback

# ---------------------------------------------------------------------------
# Test declarations

REGISTRY = []          # every Test declared so far, in declaration order
OUTPUT_LIMIT = 4 << 20  # a kernel printing more than this is stopped
SETTLE = 0.3           # seconds of quiet after which a partial last line counts


class Test:
    """One declared test: how to boot QEMU and the function that checks it."""

    def __init__(self, fn, lab, points, title, cmdline, cpus, timeout,
                 qemu_cpu, extra, mem, name, fails=(), boot=True):
        self.fn = fn
        self.lab = lab
        self.name = name or fn.__name__
        self.points = points
        self.title = title or self.name.replace("_", " ")
        self.cmdline = cmdline
        self.cpus = cpus
        self.timeout = timeout
        self.qemu_cpu = qemu_cpu
        self.extra = extra if callable(extra) else list(extra)
        self.mem = mem
        self.fails = tuple(fails)
        self.boot = boot

    @property
    def id(self):
        return "%s/%s" % (self.lab, self.name)


def _lab_of(module_name):
    base = module_name.rsplit(".", 1)[-1]
    return base[4:] if base.startswith("lab_") else base


def test(points, title=None, cmdline="", cpus=2, timeout=30, qemu_cpu=None,
         extra=(), mem="512M", name=None, fails=(), boot=True):
    """Declares a test (decorator).  See the module docstring.

    points   what a pass is worth
    title    one line shown in reports (default: the function's name)
    cmdline  the kernel command line, e.g. "test=forktest" or "ktest=panic_pf";
             or a function of the build directory returning one (for values
             read from the build, such as kernel symbol addresses)
    cpus     -smp; timeout: seconds before QEMU is killed and the test fails
    qemu_cpu -cpu model instead of the default ("max"), e.g. "qemu64"
    extra    more QEMU arguments: a list, or a function returning one, called
             for each run (e.g. lambda: ["-S", "-gdb", "tcp::%d" % free_port()];
             the test finds the values again in r.argv); mem: -m
    fails    regexes of FAIL lines (FAIL_LINE) this test provokes on purpose;
             any other FAIL line fails it
    boot     False: boot nothing; the function checks files (the written
             answers), so the kernel's state cannot fail it
    """
    def deco(fn):
        t = Test(fn, _lab_of(fn.__module__), points, title, cmdline, cpus,
                 timeout, qemu_cpu, extra, mem, name, fails, boot)
        if any(o.id == t.id for o in REGISTRY):
            raise ValueError("test %s declared twice" % t.id)
        REGISTRY.append(t)
        return fn
    return deco


def cases(run, fields, rows, **common):
    """Declares one test per row of a table, for tests that share a shape:
    adding a case is one line, and each case stays a test of its own (its
    name in every report, its own points).

        cases(rules_run, ("points", "name", "title", "cmdline", "case"), [
            (4, "asid_range", "A: first load", "ktest=vcpu_asid", ["first load on cpu1"]),
            (6, "asid_wrap", "A: 40 vcpus", "ktest=vcpu_asid_wrap", ["every ASID"]),
        ], cpus=2, timeout=40)

    fields names the columns: @test's keywords (name is required) and
    "case", what run(r, case) is given; common holds the keywords every row
    shares, which a column overrides; a row may end with a dict of keywords
    of its own (a longer timeout). The tests belong to run's lab."""
    for row in rows:
        own = row[-1] if len(row) == len(fields) + 1 and isinstance(row[-1], dict) else {}
        if len(row) - bool(own) != len(fields):
            raise ValueError("row %r has %d columns, the table %d %r" % (row, len(row), len(fields), fields))
        kw = dict(common, **dict(zip(fields, row)), **own)
        case = kw.pop("case", None)

        def one(r, case=case):
            return run(r, case)
        one.__module__ = run.__module__
        one.__name__ = one.__qualname__ = kw["name"]
        test(**kw)(one)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for -gdb tcp::PORT
    in a test that drives gdb; tests run in parallel, so never hard-code one)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The ways svmlab's test programs report a failed check (kern/ktest.c,
# user/*.c, user/guests/*.S, the VMM's guests):
#   FAIL: what (file:line)                      a ktest's KCHECK
#   prog: FAIL: what ...                        usertests, forktest, irqtest, step...
#   prog: name: FAIL: why / prog: name: FAIL(ED) hostile, devtest, irqtest, usertests
#   prog: what: status N FAIL                   faulttest
FAIL_LINE = re.compile(r"^(?:FAIL: |[\w.-]+: (?:[^\n]*?: )?FAIL(?:ED)?(?::|$)|[^\n]* FAIL$)", re.M)


class TestFailure(Exception):
    """Raised by the runner's checks; its message says what was expected."""


# ---------------------------------------------------------------------------
# One QEMU process and its serial output

_LIVE = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = False


def kill_all():
    """Kills every QEMU still running and starts no more (on Ctrl-C, SIGTERM)."""
    global _STOPPING
    with _LIVE_LOCK:
        _STOPPING = True
        procs = list(_LIVE)
    for p in procs:
        try:
            p.kill()
        except OSError:
            pass


class Qemu:
    """A running QEMU whose serial console is its stdin/stdout."""

    def __init__(self, argv, cwd, timeout):
        self.argv = argv
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.timeout = timeout
        self.cond = threading.Condition()
        self.text = ""
        self.last_output = self.started
        self.ended = False
        self.timed_out = False
        self.flooded = False
        self.status = None
        self.stderr = b""
        with _LIVE_LOCK:
            if _STOPPING:
                raise OSError("the grader is stopping")
            # Own session: a Ctrl-C reaches the grader, which kills every QEMU.
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE,
                                         start_new_session=True)
            _LIVE.add(self.proc)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stderr(self):
        self.stderr = self.proc.stderr.read()

    def _read_stdout(self):
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            text = dec.decode(chunk, final=not chunk).replace("\r", "")
            with self.cond:
                self.text += text
                if text:
                    self.last_output = time.monotonic()
                if len(self.text) > OUTPUT_LIMIT and not self.flooded:
                    self.flooded = True
                    self.kill()
                self.cond.notify_all()
            if not chunk:
                break
        status = self.proc.wait()
        self._err.join(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        with _LIVE_LOCK:
            _LIVE.discard(self.proc)
        with self.cond:
            self.status = status
            self.ended = True
            self.cond.notify_all()

    def kill(self):
        try:
            self.proc.kill()
        except OSError:
            pass

    def wait_until(self, pred, until=None):
        """Waits until pred(text) is true (returns True), or QEMU has ended or
        the deadline passed (returns False; QEMU is then killed), or the
        monotonic time until (if given) passed (returns False, QEMU runs on)."""
        with self.cond:
            while True:
                if pred(self.text):
                    return True
                if self.ended:
                    return False
                if until is not None and time.monotonic() >= until:
                    return False
                left = self.deadline - time.monotonic()
                if until is not None:
                    left = min(left, max(until - time.monotonic(), 0.01))
                if left <= 0:
                    if not self.timed_out:
                        self.timed_out = True
                        self.kill()
                    return False
                # Wake up now and then even without output: a partial last line
                # becomes visible once it has been quiet for SETTLE seconds.
                self.cond.wait(min(left, SETTLE / 2))

    def wait_end(self, grace=5.0):
        """Waits for QEMU to end (killing it at the deadline)."""
        self.wait_until(lambda t: False)
        with self.cond:
            end = time.monotonic() + grace
            while not self.ended and time.monotonic() < end:
                self.cond.wait(0.1)

    def stop(self):
        """Kills QEMU if it still runs and waits for the reader to finish."""
        with self.cond:
            ended = self.ended
        if not ended:
            self.kill()
        self.wait_end()

    def send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def poweroff_code(self):
        """The kernel's power-off code, or None if QEMU did not end that way."""
        s = self.status
        if s is None or s <= 0 or not (s & 1) or self.timed_out:
            return None
        return s >> 1

    def describe_end(self):
        """Why the output ended, in words."""
        if self.flooded:
            return "QEMU was stopped: more than %d bytes of output" % OUTPUT_LIMIT
        if self.timed_out:
            return "timed out after %gs (QEMU killed)" % self.timeout
        s = self.status
        if s is None:
            return "QEMU is still running"
        if s < 0:
            return "QEMU was killed by signal %d" % -s
        if s & 1:
            return "the kernel powered off with code %d (QEMU status %d)" % (s >> 1, s)
        return ("QEMU exited with status %d without a power-off code "
                "(reset, triple fault, ACPI shutdown or a QEMU error)" % s)


class NoQemu:
    """Stands for QEMU in a test declared with boot=False: no output, ended."""

    def __init__(self, argv):
        self.argv, self.cond = argv, threading.Condition()
        self.text, self.stderr, self.status = "", b"", None
        self.ended, self.timed_out, self.flooded = True, False, False
        self.started = self.last_output = self.deadline = time.monotonic()
        self.timeout = 0

    def wait_until(self, pred):
        return pred(self.text)

    def wait_end(self, grace=0):
        pass

    stop = kill = wait_end

    def send(self, data):
        pass

    def poweroff_code(self):
        return None

    def describe_end(self):
        return "this test boots nothing (boot=False)"


# ---------------------------------------------------------------------------
# The object a test function receives


def _rx(pattern):
    return pattern if hasattr(pattern, "search") else re.compile(pattern, re.M)


def _show(pattern):
    return "/%s/" % getattr(pattern, "pattern", pattern)


class Runner:
    """What a test function calls; see the module docstring.

    While QEMU runs, patterns are matched against complete lines only (text
    up to the last newline), so `(\\d+)$` cannot match half a number that is
    still arriving.  An unfinished last line (a shell prompt such as "$ ")
    counts once no output has come for SETTLE seconds, or at once with
    partial=True.  Once QEMU has ended, all text counts."""

    def __init__(self, qemu):
        self.q = qemu
        self.cursor = 0
        self.rejects = []
        self.allowed = []       # FAIL lines this test provokes on purpose
        self.scanned = 0        # output up to here holds no unallowed FAIL line
        self.scale = 1.0        # the timeout scale (run_test sets it): wait_for's within

    @property
    def output(self):
        with self.q.cond:
            return self.q.text

    def _view(self, text, partial):
        q = self.q
        if partial or q.ended or time.monotonic() - q.last_output >= SETTLE:
            return text
        return text[:text.rfind("\n") + 1]

    def _wait(self, rx, pos=0, partial=False, within=None):
        """Waits until rx matches the view at or after pos; returns the match or
        None. within: give up after that many seconds (times the timeout scale)."""
        found = []
        until = time.monotonic() + within * self.scale if within else None

        def pred(text):
            view = self._view(text, partial)
            m = rx.search(view, pos)
            if m:
                found.append(m)
            # A failed check ends the wait: the caller's _check_rejects fails
            # the test now, not at the timeout.
            return m is not None or self._new_failure(view)
        self.q.wait_until(pred, until)
        if not found:
            self._check_rejects()     # a FAIL line is the better message
        return found[0] if found else None

    def _new_failure(self, view):
        """Whether complete lines not yet scanned hold an unallowed FAIL line."""
        end = view.rfind("\n") + 1
        if end <= self.scanned:
            return False
        bad = self._failed_check(view[self.scanned:end])
        self.scanned = end
        if bad is not None:
            self.scanned = 0      # rescanned in full by _check_rejects
        return bad is not None

    def fail(self, msg):
        raise TestFailure(msg)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def _ending(self):
        return self.q.describe_end()

    def _missed(self, within):
        """Why a wait found nothing: the end of the output, or its `within`."""
        if within and not self.q.ended and not self.q.timed_out:
            return "it did not come within %gs" % (within * self.scale)
        return self._ending()

    def expect(self, pattern, msg=None, partial=False, within=None):
        """Waits until pattern matches anywhere in the output; returns the match.
        within: as for wait_for."""
        rx = _rx(pattern)
        m = self._wait(rx, 0, partial, within)
        if not m:
            self.fail("%s\n  but %s" % (msg or "expected %s in the output" % _show(rx),
                                        self._missed(within)))
        self._check_rejects()
        return m

    def wait_for(self, pattern, msg=None, partial=False, within=None):
        """Waits for pattern after the cursor; moves the cursor past the match.
        within: fail unless it comes within that many seconds (scaled as the
        test's timeout), for a first sign of life that spares a dead guest
        the whole timeout."""
        rx = _rx(pattern)
        m = self._wait(rx, self.cursor, partial, within)
        if not m:
            self.fail("%s\n  but %s" % (msg or "expected %s after offset %d of the output"
                                        % (_show(rx), self.cursor), self._missed(within)))
        self.cursor = m.end()
        self._check_rejects()
        return m

    def expect_order(self, patterns):
        """Each pattern must match after the previous one's match."""
        pos, prev = 0, None
        for p in patterns:
            rx = _rx(p)
            m = self._wait(rx, pos)
            if not m:
                where = "after %s" % _show(prev) if prev is not None else "in the output"
                self.fail("expected %s %s (order: %s)\n  but %s"
                          % (_show(rx), where, ", ".join(_show(_rx(x)) for x in patterns),
                             self._ending()))
            pos, prev = m.end(), rx
        self._check_rejects()

    def reject(self, pattern, msg=None):
        """pattern must not match the output, now or by the end of the test."""
        self.rejects.append((_rx(pattern), msg))
        self._check_rejects()

    def allow_fail(self, pattern):
        """A FAIL line matching pattern is expected: it does not fail the test."""
        self.allowed.append(_rx(pattern))
        self.scanned = 0

    def _failed_check(self, text):
        """The first FAIL line no allow_fail() pattern covers, or None."""
        for m in FAIL_LINE.finditer(text):
            line = text[m.start():].split("\n", 1)[0]
            if not any(rx.search(line) for rx in self.allowed):
                return line
        return None

    def _check_rejects(self):
        with self.q.cond:
            text = self._view(self.q.text, False)
        bad = self._failed_check(text)
        if bad is not None:
            self.fail("a test program reported a failed check: every FAIL line fails the "
                      "test\n  found: %s" % bad)
        for rx, msg in self.rejects:
            m = rx.search(text)
            if m:
                line = text[text.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0]
                self.fail("%s\n  found: %s" % (msg or "did not expect %s in the output"
                                               % _show(rx), line))

    def wait_exit(self):
        """Waits until QEMU ends; returns the power-off code or None."""
        self.q.wait_end()
        return self.q.poweroff_code()

    def expect_exit(self, code):
        """Waits for the kernel to power off with `code`."""
        got = self.wait_exit()
        if got != code:
            self.fail("expected the kernel to power off with code %d\n  but %s"
                      % (code, self._ending()))
        self._check_rejects()

    @property
    def exit_code(self):
        return self.q.poweroff_code()

    def time_left(self, margin=0.0, least=1.0):
        """Seconds until this test's (scaled) deadline, less margin, at least
        `least`: the timeout for a helper process the test waits for (gdb, a
        host-side tool), so that SVMLAB_TIMEOUT_SCALE reaches it too."""
        return max(least, self.q.deadline - time.monotonic() - margin)

    def send(self, text):
        self.q.send(text.encode() if isinstance(text, str) else text)

    def sendline(self, text=""):
        self.send(text + "\n")

    def find(self, pattern, partial=False):
        """The first match in the output so far (no waiting), or None."""
        return _rx(pattern).search(self._view(self.output, partial))

    def findall(self, pattern, partial=False):
        """Every match in the output so far (no waiting)."""
        return list(_rx(pattern).finditer(self._view(self.output, partial)))


# ---------------------------------------------------------------------------
# Running tests


class Config:
    """Where the kernel is and how QEMU is started."""

    def __init__(self, build_dir, qemu="qemu-system-x86_64", cpu="max",
                 timeout_scale=1.0, tail=25):
        self.build_dir = os.path.abspath(build_dir)
        self.qemu = qemu
        self.cpu = cpu
        self.timeout_scale = timeout_scale
        self.tail = tail
        self.slowness = None     # the calibration boot's ratio to the reference machine

    def argv(self, t):
        """QEMU's command line for test t (run in the build directory, so the
        kernel sees a short command line: "kernel.bin <cmdline>")."""
        return ([self.qemu, "-accel", "tcg", "-cpu", t.qemu_cpu or self.cpu,
                 "-smp", str(t.cpus), "-m", t.mem, "-no-reboot",
                 "-display", "none", "-nodefaults", "-serial", "stdio",
                 "-monitor", "none",
                 "-kernel", "kernel.bin", "-initrd", "initrd.tar",
                 "-append", t.cmdline(self.build_dir) if callable(t.cmdline) else t.cmdline,
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"] +
                list(t.extra() if callable(t.extra) else t.extra))


class Result:
    def __init__(self, test, passed, elapsed, message, output, argv):
        self.test = test
        self.passed = passed
        self.elapsed = elapsed
        self.message = message
        self.output = output
        self.argv = argv

    @property
    def score(self):
        return self.test.points if self.passed else 0

    def tail(self, n=25):
        lines = self.output.rstrip("\n").split("\n") if self.output else []
        return lines[-n:]

    def cmdline(self):
        """The kernel command line this run used."""
        a = self.argv or []
        return a[a.index("-append") + 1] if "-append" in a else self.test.cmdline

    def reproduce(self):
        """A make line that boots the same way, for a student to try."""
        t = self.test
        if not getattr(t, "boot", True):
            return "python3 grade/grade.py --lab %s -k '^%s$'" % (t.lab, re.escape(t.id))
        s = "make qemu CPUS=%d APPEND=%s" % (t.cpus, shlex.quote(self.cmdline()))
        if t.qemu_cpu:
            s += " QEMUCPU=%s" % shlex.quote(t.qemu_cpu)
        if t.extra and not callable(t.extra):
            s += " QEMUEXTRA=%s" % shlex.quote(" ".join(t.extra))
        return s

    def report(self, n=25):
        """The failure explanation: what was expected, how to reproduce, the tail."""
        if self.passed:
            return ""
        out = ["    " + l for l in self.message.rstrip().split("\n")]
        out.append("    reproduce: " + self.reproduce())
        tail = self.tail(n)
        if tail:
            out.append("    last %d lines of output:" % len(tail))
            out += ["      | " + l for l in tail]
        else:
            out.append("    (no output)")
        return "\n".join(out)


def run_test(t, cfg):
    """Boots QEMU for test t, runs its function, returns a Result."""
    argv = cfg.argv(t) if getattr(t, "boot", True) else []
    start = time.monotonic()
    try:
        q = (Qemu(argv, cfg.build_dir, t.timeout * cfg.timeout_scale) if argv
             else NoQemu(argv))
    except OSError as e:
        return Result(t, False, 0.0, "could not start QEMU (%s): %s" % (argv[0], e), "", argv)
    r = Runner(q)
    r.test, r.build_dir, r.argv, r.scale = t, cfg.build_dir, argv, cfg.timeout_scale
    for rx in getattr(t, "fails", ()):
        r.allow_fail(rx)
    passed, msg = True, ""
    try:
        t.fn(r)
        q.stop()
        r._check_rejects()
    except TestFailure as e:
        passed, msg = False, str(e)
    except Exception:
        passed, msg = False, "grader error:\n" + traceback.format_exc()
    finally:
        q.stop()
    err = q.stderr.decode("utf-8", "replace").strip()
    if not passed:
        msg += "".join("\n  " + l for l in diagnose(q, q.text, err, cfg.timeout_scale,
                                                     cfg.slowness))
        if err:
            msg += "\n  QEMU said:\n" + clip_lines(err)
    return Result(t, passed, time.monotonic() - start, msg, q.text, argv)


# ---------------------------------------------------------------------------
# Failure explanations a student can act on

BANNER = re.compile(r"^svmlab: booting(.*)$", re.M)
KTEST_LINE = re.compile(r"^(?:ok: |FAIL: |ktest \S+: ).*$", re.M)
QEMU_FATAL = re.compile(r"^qemu: fatal: (.*)$", re.M)

# Known fatal errors of QEMU's CPU emulation and what usually causes them here.
FATAL_HINTS = {
    "invalid tss": "the CPU found no valid TSS (TR) when it took an interrupt or exception. "
                   "After a guest ran: the host's TR was not saved before VMRUN or not "
                   "restored after #VMEXIT (the host VMSAVE/VMLOAD pair, APM Vol. 2 §15.5.2 "
                   "\"VMSAVE and VMLOAD Instructions\").",
}
RESET_HINT = ("A triple fault is an exception raised while the CPU could not deliver an "
              "exception (no usable IDT, stack, TSS or per-CPU data). Likely causes, if a guest "
              "had just run: (1) vmenter.S did not hand its C caller back the callee-saved "
              "registers RBX, RBP, R12-R15 (pushed before VMRUN, popped in the reverse order "
              "after it), or left the stack unbalanced (after #VMEXIT the gprs pointer must be "
              "at (%rsp) and, after the pops, the return address where ret finds it): a wrong "
              "RBP or return address sends the kernel to a bad stack; (2) the host's GS base or "
              "TR were not restored after #VMEXIT (the host VMLOAD after VMRUN, or the VMSAVE "
              "before it), so the next mycpu() or interrupt faulted.")
TIMEOUT_HINT = ("The kernel is stuck: a loop that never ends, a lock never released, "
                "interrupts or GIF left off, or a guest that never exits. Boot it with the "
                "reproduce line below and watch where it stops (make qemu-gdb, then gdb, "
                "shows where it spins). On a slow or busy machine, SVMLAB_TIMEOUT_SCALE=%g "
                "gives every test more time.")


def _last(rx, text):
    found = rx.findall(text)
    return found[-1] if found else None


def last_line(text):
    """The last non-empty console line, or None."""
    lines = [l for l in text.split("\n") if l.strip()]
    return lines[-1] if lines else None


def _where(text):
    """Names the last ktest line and the last console line before the end."""
    k, l = _last(KTEST_LINE, text), last_line(text)
    if not l:
        return "The console printed nothing."
    out = "The last ktest line was: %s" % k if k else ""
    if l != k:
        out += "%sThe last console line was: %s" % (". " if out else "", l)
    return out


def _rebooted(text):
    """The kernel's banner came twice with the same command line: it ran on
    after a reset. (svmlab booted in svmlab's VMM prints a banner of its own,
    with the command line the VMM gave it.)"""
    seen = BANNER.findall(text)
    return len(seen) != len(set(seen))


def _wrap(first, text):
    import textwrap
    return textwrap.wrap(text, 96, initial_indent=first, subsequent_indent="  ",
                         break_on_hyphens=False)


def diagnose(q, text, err, scale=1.0, slow=None):
    """Lines explaining how the run ended, for a failed test: a fatal QEMU
    error, a reset or triple fault, or a timeout, each with where it stopped
    and a hint.  QEMU runs with -no-reboot, so a reset ends it with status 0
    (the banner printed twice means the kernel ran on after a reset)."""
    fatal = _last(QEMU_FATAL, err)
    if fatal:
        hint = FATAL_HINTS.get(fatal.strip().lower(), "QEMU's register dump is below.")
        what = "QEMU stopped on a fatal error: %s. %s" % (fatal.strip(), _where(text))
    elif _rebooted(text) or (q.status == 0 and not q.timed_out):
        what = ("The machine reset without powering off (a triple fault, or a reset): "
                "no `poweroff:` line. " + _where(text))
        hint = RESET_HINT
    elif q.timed_out:
        what = "Timed out after %gs. %s" % (q.timeout, _where(text))
        hint = TIMEOUT_HINT % max(3, 2 * scale)
        if slow:
            hint += " The calibration boot ran %s than on the reference machine." % speed_words(slow)
    else:
        return []
    return _wrap("", what.rstrip(".") + ".") + _wrap("Hint: ", hint)


def clip_lines(err, head=24, tail=4, width=160):
    """QEMU's stderr for a report: its head *and* its tail (the first line of a
    fatal error names it; a register dump follows), long lines shortened."""
    lines = [l if len(l) <= width else l[:width] + "..." for l in err.split("\n")]
    if len(lines) > head + tail + 1:
        lines = (lines[:head] + ["... (%d lines left out) ..." % (len(lines) - head - tail)]
                 + lines[-tail:])
    return "\n".join("    " + l for l in lines)


# ---------------------------------------------------------------------------
# How fast this machine runs QEMU, compared with the reference machine

# The calibration boot: lab 0 only (100 fork/exit cycles), so it works in
# every handout. REFERENCE_BOOT is its wall time on the machine the timeouts
# were set on (2 cores, Debian 12, QEMU 7.2: 0.30 s alone; 0.33-0.55 s, 10
# runs, with a load average of 9 from other QEMUs). SVMLAB_REFERENCE_BOOT=
# seconds replaces it.
CALIBRATION_CMDLINE = "test=leaktest"
REFERENCE_BOOT = 0.35
SLOW = 2.5            # warn when a machine is this much slower than the timeouts allow


def speed_words(ratio):
    """"2.0x slower" or "1.5x faster": a ratio of this machine's boot time to
    the reference machine's, in words that point the right way."""
    if ratio >= 1:
        return "%.1fx slower" % ratio
    return "%.1fx faster" % (1 / ratio)


def reference_boot():
    try:
        return float(os.environ.get("SVMLAB_REFERENCE_BOOT", REFERENCE_BOOT))
    except ValueError:
        return REFERENCE_BOOT


def calibrate(cfg):
    """Boots once with CALIBRATION_CMDLINE on 1 CPU and returns (seconds,
    ratio to the reference machine), or (None, why it failed)."""
    t = Test(lambda r: r.expect_exit(0), "calibration", 0, "calibration boot",
             CALIBRATION_CMDLINE, 1, 60, None, (), "512M", "boot")
    res = run_test(t, cfg)
    if not res.passed:
        return None, res.message.split("\n")[0]
    return res.elapsed, res.elapsed / reference_boot()


def slowness_note(seconds, ratio, scale):
    """What to tell the student up front, or None when timeouts are ample."""
    if ratio <= SLOW * scale:
        return None
    import math
    want = max(2, int(math.ceil(ratio / SLOW * 2)))
    return ("this machine runs QEMU %.1fx slower than the one the timeouts were set on: the "
            "calibration boot (%s, 1 CPU) took %.2fs, there %.2fs. Tests may time out for that "
            "reason alone: grade with SVMLAB_TIMEOUT_SCALE=%d (or --timeout-scale %d; now %g), "
            "and close other programs that use the CPU."
            % (ratio, CALIBRATION_CMDLINE, seconds, reference_boot(), want, want, scale))


def run_tests(tests, cfg, jobs, on_result=None):
    """Runs tests on `jobs` threads (one QEMU each); calls on_result(result)
    in declaration order as results become available; returns the results."""
    import concurrent.futures as cf
    results, futs = [], []
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        # The submissions are inside the try too: a Ctrl-C that lands while
        # tests are still being handed out (on a loaded host the first QEMUs
        # can be up by then) must kill them, not wait for their timeouts.
        try:
            for t in tests:
                futs.append(ex.submit(run_test, t, cfg))
            for f in futs:
                res = f.result()
                results.append(res)
                if on_result:
                    on_result(res)
        except BaseException:
            kill_all()
            for f in futs:
                f.cancel()
            raise
    return results


def _on_sigterm(signum, frame):
    kill_all()
    sys.exit(128 + signum)


def install_signal_handlers():
    """Makes SIGTERM/SIGHUP kill every QEMU before the grader exits."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(s, _on_sigterm)
        except (ValueError, OSError):
            pass

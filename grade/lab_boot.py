"""Lab 0 (boot): the kernel boots on every CPU, runs user programs, survives
their faults and bad system-call arguments, does not leak pages, and reports
kernel exceptions.  Console formats: HACKING.md, "Console output the graders
match"; the user programs are user/{forktest,faulttest,badptr,leaktest}.c."""
import re

from gradelib import test

PANIC = r"^panic: "
KERNEL_TRAP = r"^trap: cpu\d+: .* in kernel mode"
PROMPT = r"\$ $"


def cpus_come_up(r, n):
    """Every one of n CPUs prints its online line exactly once, BSP first,
    each with its own APIC id, and the BSP then counts n."""
    r.reject(PANIC)
    r.expect(r"^svmlab: %d cpus online$" % n)
    lines = r.findall(r"^cpu(\d+): online \(apic (\d+)\)$")
    cpus = [int(m.group(1)) for m in lines]
    apics = [int(m.group(2)) for m in lines]
    r.check(sorted(cpus) == list(range(n)),
            "expected one 'cpuN: online (apic M)' line for each of cpu0..cpu%d, got cpus %s"
            % (n - 1, cpus))
    r.check(cpus[0] == 0, "expected cpu0 (the BSP) to report first, got cpu%d" % cpus[0])
    r.check(len(set(apics)) == n, "expected %d distinct APIC ids, got %s" % (n, apics))
    last = r.find(r"^svmlab: %d cpus online$" % n).start()
    r.check(all(m.start() < last for m in lines),
            "every 'cpuN: online' line must come before 'svmlab: %d cpus online'" % n)


# QEMU's local APIC timer counts at 1 GHz divided by the divide register
# (hw/intc/apic_common.c counts nanoseconds), so at divide 16 one 10 ms tick
# is 625000 counts: an oracle the kernel's PIT calibration must meet on a
# busy host as on an idle one (a calibration that counts time the vCPU was
# descheduled makes every tick, timeout and TSC frequency wrong).
QEMU_LAPIC_PER_TICK = 625000


@test(points=2, title="the clock calibration matches QEMU's 1 GHz APIC timer within 2 %",
      cmdline="test=leaktest", cpus=1, timeout=30)
def calibration(r):
    r.reject(PANIC)
    m = r.expect(r"^lapic: timer (\d+) ticks per 10 ms at divide 16, TSC (\d+) MHz$")
    got = int(m.group(1))
    r.check(abs(got - QEMU_LAPIC_PER_TICK) <= QEMU_LAPIC_PER_TICK // 50,
            "the kernel measured %d LAPIC counts per 10 ms tick, QEMU's timer gives %d: "
            "the PIT calibration in kern/lapic.c is off by %.0f %%"
            % (got, QEMU_LAPIC_PER_TICK, 100.0 * (got - QEMU_LAPIC_PER_TICK) / QEMU_LAPIC_PER_TICK))


@test(points=4, title="boots on 1 CPU", cpus=1, timeout=30)
def cpus1(r):
    cpus_come_up(r, 1)


@test(points=4, title="boots on 2 CPUs, every CPU reports", cpus=2, timeout=30)
def cpus2(r):
    cpus_come_up(r, 2)


@test(points=5, title="boots on 4 CPUs, every CPU reports", cpus=4, timeout=40)
def cpus4(r):
    cpus_come_up(r, 4)


def shell_command(r, line):
    """Types line at the shell prompt; returns the output up to the next prompt."""
    r.sendline(line)
    start = r.wait_for(re.escape(line) + "$").end()     # the console echoes the command
    end = r.wait_for("^" + PROMPT, partial=True).start()
    return r.output[start:end]


@test(points=4, title="init starts the shell, which runs echo", cpus=2, timeout=30)
def shell_echo(r):
    r.reject(PANIC)
    r.wait_for(r"^init: starting sh$")
    r.wait_for("^" + PROMPT, partial=True)
    out = shell_command(r, "echo hello   svmlab world")
    r.check("\nhello svmlab world\n" in out,
            "expected 'echo hello   svmlab world' to print 'hello svmlab world', got %r" % out)


@test(points=4, title="the shell survives a NULL and a kernel-address dereference", cpus=2,
      timeout=40)
def shell_survives_faults(r):
    r.reject(PANIC)
    r.reject(KERNEL_TRAP)
    r.wait_for(r"^init: starting sh$")
    r.wait_for("^" + PROMPT, partial=True)
    for prog, addr in (("nullderef", "0x0"), ("kernderef", "0xffffffff80100000")):
        out = shell_command(r, prog)
        r.check(("): killed: #PF page fault at rip" in out) and ("addr %s " % addr) in out,
                "expected %s to be killed with a #PF at addr %s ('pid N (%s): killed: "
                "#PF page fault at rip ... addr %s err ...'), got:\n%s" % (prog, addr, prog,
                                                                        addr, out))
        r.check("sh: %s: exit status -1" % prog in out,
                "expected the shell to report 'sh: %s: exit status -1', got:\n%s" % (prog, out))
    out = shell_command(r, "echo still alive")
    r.check("\nstill alive\n" in out, "the shell no longer runs programs: %r" % out)


def user_test(r, name):
    """init runs /name (test=NAME), which must print "NAME: ok" and exit 0;
    then init powers off with code 0."""
    r.reject(PANIC)
    r.reject(KERNEL_TRAP)
    r.reject(r"^%s: .*FAIL" % name)
    r.expect_order([r"^init: running test %s$" % name, r"^%s: ok$" % name,
                    r"^init: test %s exited with status (-?\d+)$" % name])
    m = r.expect(r"^init: test %s exited with status (-?\d+)$" % name)
    r.check(m.group(1) == "0", "expected %s to exit with status 0, got %s" % (name, m.group(1)))
    r.expect_exit(0)


@test(points=6, title="fork, wait and exit (test=forktest)", cmdline="test=forktest",
      timeout=60)
def forktest(r):
    user_test(r, "forktest")
    m = r.find(r"^forktest: (\d+) forks until the table was full$")
    r.check(m and int(m.group(1)) > 10, "expected 'forktest: N forks until the table was "
            "full' with N > 10")


FAULTS = ["nullderef", "kernderef", "kernderef phys", "write to text", "execute data",
          "non-canonical address", "hlt in ring 3", "ud2", "divide by zero",
          "stack overflow"]


@test(points=8, title="faulting programs are killed, init lives on (test=faulttest)",
      cmdline="test=faulttest", timeout=60)
def faulttest(r):
    user_test(r, "faulttest")
    for what in FAULTS:
        r.check(r.find(r"^faulttest: %s: status -1$" % what),
                "expected 'faulttest: %s: status -1' (the child killed, status -1)" % what)
    kills = r.findall(r"^pid \d+ \([^)]*\): killed: .+$")
    r.check(len(kills) == len(FAULTS),
            "expected one 'pid N (name): killed: ...' line per fault (%d), got %d"
            % (len(FAULTS), len(kills)))
    r.check(r.find(r"^pid \d+ \(nullderef\): killed: #PF page fault at rip 0x[0-9a-f]+ "
                   r"addr 0x0 err 0x[0-9a-f]+$"),
            "expected nullderef killed by a #PF at addr 0x0")
    r.check(r.find(r"^pid \d+ \(kernderef\): killed: #PF page fault at rip 0x[0-9a-f]+ "
                   r"addr 0xffffffff80100000 err 0x[0-9a-f]*[13579bdf]$"),
            "expected kernderef killed by a protection #PF (err bit 0 set) at the kernel "
            "image, addr 0xffffffff80100000")


@test(points=6, title="system calls reject bad pointers and lengths (test=badptr)",
      cmdline="test=badptr", timeout=60)
def badptr(r):
    r.reject(r"\(WRONG\)$")
    user_test(r, "badptr")
    m = r.find(r"^badptr: (\d+) calls, (\d+) did not fail$")
    r.check(m and int(m.group(1)) >= 50 and m.group(2) == "0",
            "expected 'badptr: N calls, 0 did not fail' with N >= 50")


@test(points=6, title="no pages leak over 100 fork/exit cycles (test=leaktest)",
      cmdline="test=leaktest", timeout=120)
def leaktest(r):
    m = r.expect(r"^leaktest: free pages before (\d+) after (\d+)$")
    before, after = int(m.group(1)), int(m.group(2))
    r.check(before > 0 and before == after,
            "free pages before %d, after %d: %d pages leaked" % (before, after, before - after))
    user_test(r, "leaktest")


@test(points=5, title="a kernel page fault prints a report and panics (ktest=panic_pf)",
      cmdline="ktest=panic_pf", timeout=30)
def panic_pf(r):
    r.reject(r"^ok: ")          # the ktest's check runs only if the read did not fault
    addr = "ffff900000001000"
    r.expect_order([
        r"^trap: cpu0: #PF page fault \(vector 14\) in kernel mode, err 0x[0-9a-f]+ \[.*\]$",
        r"^  rip ffffffff[0-9a-f]{8} <ktest_panic_pf\+0x[0-9a-f]+>  cr2 %s$" % addr,
        r"^panic: cpu0: \S+:\d+: #PF page fault in kernel at rip 0x[0-9a-f]+ "
        r"\(ktest_panic_pf\+0x[0-9a-f]+\) addr 0x%s" % addr,
        r"^backtrace:$",
        r"^  #\d+ 0x[0-9a-f]+ ktest_panic_pf\+0x[0-9a-f]+$",
        r"^poweroff: code 3$"])
    r.expect_exit(3)


# The guest watchdog (kern/watchdog.c): the ktest's CPU poses as one stuck in
# a guest with IF=0; the other CPU must report it and power off in about 5 s,
# where a real stuck guest would otherwise cost a test its whole timeout.
WATCHDOG_LINE = r"^watchdog: FAIL: cpu0 has run a guest for 5 s without a host timer interrupt"


@test(points=2, title="the guest watchdog ends a run whose CPU no host interrupt reaches",
      cmdline="ktest=watchdog", cpus=2, timeout=30, fails=[WATCHDOG_LINE])
def watchdog(r):
    r.reject(PANIC)
    r.expect(WATCHDOG_LINE)
    r.expect_exit(1)

"""Lab 0 (boot): the kernel boots on every CPU, runs user programs, survives
their faults and bad system-call arguments, does not leak pages, and reports
kernel exceptions.  Console formats: HACKING.md, "Console output the graders
match"."""
from gradelib import test

PANIC = r"^panic: "


def cpus_come_up(r, n):
    """Every one of n CPUs prints its online line exactly once, BSP first,
    each with its own APIC id, and the BSP then counts n."""
    r.expect(r"^svmlab: %d cpus online$" % n)
    r.reject(PANIC)
    lines = r.findall(r"^cpu(\d+): online \(apic (\d+)\)$")
    cpus = [int(m.group(1)) for m in lines]
    apics = [int(m.group(2)) for m in lines]
    r.check(sorted(cpus) == list(range(n)),
            "expected one 'cpuN: online' line for each of cpu0..cpu%d, got cpus %s"
            % (n - 1, cpus))
    r.check(cpus[0] == 0, "expected cpu0 (the BSP) to report first, got cpu%d" % cpus[0])
    r.check(len(set(apics)) == n, "expected %d distinct APIC ids, got %s" % (n, apics))
    r.expect_order([r"^cpu0: online", r"^svmlab: %d cpus online$" % n])


@test(points=4, title="boots on 1 CPU", cpus=1, timeout=30)
def cpus1(r):
    cpus_come_up(r, 1)


@test(points=4, title="boots on 2 CPUs, every CPU reports", cpus=2, timeout=30)
def cpus2(r):
    cpus_come_up(r, 2)


@test(points=4, title="boots on 4 CPUs, every CPU reports", cpus=4, timeout=40)
def cpus4(r):
    cpus_come_up(r, 4)


def user_test(r, name):
    """init runs user program `name` (test=NAME) and reports status 0."""
    r.reject(PANIC)
    r.expect_order([r"^init: running test %s$" % name,
                    r"^init: test %s exited with status \d+$" % name])
    m = r.expect(r"^init: test %s exited with status (-?\d+)$" % name)
    r.check(m.group(1) == "0", "expected %s to exit with status 0, got %s"
            % (name, m.group(1)))
    r.expect_exit(0)


@test(points=4, title="init starts the shell", cpus=2, timeout=30)
def init_shell(r):
    r.reject(PANIC)
    r.expect(r"^init: starting sh$")


@test(points=6, title="fork, wait and exit (forktest)", cmdline="test=forktest", timeout=60)
def forktest(r):
    user_test(r, "forktest")


@test(points=6, title="faulting programs are killed, init lives on (faulttest)",
      cmdline="test=faulttest", timeout=60)
def faulttest(r):
    r.reject(PANIC)
    r.expect(r"^init: running test faulttest$")
    killed = r.findall  # evaluated after the run
    user_test(r, "faulttest")
    kills = killed(r"^pid \d+ \([^)]*\): killed: .+$")
    r.check(len(kills) >= 2, "expected at least two 'pid N (name): killed: ...' lines "
            "(a kernel-address and a NULL dereference), got %d" % len(kills))


@test(points=6, title="system calls reject bad pointers (badptr)", cmdline="test=badptr",
      timeout=60)
def badptr(r):
    user_test(r, "badptr")


@test(points=6, title="no pages leak over 100 fork/exit cycles (leaktest)",
      cmdline="test=leaktest", timeout=120)
def leaktest(r):
    user_test(r, "leaktest")


@test(points=5, title="a kernel page fault prints a report and panics (ktest=panic_pf)",
      cmdline="ktest=panic_pf", timeout=30)
def panic_pf(r):
    r.expect_order([r"^panic: cpu\d+: \S+:\d+: .+$", r"^backtrace:"])
    r.expect_exit(3)

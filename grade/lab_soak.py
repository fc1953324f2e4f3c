"""SMP races and stress (an extra lab: graded, part of `make test`, no handout).

Regression tests for races found by soaking the kernel (many runs, a loaded
2-core host, -smp 2 and 4), and the stress programs of user/ run with more
CPUs than the other graders use, where a race has more chances to show.
A test here must still fail on the broken kernel it guards against: each
says which bug it caught.
"""
from gradelib import test

PANIC = r"^panic: "
KERNEL_TRAP = r"^trap: cpu\d+: .* in kernel mode"


def clean_run(r, prog):
    """test=PROG must end with "PROG: ok", status 0 and power-off code 0."""
    r.reject(PANIC)
    r.reject(KERNEL_TRAP)
    r.reject(r"^%s: .*(FAIL|error)" % prog)
    r.expect_order([r"^init: running test %s$" % prog, r"^%s: ok$" % prog,
                    r"^init: test %s exited with status 0$" % prog])
    r.expect_exit(0)


@test(points=2, title="ptable.lock is ready before the APs' schedulers take it "
      "(once: 'release: ptable not held')", cmdline="ktest=sched_lock", cpus=4, timeout=30)
def sched_lock(r):
    r.reject(PANIC)
    r.expect(r"^ok: ptable\.lock is ready before the APs' schedulers take it \(name ptable\)$")
    r.expect(r"^ktest sched_lock: \d+ checks, 0 failed$")
    r.expect_exit(0)


@test(points=2, title="stresstest on 4 CPUs: preemption, migration, fork, sbrk",
      cmdline="test=stresstest", cpus=4, timeout=90)
def stress4(r):
    clean_run(r, "stresstest")


@test(points=2, title="usertests on 4 CPUs", cmdline="test=usertests", cpus=4, timeout=60)
def usertests4(r):
    clean_run(r, "usertests")


@test(points=4, title="everything at once on 4 CPUs: workers, 4 VMMs, usertests (test=soak)",
      cmdline="test=soak 2", cpus=4, timeout=120)
def soak4(r):
    clean_run(r, "soak")
    r.expect(r"^soak: 2 rounds on 4 cpus, 0 children failed; free pages (\d+) -> \1$")
    r.check(len(r.findall(r"^vmm: guest migrate exited with code 0 ")) == 2,
            "expected the migrate guest to exit with code 0 in both rounds")


@test(points=2, title="everything at once on 2 CPUs (test=soak)", cmdline="test=soak 2",
      cpus=2, timeout=120)
def soak2(r):
    clean_run(r, "soak")
    r.expect(r"^soak: 2 rounds on 2 cpus, 0 children failed; free pages (\d+) -> \1$")


# The parts of user/threadtest.c, in the order it runs them.
THREAD_PARTS = ["create_join", "mutex_counter", "futex_pingpong", "futex_calls", "bad_args",
                "limits", "sbrk_shared", "sbrk_shrink", "copy_vs_sbrk", "exit_while_running",
                "last_thread_exit", "kill", "fault_kills_all", "fork_in_thread", "vcpu_busy",
                "exit_in_guest"]


@test(points=4, title="threads and futexes on 2 CPUs: races, exit and kill with threads "
      "running, limits (test=threadtest)", cmdline="test=threadtest", cpus=2, timeout=60)
def threads2(r):
    r.reject(r"\(WRONG\)$")   # exec ran in a process with two threads
    clean_run(r, "threadtest")
    for part in THREAD_PARTS:
        r.check(r.find(r"^threadtest: %s: ok$" % part),
                "expected 'threadtest: %s: ok' (see the FAIL lines of that part)" % part)
    m = r.find(r"^threadtest: (\d+) increments by 4 threads on (\d+) cpus$")
    r.check(m and int(m.group(1)) == 4 * 20000 and int(m.group(2)) == 2,
            "expected 4 threads on both CPUs to count to 80000 under the mutex, got %r"
            % (m.group(0) if m else None))
    # Two processes die of a fault, each reported once however many threads
    # it had: the reader of a page sbrk freed (not the first thread), and a
    # NULL write with five threads running.
    kills = r.findall(r"^pid \d+ \(threadtest\): killed: #PF page fault at rip 0x[0-9a-f]+ "
                      r"addr (0x[0-9a-f]+) err 0x[0-9a-f]+$")
    r.check([k.group(1) == "0x0" for k in kills] == [False, True],
            "expected two 'killed: #PF' lines, a freed heap page's then addr 0x0, got %s"
            % [k.group(1) for k in kills])

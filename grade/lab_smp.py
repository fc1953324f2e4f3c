"""Lab 8 (smp): guests with several vcpus (user/vmm/smp.c: the per-vcpu
thread loop, the INIT-SIPI state machine, IPI delivery that kicks or wakes).

Each test boots svmlab and runs `vmm -V N smpstorm` (user/guests/smpstorm.S):
the guest reads its CPU count from fw_cfg and the MADT, starts each AP by
INIT, INIT de-assert, SIPI, SIPI, checks that a SIPI to a running AP is
ignored and that INIT stops a running AP (one that never exits on its own)
until a SIPI restarts it, and that INIT-SIPI-SIPI restarts an AP waiting
in HLT, then storms: every CPU sends seeded random IPIs of
every kind (fixed physical, logical, self, all, all-but-self, lowest
priority, physical broadcast, NMI) while taking the others'. The guest
computes each IPI's destinations by the SDM's rules; a sender waits for its
previous IPI to a CPU to be taken before sending it another, so every IPI
must arrive exactly once where it was sent: lost ones time out, duplicates
and IPIs at the wrong CPU are counted. Last, the APs wait in STI; HLT while
CPU 0 sends them IPIs one at a time: each must wake its target.

The seed is the guest's TSC at start ("smpstorm: seed 0x..."); which IPIs
race which depends on the host's scheduling, so a run is not replayable:
run the test again (SVMLAB_TIMEOUT_SCALE=3 on a loaded machine).
"""
import re

from gradelib import test
from linux_guest import linux, linux_test, clean_run
import answers

QUESTIONS = 3   # labs/lab8-smp.md §6


def storm_ok(r, n):
    """Every phase of smpstorm on n vcpus passed."""
    r.reject(r"^vmm: lab 8: .* not implemented")
    r.reject(r"^panic: ")
    m = r.expect(r"^smpstorm: cpus: fw_cfg (\d+), MADT (\d+)$")
    r.check(m.group(1) == str(n) and m.group(2) == str(n),
            "with -V %d, fw_cfg and the MADT must both report %d CPUs (saw %s and %s)"
            % (n, n, m.group(1), m.group(2)))
    r.expect(r"^smpstorm: seed 0x[0-9a-f]+$")
    r.expect(r"^smpstorm: every AP started by INIT-SIPI-SIPI$",
             "the APs must start by INIT-SIPI-SIPI, once each")
    r.expect(r"^smpstorm: INIT stopped a running AP, SIPI restarted it$",
             "INIT must stop a running AP and a SIPI restart it")
    r.expect(r"^smpstorm: INIT-SIPI-SIPI restarted a halted AP$",
             "INIT-SIPI-SIPI must restart an AP waiting in HLT")
    for phase in ("storm", "halted targets"):
        m = r.expect(r"^smpstorm: %s: (\d+) sent, (\d+) received, (\d+) unexpected$" % phase,
                     "the %s phase did not finish (an IPI lost?)" % phase)
        r.check(m.group(1) == m.group(2), "%s: %s IPIs sent, %s received: each must arrive "
                "exactly once" % (phase, m.group(1), m.group(2)))
        r.check(m.group(3) == "0", "%s: %s IPIs arrived twice or at a CPU they were not for"
                % (phase, m.group(3)))
    r.reject(r"^smpstorm: FAIL: ", "a check of the guest failed")
    r.expect(r"^smpstorm: failures 0$")
    r.expect(r"^vmm: %d vcpus$" % n)
    r.expect(r"^vmm: guest smpstorm exited with code 0 after \d+ exits ")
    r.expect_exit(0)


@test(points=30, title="2 vcpus: MADT/fw_cfg/CPUID agree; INIT-SIPI-SIPI starts the AP; SIPI "
      "to a running AP ignored; INIT stops it; random IPI storm and halted targets: each IPI "
      "exactly once", cmdline="test=vmm -V 2 smpstorm", timeout=90)
def two(r):
    storm_ok(r, 2)


@test(points=40, title="3 vcpus on 2 host CPUs, a 0.5 ms gap between an AP thread's lock "
      "release and its vcpu_run: every IPI still arrives exactly once, halted targets wake",
      cmdline="test=vmm -V 3 -W 500 smpstorm", timeout=120)
def three(r):
    storm_ok(r, 3)


@test(points=20, title="4 vcpus run tests/arch's smpipi kernel: its APs start by INIT-SIPI-SIPI; "
      "fixed, NMI and lowest-priority IPIs to physical, logical flat and cluster destinations and "
      "shorthands arrive where the SDM sends them, once; lowest priority goes to the lowest TPR; "
      "INIT to the BSP resets the machine",
      cmdline="test=vmm -A -M 128 -V 4 -e reset -k arch-smpipi.bin", timeout=90)
def ipis(r):
    r.reject(r"^vmm: lab 8: .* not implemented")
    r.reject(r"^panic: ")
    r.expect(r"^smpipi.cpus: 4 in the MADT")
    r.expect(r"^smpipi.startup: 3 of 3 APs started once$", "each AP must start once by INIT-SIPI-SIPI")
    for model in ("flat", "cluster"):
        m = r.expect(r"^smpipi.%s.rules: lost (\d+), extra (\d+), misdirected (\d+), stuck in send "
                     r"pending (\d+)$" % model, "the %s-model storm did not finish" % model)
        r.check(m.groups() == ("0",) * 4, "%s-model storm: lost %s, extra %s (twice or at the wrong "
                "CPU), lowest priority misdirected %s, ICR stuck %s: each IPI must reach exactly the "
                "CPUs the SDM's rules name" % ((model,) + m.groups()))
    m = r.expect(r"^smpipi.cluster_broadcast_ff: taken once by (\d) of 4 CPUs$")
    r.check(m.group(1) == "4", "a logical 0xFF in the cluster model reached %s of 4 CPUs: it is the "
            "broadcast" % m.group(1))
    m = r.expect(r"^smpipi.lowest_tpr: (\d+) of (\d+) ")
    r.check(m.group(1) == m.group(2), "lowest priority: %s of %s IPIs went to the CPU of the set "
            "with the lowest TPR" % m.groups())
    r.expect(r"^vmm: guest \S+ reset: INIT to the BSP", "INIT to the BSP must end the guest with a reset")
    r.expect_exit(0)


def linux_cpus(r, n):
    """Debian's kernel brought up n CPUs, each with its own timer ticks and IPIs."""
    clean_run(r)
    r.reject(r"^vmm: lab 8: .* not implemented")   # (a handout: fail at once, not at the timeout)
    r.reject(r"CPU ?\d+ failed to respond|failed to boot|Stuck ??|do_IRQ: .* No irq handler")
    r.wait_for(r"smp: Brought up 1 node, %d CPUs" % n)
    m = r.wait_for(r"^linuxtest: nproc (\d+)$")
    r.check(int(m.group(1)) == n, "nproc says %s, not %d" % (m.group(1), n))
    line = r.wait_for(r"^linuxtest: ipis (.*)$").group(1)
    counts = {}
    for name in ("LOC", "RES", "CAL"):
        m = re.search(r"%s:((?: \d+)+) " % name, line)
        counts[name] = [int(x) for x in m.group(1).split()] if m else []
    loc = counts["LOC"]
    r.check(len(loc) == n and min(loc) > 0, "/proc/interrupts LOC: %s; each of the %d CPUs must have "
            "local timer ticks" % (loc or "missing", n))
    r.check(sum(counts["RES"]) + sum(counts["CAL"]) > 0, "no rescheduling or function-call IPI was "
            "taken: %s" % line)
    r.wait_for(r"^linuxtest: echo 42$")
    r.wait_for(r"^vmm: %d vcpus$" % n)
    r.wait_for(r"^vmm: guest linux powered off \(ACPI S5\) after")
    r.expect_exit(0)


@linux_test(30, "Debian's kernel on 2 vcpus (vmm -A -V 2): both CPUs come up by INIT-SIPI-SIPI, nproc 2, "
            "local timer ticks on each CPU, IPIs taken",
            linux("poweroff", "poweroff", names=" -A -V 2"), "linux_two")
def linux_two(r):
    linux_cpus(r, 2)


@linux_test(20, "Debian's kernel on 4 vcpus (vmm -A -V 4): every CPU comes up, nproc 4, local timer "
            "ticks on each CPU, IPIs taken",
            linux("poweroff", "poweroff", names=" -A -V 4"), "linux_four")
def linux_four(r):
    linux_cpus(r, 4)


def inner_svmlab(r, cmdline, n):
    """svmlab as a multiboot guest on n vcpus: its own SMP bring-up (the MADT,
    INIT-SIPI-SIPI from kern/smp.c) finds every vcpu."""
    r.reject(r"^vmm: lab 8: .* not implemented")
    r.reject(r"^panic: ")
    r.expect(r"^svmlab: booting \(cmdline \"kernel.bin %s\"\)$" % re.escape(cmdline))
    for i in range(1, n):
        r.expect(r"^cpu%d: online \(apic %d\)$" % (i, i))
    r.expect(r"^svmlab: %d cpus online$" % n)


@test(points=10, title="svmlab on 2 vcpus: its SMP bring-up finds both, and its ktest=smp passes "
      "(per-CPU state, a call passed around the CPUs by IPIs)",
      cmdline="test=vmm -V 2 -k kernel.bin -r svmlab.tar -a svmlab-smp.cmdline -M 64", timeout=120)
def turtles_smp(r):
    inner_svmlab(r, "ktest=smp", 2)
    r.expect(r"^ktest smp: \d+ checks, 0 failed$")
    r.expect(r"^vmm: 2 vcpus$")
    r.expect(r"^vmm: guest \S+ exited with code 0 ")
    r.expect_exit(0)


@test(points=10, title="svmlab on 2 vcpus passes its usertests (processes moved between its CPUs)",
      cmdline="test=vmm -V 2 -k kernel.bin -r svmlab.tar -a svmlab-usertests.cmdline -M 64", timeout=240)
def turtles_usertests(r):
    inner_svmlab(r, "test=usertests", 2)
    r.expect(r"^usertests: setcpu visited 2 cpus$")
    r.expect(r"^usertests: ok$")
    r.expect(r"^vmm: 2 vcpus$")
    r.expect(r"^vmm: guest \S+ exited with code 0 ")
    r.expect_exit(0)


@test(points=3, title="answers-lab8.txt answers every question of labs/lab8-smp.md §6",
      cpus=1, boot=False)
def written_answers(r):
    answers.check(r, 8, QUESTIONS)

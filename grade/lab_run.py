"""Lab 4 (run): VMRUN, #VMEXIT handling, the VM system calls and the VMM.

Three parts, graded on their own (labs/lab4-run.md):
  A  the world switch: vmenter.S's register swap, svm_enter_guest's entry
     sequence (checked in the object code and by behaviour);
  B  exit decoding and dispatch: IOIO EXITINFO1, the exit table;
  C  completion of emulated instructions and EXITINTINFO re-injection.
Kernel-side ktests (kern/svm/run_test.c) drive tiny real-mode guests through
vcpu_run; the rest boots `test=vmm ...`: init runs the user-space VMM
(user/vmm) on a guest from user/guests and powers off with code 0 iff the
guest ended as expected. Every guest's output, end and exit counts are
exact; only intr= (host interrupts, timing-dependent) is not.
"""
import os
import random
import re
import subprocess

import answers as answers_file
from gradelib import test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = ("io", "cpuid", "msr", "hlt", "vmmcall", "npf", "exc", "other")


def clean_run(r):
    r.reject(r"^panic: ")
    r.reject(r"^FAIL: ")
    r.reject(r"^lab \d: .* not implemented")
    r.reject(r"^pid \d+ \(vmm\): killed")


def summary(name, how, total, prefix="", **counts):
    """The regex of the VMM's one-line summary with exact counts."""
    parts = ", ".join("%s=%d" % (k, counts.get(k, 0)) for k in COUNTS)
    return r"^%svmm: guest %s %s after %d exits \(%s; intr=\d+\)$" % (
        prefix.replace("|", r"\|").replace(".", r"\."), name, how, total,
        parts.replace("(", r"\(").replace(")", r"\)"))


def guest_test(points, title, args, name, out, how, total, timeout=60, cpus=2, extra=None,
               **counts):
    """Declares a test that runs `vmm args` and checks output and summary."""
    def run(r):
        clean_run(r)
        for line in out:
            r.expect(r"^%s$" % line)
        for pat in extra or ():
            r.expect(pat)
        r.expect(summary(name, how, total, **counts))
        r.expect(r"^init: test vmm exited with status 0$")
        r.expect_exit(0)
    run.__name__ = "vmm_" + name
    # -n: a broken RIP advance makes guests loop; the exit budget ends that fast.
    test(points=points, title=title, cmdline="test=vmm -n 5000 " + args, cpus=cpus, timeout=timeout,
         name="vmm_" + name)(run)


# ---- kernel side -----------------------------------------------------------

def ktest(points, name, checks, title, extra=()):
    """A ktest of kern/svm/run_test.c: every KCHECK passes (each FAIL line
    says what was expected), all `checks` of them ran, and the kernel
    powers off cleanly."""
    def run(r):
        clean_run(r)
        for pat in extra:
            r.expect(pat)
        m = r.expect(r"^ktest %s: (\d+) checks, (\d+) failed$" % name)
        r.check(int(m.group(1)) == checks,
                "ktest %s ran %s checks, expected %d: it stopped early (the first failed check "
                "above says why)" % (name, m.group(1), checks))
        r.expect_exit(0)
    run.__name__ = name
    test(points=points, title=title, cmdline="ktest=" + name, cpus=1, timeout=40, name=name)(run)


# The SVM instructions of the entry sequence, read from the object code,
# because one misordering cannot be seen from a guest: `sti; clgi` is covered
# by STI's one-instruction interrupt shadow on QEMU (and on hardware). The
# check simulates GIF, IF and whose VMSAVE/VMLOAD state is in the CPU along
# the sequence (a call to svm_vmrun_regs stands for that function's own
# instructions) and reports the first property the architecture or the
# kernel needs that breaks (APM Vol. 2 §15.17, §15.5.2); any order that
# keeps them all passes.
SEQ = re.compile(r"\s(clgi|stgi|sti|cli|vmsave|vmload|vmrun)\b|call\s+\S+\s+<svm_vmrun_regs>")


def function_bodies(elf):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", elf], capture_output=True,
                         text=True).stdout
    return re.split(r"\n(?=[0-9a-f]+ <[^>]+>:\n)", out)


def entry_sequence(elf):
    """The entry-sequence instructions of the function that calls
    svm_vmrun_regs, in address order, the call replaced by svm_vmrun_regs'
    own; None if no function calls it."""
    bodies = function_bodies(elf)
    callee = next((b for b in bodies if re.match(r"[0-9a-f]+ <svm_vmrun_regs>:", b)), "")
    inner = [m.group(1) for m in SEQ.finditer(callee) if m.group(1)]
    for body in bodies:
        if re.search(r"call\s+\S+\s+<svm_vmrun_regs>", body):
            seq = []
            for m in SEQ.finditer(body):
                seq += inner if m.group(1) is None else [m.group(1)]
            return seq
    return None


def order_problems(seq):
    """The first property the sequence breaks, as a list of at most one
    message (empty: all hold). Starts as vcpu_run_once leaves the CPU: IF=0
    (pushcli), GIF=1, the host's VMLOAD state in the CPU, nothing saved."""
    if seq is None or "vmrun" not in seq:
        return ["no function runs the guest through svm_vmrun_regs (or it has no VMRUN)"]
    gif, intf, loaded, ran = 1, 0, "host", False
    saved = {"host": False, "guest": False}
    for k, op in enumerate(seq):
        where = "at instruction %d (%s) of the sequence" % (k + 1, op.upper())
        if op == "clgi":
            gif = 0
        elif op == "stgi":
            gif = 1
        elif op == "sti":
            intf = 1
        elif op == "cli":
            intf = 0
        elif op == "vmsave":
            saved[loaded] = True
        elif op == "vmload":
            other = "guest" if loaded == "host" else "host"
            if not saved[loaded] and loaded == "host" and not ran:
                return ["%s: the host's VMSAVE state is overwritten before it was saved" % where]
            if not saved[loaded] and ran:
                return ["%s: the guest's VMSAVE state (FS, GS, TR, LSTAR...) is overwritten before it "
                        "was saved back to its VMCB" % where]
            loaded = other
        elif op == "vmrun":
            if ran:
                return ["%s: more than one VMRUN" % where]
            if gif or not intf:
                return ["%s: VMRUN with GIF=%d and IF=%d; it needs GIF=0 (no host interrupt or NMI "
                        "while state is mixed) and IF=1 (a host interrupt must cause an INTR exit)"
                        % (where, gif, intf)]
            if loaded != "guest":
                return ["%s: VMRUN with the host's VMLOAD state in the CPU: the guest would run on "
                        "the host's FS, GS, TR and syscall MSRs" % where]
            ran, saved["guest"] = True, False
        if gif and intf:
            return ["%s: GIF=1 and IF=1 inside the entry code: a host interrupt is taken there, with "
                    "the vcpu loaded and interrupts meant to be off" % where]
        if gif and loaded == "guest":
            return ["%s: GIF=1 while the guest's VMLOAD state is in the CPU: an NMI would run on the "
                    "guest's GS base" % where]
    if not ran:
        return ["the sequence never reaches VMRUN"]
    if gif == 0 or intf or loaded != "host":
        return ["at the end of the sequence: GIF=%d, IF=%d, %s VMLOAD state in the CPU (the caller "
                "needs GIF=1, IF=0 and the host's state)" % (gif, intf, loaded)]
    return []


# The order is read from the object code alone: a kernel that crashes loses
# the points of the tests that run it, not these.
@test(points=6, title="A: the entry sequence keeps GIF, IF and the VMSAVE/VMLOAD state consistent "
      "around VMRUN (read from the object code)", cpus=1, boot=False)
def entry_order(r):
    seq = entry_sequence(os.path.join(r.build_dir, "kernel.elf"))
    probs = order_problems(seq)
    r.check(not probs, "the entry sequence, as objdump -d build/kernel.elf shows it (%s): %s" % (
        " ".join(seq or []) or "missing", "; ".join(probs)))


ktest(7, "run_gprs", 30, "A: vmenter.S: every guest GPR (RBX..R15) reaches the guest and comes back")
ktest(3, "run_callee_saved", 7, "A: vmenter.S gives its caller RBX, RBP, R12-R15 back as they were (SysV ABI)")
ktest(6, "run_hostregs", 6, "A: VMSAVE/VMLOAD pairing: host LSTAR, STAR, TR, GS back; guest FS, LSTAR, TR kept")
ktest(4, "run_intr", 2, "A: a guest spinning with IF=0 still gives INTR exits; host timer ticks")
ktest(4, "run_io", 3, "B: I/O exits decoded; next RIP from EXITINFO2; IN data lands in AL")
ktest(5, "run_iosize", 10, "B+C: 16/32-bit I/O sizes decoded; IN merges 8/16 bits, zero-extends 32")
ktest(5, "run_string", 7, "B+C: rep outsb/insw decoded (count, address); RSI/RDI, DF, RCX completed")
ktest(3, "run_unknown", 1, "B: an exit with no handler is VM_EXIT_UNKNOWN, not a crash")
ktest(3, "run_invalid", 2, "B: VMEXIT_INVALID (low 32 bits) reported, VMCB dumped, never re-entered",
      extra=[r"^svm: vcpu \d+: VMRUN failed with VMEXIT_INVALID"])
ktest(2, "run_svmins", 1, "B: real-mode guest's own CLGI raises #UD in the guest")
ktest(4, "run_cpuid", 5, "C: CPUID and VMMCALL completed from the exit record, RIP advanced")
ktest(5, "run_reinject", 3, "C: an event whose delivery took an NPF is re-injected (EXITINTINFO), once")
ktest(2, "run_rdmsr", 2, "C: RDMSR completed into EDX:EAX, RAX's upper half cleared")
ktest(2, "run_restart", 3, "C: an NPF after a completed CPUID completes nothing twice")
ktest(4, "run_exits", 20, "B: exception, SVM-instruction, XSETBV and NMI exits reach their handlers; "
      "codes past the table are VM_EXIT_UNKNOWN")
ktest(2, "run_hsave", 2, "A: the host's VMSAVE state is kept out of the VM_HSAVE_PA page")
ktest(3, "run_inside", 4, "A+C: seen from inside the guest: guest_state_loaded set, the gprs pointer at "
      "the VMRUN's (%rsp), no interrupt shadow left after a completion")


# ---- randomized differential tests (kern/svm/run_diff_test.c) --------------
# A new seed each grading run (SVMLAB_SEED=N replays one); the oracle is the
# CPU running twin instructions natively in the same guest, not run.c.
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
DIFF_CASES = 2500   # per mode: real, prot16, prot32, long64, compat32


def seeded_ktest(points, name, checks, title, args=""):
    replay = ('replay with: SVMLAB_SEED=%d make grade LAB=run GRADEFLAGS="-k %s -v"' % (SEED, name))

    def run(r):
        clean_run_except_fail(r)
        m = r.expect(r"^ktest %s: (\d+) checks, (\d+) failed$" % name)
        bad = [m.group(0) for m in r.findall(r"^mismatch: .*$") or r.findall(r"^FAIL: .*$")]
        r.check(m.group(2) == "0" and int(m.group(1)) == checks,
                "%s failed %s of %s checks; first: %s; %s" % (
                    name, m.group(2), m.group(1), bad[0] if bad else "(none printed)", replay))
        r.expect_exit(0)
    run.__name__ = name
    test(points=points, title=title, cmdline="ktest=%s seed=%d%s" % (name, SEED, args), cpus=1, timeout=60,
         name=name)(run)


def clean_run_except_fail(r):
    r.reject(r"^panic: ")
    r.reject(r"^lab \d: .* not implemented")


seeded_ktest(8, "run_diff", 5, "B+C: %d random IN/OUT/INS/OUTS, CPUID, RDMSR/WRMSR, VMMCALL, HLT exits per mode "
             "(real, 16/32-bit protected with segment bases, 64-bit, compatibility with segment bases): record "
             "and completion as the "
             "architecture says" % DIFF_CASES, " cases=%d" % DIFF_CASES)
seeded_ktest(5, "run_events", 7, "C: every event type cut short by an NPF arrives once, with its error code "
             "and return address")


@test(points=4, title="VM system calls: bad arguments, foreign handles; exit and kill free every page",
      cmdline="test=vmtest", cpus=2, timeout=60)
def vmtest(r):
    clean_run(r)
    r.reject(r"^vmtest: FAIL")
    r.expect(r"^vmtest: ok: another process's VM handle is refused")
    r.expect(r"^vmtest: ok: free pages back to the baseline after the child exited with its VM alive \(got 0\)$")
    r.expect(r"^vmtest: ok: it died \(status -1\)")
    r.expect(r"^vmtest: ok: free pages back to the baseline after the kill \(got 0\)$")
    r.expect(r"^vmtest: 0 failed$")
    r.expect_exit(0)


QUESTIONS = 6


@test(points=2, title="answers-lab4.txt answers every question of labs/lab4-run.md",
      cpus=1, boot=False)
def answers(r):
    answers_file.check(r, 4, QUESTIONS)

# ---- guests through the VMM ------------------------------------------------

guest_test(2, "real-mode hello through the emulated 16550", "hello", "hello",
           ["Hello from a real-mode guest on svmlab!"], "exited with code 0", 81, io=81)
guest_test(2, "32-bit protected mode guest enables its own paging", "prot32", "prot32",
           [r"prot32: paging on, alias 0x420000 -> 0x20000 ok"], "exited with code 0", 49, io=49)
guest_test(2, "64-bit guest on page tables from its image", "long64", "long64",
           ["long64: hello from 64-bit mode"], "exited with code 0", 32, io=32)
guest_test(2, "CPUID policy: vendor, hypervisor bit, hypervisor leaf", "cpuid", "cpuid",
           [r'cpuid: vendor "SVMLAB vCPU ", hypervisor "SvmLabVMM v1"'], "exited with code 0", 60,
           io=57, cpuid=3)
guest_test(2, "MSR write and read back through the VMM", "msr", "msr",
           ["msr: 0x40000100 reads back 0x123456789abcdef0"], "exited with code 0", 49, io=47, msr=2)
guest_test(2, "hypercalls: print and exit with a code", "-e 3 vmmcall", "vmmcall",
           ["vmmcall: hello through a hypercall"], "exited with code 3", 2, vmmcall=2)
guest_test(2, "rep outsb: one exit for the whole string, RSI/RCX advanced", "outs", "outs",
           ["outs: one rep outsb for the whole line"], "exited with code 0", 2, io=2)
guest_test(2, "demand paging: three NPFs mapped by the VMM, contents read back", "demand", "demand",
           ["demand: 3 pages faulted in, contents read back ok"], "exited with code 0", 54,
           io=51, npf=3)
guest_test(2, "event injection: interrupt 0x30 and exception #BP reach the guest's IDT", "inject",
           "inject", ["vmm: guest ack 0x30", "vmm: guest ack 0x3",
                      "inject: interrupt 0x30 and exception 3 delivered"],
           "exited with code 0", 54, io=50, vmmcall=4)
guest_test(2, "V_IRQ: virtual interrupt held while IF=0, taken after sti", "virq", "virq",
           ["vmm: guest ack 0x41", "virq: V_IRQ vector 0x41 taken after sti"],
           "exited with code 0", 43, io=41, vmmcall=2)
guest_test(2, "guest CLGI/VMLOAD in long mode: kernel injects #UD", "svmins", "svmins",
           ["svmins: clgi and vmload raised #UD"], "exited with code 0", 38, io=36, vmmcall=2,
           extra=[r"(?s)vmm: guest ack 0x6\n.*vmm: guest ack 0x6\n"])
guest_test(3, "guest changes LSTAR/STAR/TR/FS; the host's syscalls still work after", "sysregs",
           "sysregs", ["sysregs: guest LSTAR, STAR, SFMASK, KernelGsBase, FS base and TR set"],
           "exited with code 0", 70, io=70)


def vmm_guest(points, title, args, name, lines, end):
    """`vmm args`: the guest prints lines and ends as `end` says (counts not checked)."""
    def run(r):
        clean_run(r)
        for line in lines:
            r.expect(r"^%s$" % line)
        r.expect(r"^vmm: guest %s %s after \d+ exits" % (name, end))
        r.expect(r"^init: test vmm exited with status 0$")
        r.expect_exit(0)
    run.__name__ = "vmm_" + name
    test(points=points, title=title, cmdline="test=vmm -n 5000 " + args, cpus=2, timeout=60,
         name="vmm_" + name)(run)


vmm_guest(2, "CR0 writes of a 64-bit guest (selective intercept, the WRITE_CR0 handler): TS by MOV CR0 and CLTS, "
          "clearing PG is #GP",
          "hostile_lmexit", "hostile_lmexit",
          [r"hostile_lmexit: CR0\.TS set by MOV CR0 and cleared by CLTS",
           r"hostile_lmexit: #GP in the guest, long mode kept"], "exited with code 0")
vmm_guest(2, "WRITE_CR8 exits: CR8 written and read back, nothing delivered with IF=0", "hostile_cr8",
          "hostile_cr8",
          [r"hostile_cr8: CR8 written and read back with a V_IRQ pending; nothing arrived with IF=0"],
          "exited with code 0")
guest_test(2, "triple fault: SHUTDOWN reported, host unharmed", "-e shutdown triple", "triple",
           ["triple: about to triple fault"], r"shut down \(triple fault\)", 31, io=30, other=1)


@test(points=2, title="IF=0 spinner: host timer forces exits, time budget stops it",
      cmdline="test=vmm -t 300 -e budget spin", cpus=1, timeout=60)
def vmm_spin(r):
    clean_run(r)
    m = r.expect(r"^vmm: guest spin stopped: time budget of 300 ms used up after 0 exits "
                 r"\(io=0, cpuid=0, msr=0, hlt=0, vmmcall=0, npf=0, exc=0, other=0; intr=(\d+)\)$")
    r.check(int(m.group(1)) >= 5, "expected at least 5 host-interrupt returns in 300 ms, got %s"
            % m.group(1))
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=1, title="broken images refused with a clear message; a good one runs after",
      cmdline="test=sh", cpus=1, timeout=60)
def vmm_badimages(r):
    clean_run(r)
    r.expect(r"^\$ $", partial=True)
    for args, msg in (("badentry", "badentry.guest: entry outside the image"),
                      ("badtrunc", r"badtrunc.guest: truncated: shorter than the 64-byte header"),
                      ("README", r"README: bad magic \(not a svmlab guest image\)")):
        r.sendline("vmm " + args)
        r.wait_for(r"^vmm: %s$" % msg)
    r.sendline("vmm outs")
    # Any ending line of the good guest, so that a broken kernel fails at once, not at the timeout.
    m = r.wait_for(r"^vmm: guest outs .*$")
    r.check(re.match(summary("outs", "exited with code 0", 2, io=2), m.group(0)),
            "expected the good image to run after the broken ones: %s" % m.group(0))
    r.sendline("exit")


def two_vms(cpuflag, cpus_each):
    def run(r):
        clean_run(r)
        for k in (0, 1):
            for i in range(8):
                r.expect(r"^count\.%d\| count %d pattern ok$" % (k, i))
            r.expect(r"^count\.%d\| vmm: vcpu moved 0 times, ran on 1 cpus \(%s\)$"
                     % (k, cpus_each[k]))
            r.expect(summary("count", "exited with code 0", 9, prefix="count.%d| " % k, vmmcall=9))
        r.expect(r"^vmm: 2 guests, 2 ended as expected$")
        out = r.output
        # "At once": each VM printed a line before the other one finished.
        # On one CPU the kernel's time slices interleave them. On two CPUs
        # nothing in the kernel orders them: a loaded host may not run
        # QEMU's second vCPU thread until the first VM is done (seen 3 times
        # in 30 loaded grader runs), so there only the results count.
        if cpus_each[0] == cpus_each[1]:
            r.check(out.find("count.1| count 0") < out.find("count.0| count 7") and
                    out.find("count.0| count 0") < out.find("count.1| count 7"),
                    "the two VMs did not overlap in time")
        r.expect_exit(0)
    return run


test(points=2, title="two VMs at once on one CPU", cmdline="test=vmm -n 5000 -C 0 count count", cpus=2,
     timeout=120, name="vmm_two_one_cpu")(two_vms("-C 0", ("0", "0")))
test(points=2, title="two VMs at once on two CPUs", cmdline="test=vmm -n 5000 -c 0 count count", cpus=2,
     timeout=120, name="vmm_two_two_cpus")(two_vms("-c 0", ("0", "1")))


@test(points=2, title="a vcpu moved between CPUs mid-run keeps its state",
      cmdline="test=vmm -n 5000 -m migrate", cpus=2, timeout=60)
def vmm_migrate(r):
    clean_run(r)
    r.expect(r"^migrate: 6 steps, sum 21 in register and memory$")
    r.expect(r"^vmm: vcpu moved 6 times, ran on 2 cpus \(0,1\)$")
    r.expect(summary("migrate", "exited with code 0", 55, io=49, vmmcall=6))
    r.expect_exit(0)

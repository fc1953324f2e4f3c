"""Hostile guests and hostile user programs (an extra lab: graded, part of
`make test`, no handout). A hypervisor is judged by what it survives:

  hostile guests   user/guests/hostile_*.S through the real VMM (user/vmm),
                   each next to a ticker process on the same CPU that must
                   keep getting timer ticks (`hostile progress CMD`)
  hostile harness  user/hostile.c: its own small VMM for the checks that
                   need a policy of their own (open-bus probe to 4 GiB with a
                   host canary, freed memory, exec, leaks, kills, SMP)
  fuzzers          user/vmfuzz.c (random VM system calls) and
                   user/guestfuzz.c (random guests), small fixed seeds here;
                   `make fuzz` runs the big counts outside CI

Every test rejects a panic, a kernel FAIL and a VMM killed by a fault.
"""
import os
import random

from gradelib import cases, test


def clean_run(r):
    r.reject(r"^panic: ")
    r.reject(r"^FAIL: ")
    r.reject(r"^lab \d: .* not implemented")
    r.reject(r"^pid \d+ \((vmm|hostile|vmfuzz|guestfuzz)\): killed")
    r.reject(r"VIOLATION")


def progress_run(r, case):
    """`vmm ARGS` on CPU 0 next to a ticker on CPU 0: the guest ends as
    `end` says, and the ticker ran in at least 20 of its 100 ticks."""
    lines, end = case
    clean_run(r)
    for line in lines:
        r.expect(r"^%s$" % line)
    r.expect(r"^vmm: guest %s %s after \d+ exits" % (r.test.name, end))
    m = r.expect(r"^hostile: progress: vmm exited with status (-?\d+); "
                 r"a ticker on cpu0 ran in (\d+) of 100 ticks$")
    r.check(m.group(1) == "0", "vmm exited with status %s" % m.group(1))
    r.check(int(m.group(2)) >= 20, "the host starved: the ticker ran in only %s of 100 ticks"
            % m.group(2))
    r.expect(r"^hostile: progress: ok$")
    r.expect_exit(0)


# ---- targeted hostile guests ---------------------------------------------
# (points, title, vmm's arguments, the guest's name, its lines, how it ends)
PROGRESS = [
    (6, "every SVM instruction raises #UD in the guest's own IDT", "hostile_svm",
     "hostile_svm",
     ["hostile_svm: %s raised #UD in the guest" % i
      for i in ("VMRUN", "VMLOAD", "VMSAVE", "CLGI", "STGI", "SKINIT", "INVLPGA")],
     "exited with code 0"),
    (6, "sensitive MSR writes: EFER kept by the kernel, VMLOAD-switched MSRs the guest's own, "
     "others #GP", "hostile_msr", "hostile_msr",
     [r"hostile_msr: wrmsr EFER \(SVME clear, then set\): accepted, reads back without SVME, "
      r"LME\|LMA kept, guest still runs"] +
     [r"hostile_msr: wrmsr %s: #GP on write and read, host MSR untouched" % m
      for m in ("VM_HSAVE_PA", r"VM_CR \(SVMDIS\)", "APIC_BASE")] +
     [r"hostile_msr: wrmsr %s: the guest's own copy \(VMCB\), reads back, host's restored by VMLOAD"
      % m for m in ("LSTAR", "KernelGsBase")],
     "exited with code 0"),
    (4, "triple fault ends in SHUTDOWN while the host schedules", "-e shutdown triple", "triple",
     ["triple: about to triple fault"], r"shut down \(triple fault\)"),
    (4, "IF=0 spinner: stopped by the time budget, the host keeps scheduling",
     "-t 1000 -e budget spin", "spin", [],
     r"stopped: time budget of 1000 ms used up"),
    (4, "I/O exit flood: stopped by the budget, the host keeps scheduling",
     "-t 1000 -e budget hostile_ioflood", "hostile_ioflood", [],
     r"stopped: time budget of 1000 ms used up"),
    (3, "non-canonical and unmapped RIP: #GP and #PF in the guest", "hostile_rip", "hostile_rip",
     [r"hostile_rip: jump to non-canonical 0x8000000000000000: #GP in the guest",
      r"hostile_rip: jump to unmapped 0xfffffffffffff000: #PF in the guest"],
     "exited with code 0"),
    (3, "non-canonical stack: #SS, #DF, triple fault, reported", "-e shutdown hostile_stack",
     "hostile_stack", [r"hostile_stack: rsp = 0x8000000000001000, pushing"],
     r"shut down \(triple fault\)"),
    (4, "EFER writes clearing LME in long mode or setting reserved bits: #GP in the guest",
     "hostile_efer", "hostile_efer",
     [r"hostile_efer: wrmsr EFER with LME clear in long mode: #GP in the guest",
      r"hostile_efer: wrmsr EFER with reserved bit 16 set: #GP in the guest"],
     "exited with code 0"),
    (5, "CR0 writes of a long-mode guest emulated; clearing PG is #GP (host paging kept)",
     "hostile_lmexit", "hostile_lmexit",
     [r"hostile_lmexit: CR0\.TS set by MOV CR0 and cleared by CLTS",
      r"hostile_lmexit: clearing CR0\.PG in 64-bit mode",
      r"hostile_lmexit: #GP in the guest, long mode kept"],
     "exited with code 0"),
    (3, "EFER.LME with paging off, then CR0.PG without PAE: #GP (no IDT: triple fault), "
     "the host CPU survives", "-e shutdown hostile_lme", "hostile_lme", [],
     r"shut down \(triple fault\)"),
    (3, "CR8 writes with a virtual interrupt pending (unintercepted, they abort QEMU 7.2): "
     "emulated, read back, nothing delivered with IF=0", "hostile_cr8", "hostile_cr8",
     [r"hostile_cr8: CR8 written and read back with a V_IRQ pending; nothing arrived with IF=0"],
     "exited with code 0"),
    (3, "ring 3 to ring 0 through the TSS in 32-bit protected mode (with TR in its reset form, "
     "a busy TSS, QEMU 7.2 aborts the machine: kern/svm/tr_guard.c)", "hostile_tss", "hostile_tss",
     [r"hostile_tss: in ring 3, int \$0x80 to ring 0 through the TSS",
      r"hostile_tss: back in ring 0 on the TSS's stack"],
     "exited with code 0"),
    (4, "a guest enters long mode itself (PAE, CR3, EFER.LME, CR0.PG, far jump to 64-bit code)",
     "lmenter", "lmenter", [r"lmenter: long mode entered from 32-bit protected mode"],
     "exited with code 0"),
    (3, "NMIs: one requested inside the NMI handler waits for its IRET and comes right after it, "
     "exactly once; an NMI cut short by a nested page fault arrives once; unblocked after",
     "nmi", "nmi", [r"nmi: 4 nmis, nested 0, failed checks 0"], "exited with code 0"),
    (3, "single-step (TF) over instructions the kernel or the VMM finishes (CPUID, IN, OUT, "
     "RDMSR, WRMSR, VMMCALL, MMIO, MOV CR0, HLT), at CPL 0 and 3: one #DB after each, DR6.BS",
     "step", "step", [r"step: 21 steps, 0 failed"], "exited with code 0"),
]
cases(progress_run, ("points", "name", "title", "cmdline", "case"),
      [(points, name, title, "test=hostile progress vmm " + args, (lines, end))
       for points, title, args, name, lines, end in PROGRESS], cpus=2, timeout=90)


@test(points=2, title="NMI blocking and finished-instruction decisions on a vcpu that never runs: IRET "
      "intercept, the single-step NMI window undone, EXITINTINFO, #DB trap with DR6.BS, held events "
      "(ktest=nmi_step)", cmdline="ktest=nmi_step", cpus=2, timeout=40)
def nmi_step_decisions(r):
    clean_run(r)
    m = r.expect(r"^ktest nmi_step: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 20 and m.group(2) == "0", "expected 20 checks, none failed: %s" % m.group(0))
    r.expect_exit(0)


@test(points=3, title="NMIs between 2 vcpus through the ICR (tests/arch/nmismp.c): none taken inside an STI shadow; "
      "one sent while the NMI handler runs is held until its IRET and taken before a fixed IPI sent behind it; two "
      "sent at once are both taken (kvm-unit-tests apic: nmi-after-sti, multiple nmi)",
      cmdline="test=vmm -A -M 128 -V 2 -k arch-nmismp.bin", cpus=2, timeout=60)
def nmismp(r):
    clean_run(r)
    # Plain QEMU is no oracle here: TCG takes NMIs in STI shadows and merges two
    # NMIs that arrive together (tests/arch/known-differences). The rules are
    # the manual's and KVM's, so the counts are checked against them.
    m = r.expect(r"^nmismp\.sti_shadow: (\d+) NMIs sent to a CPU running sti;cli pairs: (\d+) taken, (\d+) inside "
                 r"an STI shadow$", "the NMIs into the sti;cli block did not finish")
    r.check(m.group(1) == m.group(2), "%s of %s NMIs sent to the AP arrived" % (m.group(2), m.group(1)))
    r.check(m.group(3) == "0", "%s NMIs were taken right after an STI, inside its interrupt shadow (APM Vol. 2 "
            "§15.21.5): the shadow holds NMIs off until the next instruction completed" % m.group(3))
    rules = {"nmi_in_nmi": "an NMI sent during the NMI handler must wait for its IRET and then come before the "
                           "fixed IPI sent behind it (NMI outranks INTR)",
             "two_nmis": "two NMIs sent to a CPU at once are two: one taken, one held behind it"}
    for name, rule in rules.items():
        m = r.expect(r"^nmismp\.%s: (\d+) rounds: (\d+) with both NMIs before the fixed IPI, (\d+) incomplete, "
                     r"nested NMIs (\d+)$" % name, "the %s rounds did not finish" % name)
        total, good, lost, nested = m.groups()
        r.check(good == total and lost == "0" and nested == "0", "%s: %s of %s rounds right, %s incomplete (an NMI "
                "or the fixed IPI never came), %s NMIs nested in an NMI handler: %s" % (name, good, total, lost,
                                                                                       nested, rule))
    r.expect(r"^nmismp\.end: ok$")
    r.expect(r"^vmm: guest \S+ exited with code 0 ")
    r.expect_exit(0)


# A new seed each grading run (SVMLAB_SEED=N replays one).
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))


@test(points=3, title="the kernel's own guest page walk (MOV CRn/DRn emulation without decode assists) in every "
      "paging mode, fetches at the end of guest memory, I/O breakpoints: 2000 random cases each "
      "(ktest=guestmem)", cmdline="ktest=guestmem seed=%d cases=2000" % SEED, cpus=1, timeout=40)
def guestmem_walks(r):
    clean_run(r)
    bad = [x.group(0) for x in r.findall(r"^mismatch: .*$")]
    m = r.expect(r"^ktest guestmem: (\d+) checks, (\d+) failed$")
    r.check(not bad and m.group(2) == "0", "%s\n    replay with: SVMLAB_SEED=%d python3 grade/grade.py "
            "--lab hostile -k guestmem_walks -v" % ("\n".join(bad[:4]) or m.group(0), SEED))
    r.expect_exit(0)


def kernel_symbols(build_dir, names):
    """Addresses of kernel symbols, from build/kernel.elf's symbol table."""
    import os
    import subprocess
    out = subprocess.run(["nm", os.path.join(build_dir, "kernel.elf")], capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "Tt" and f[2] in names:
            found[f[2]] = f[0]
    return ["0x" + found[n] for n in names]


def dr_cmdline(build_dir):
    return "test=hostile " + " ".join("ksym:" + a for a in kernel_symbols(build_dir, ("trap", "vcpu_run"))) + " dr"


def ok_lines(r, lines):
    """A clean run that prints each of these lines (regexes) and powers off with 0."""
    clean_run(r)
    for line in lines:
        r.expect(line)
    r.expect_exit(0)


cases(ok_lines, ("points", "name", "title", "cmdline", "timeout", "case"), [
    (6, "hostile_dr", "guest breakpoints aimed at the host (its code, the kernel's trap and vcpu_run, its data) "
     "never fire there; MOV DRn and MOV CR4 follow the architecture", dr_cmdline, 90,
     [r"^hostile_dr: %s$" % line for line in (
         r"breakpoints on host code and data: the host ran on through every exit",
         r"DR0-3 and DR7 read back as written",
         r"DR6 fixed bits, #GP for bits 63:32, DR4/DR5 alias and #UD",
         r"DR7.GD: #DB with DR6.BD, GD clear in the handler",
         r"CR4: OSXSAVE, reserved bit and PAE clear are #GP; PGE reads back")] + [r"^hostile: dr: ok$"]),
    (4, "sregs_invalid", "vcpu_setregs refuses impossible paging states; VMEXIT_INVALID leaks no host state",
     "test=hostile sregs invalid", 60, [r"^hostile: sregs: ok$", r"^hostile: invalid: ok$"]),
], cpus=2)


@test(points=4, title="after hostile MSR writes the host still runs programs and guests",
      cmdline="test=sh", cpus=2, timeout=90)
def msr_then_host(r):
    clean_run(r)
    r.expect(r"\$ ", partial=True)
    r.sendline("vmm hostile_msr")
    r.wait_for(r"^vmm: guest hostile_msr exited with code 0 after")
    r.sendline("vmm hello")
    r.wait_for(r"^vmm: guest hello exited with code 0 after 81 exits")
    r.sendline("echo the host is alive")
    r.wait_for(r"^the host is alive$")
    r.sendline("exit")


@test(points=3, title="TSC_AUX is each guest's own: two guests on one CPU, each RDTSCP (and RDPID) returns "
      "the value that guest wrote, across exits and switches (kern/svm/tsc_aux.c)",
      cmdline="test=vmm -C 0 rdtscp rdtscp", cpus=2, timeout=120)
def tsc_aux_own(r):
    clean_run(r)
    for i in (0, 1):
        m = r.expect(r"^rdtscp\.%d\| rdtscp: (\d+) reads of TSC_AUX, (\d+) wrong$" % i)
        r.check(int(m.group(1)) >= 200000 and m.group(2) == "0", "guest %d: %s" % (i, m.group(0)))
    r.expect(r"^vmm: 2 guests, 2 ended as expected$")
    out = r.output
    r.check(out.find("rdtscp.1| rdtscp: start") < out.find("rdtscp.0| rdtscp: 2") and
            out.find("rdtscp.0| rdtscp: start") < out.find("rdtscp.1| rdtscp: 2"),
            "the two guests did not overlap in time")


@test(points=2, title="a guest's TSC_AUX stays in the guest: the host's RDTSCP reads the same on both CPUs "
      "before and after guests that set their own", cmdline="test=sh", cpus=2, timeout=120)
def tsc_aux_host(r):
    clean_run(r)
    r.expect(r"\$ ", partial=True)
    r.sendline("tscaux")
    before = r.wait_for(r"^tscaux: cpu0 (0x[0-9a-f]+) cpu1 (0x[0-9a-f]+)$").groups()
    r.sendline("vmm -c 0 rdtscp rdtscp")
    r.wait_for(r"^vmm: 2 guests, 2 ended as expected$")
    r.sendline("tscaux")
    after = r.wait_for(r"^tscaux: cpu0 (0x[0-9a-f]+) cpu1 (0x[0-9a-f]+)$").groups()
    r.check(before == after, "the host's TSC_AUX changed from %s to %s after the guests" % (before, after))
    r.sendline("exit")


@test(points=6, title="guest-physical probe to 4 GiB: one exit per page outside RAM, no host canary",
      cmdline="test=hostile probe", cpus=2, timeout=120)
def probe(r):
    clean_run(r)
    m = r.expect(r"^hostile: probe: canary planted in (\d+) freed pages; (\d+) pages probed above RAM "
                 r"\((\d+) nested page faults, last gpa 0xfff00000\), 0 not open bus, "
                 r"canary in guest RAM: 0 \(guest\) 0 \(host view\)$")
    r.check(int(m.group(1)) > 100000, "the canary went into only %s pages" % m.group(1))
    r.check(m.group(2) == m.group(3) == "20160", "expected 20160 probes and as many exits, got %s, %s"
            % (m.group(2), m.group(3)))
    r.expect(r"^hostile: probe: ok$")
    r.expect_exit(0)


cases(ok_lines, ("points", "name", "title", "cmdline", "cpus", "timeout", "case"), [
    (3, "badimages", "corrupted guest images refused by vmm with a clear message", "test=hostile badimages", 1, 90,
     [r"^vmm: %s\.guest: %s$" % (name, msg) for name, msg in (
         ("hostile_badmagic", r"bad magic \(not a svmlab guest image\)"),
         ("hostile_badver", "unsupported version"),
         ("hostile_badmode", "bad mode"),
         ("hostile_bigmem", r"bad memory size \(a multiple of 4 KiB, at most 16 MiB\)"),
         ("hostile_oddmem", r"bad memory size \(a multiple of 4 KiB, at most 16 MiB\)"),
         ("hostile_nomem", "image does not fit in guest memory"),
         ("hostile_badcr3", r"long-mode page tables \(cr3\) outside the image"),
         ("hostile_empty", r"bad magic \(not a svmlab guest image\)"),
         ("badentry", "entry outside the image"),
         ("badtrunc", "truncated: shorter than the 64-byte header"))]
     + [r"^vmm: hostile_nosuch: ENOENT$", r"^hostile: badimages: ok$"]),
    (4, "freed_memory", "memory the process frees (sbrk(-n), exec) leaves its guests", "test=hostile uaf execvm",
     2, 60, [r"^hostile: uaf: ok$", r"^hostile: execvm: ok$"]),
])


# ---- resources and concurrency -------------------------------------------

def no_leak(r, case):
    """The summary line's free-page counts before and after are equal (and
    oom's run got some VM steps through), then the ok line if there is one."""
    summary, ok = case
    clean_run(r)
    m = r.expect(summary)
    r.check(m.group("before") == m.group("after"), "free pages %s -> %s" % (m.group("before"), m.group("after")))
    if "steps" in m.groupdict():
        r.check(int(m.group("steps")) > 0, "no VM step succeeded even with 24 pages left")
    if ok:
        r.expect(ok)
    r.expect_exit(0)


FREE = r"free pages (?P<before>\d+) -> (?P<after>\d+)$"
cases(no_leak, ("points", "name", "title", "cmdline", "timeout", "case"), [
    (3, "cycles", "1000 VM create/map/run/destroy cycles leak no page", "test=hostile 1000 cycles", 120,
     (r"^hostile: cycles: 1000 VM create/map/run/destroy cycles, " + FREE, r"^hostile: cycles: ok$")),
    (3, "oom", "VM calls with memory exhausted fail with -ENOMEM only, and leak nothing", "test=hostile oom", 120,
     (r"^hostile: oom: 13 rounds with 0\.\.24 pages left: (?P<steps>\d+) VM steps succeeded, " + FREE,
      r"^hostile: oom: ok$")),
    (3, "kill", "processes killed in vcpu_run with 4 VMs x 8 vcpus free every page", "test=hostile kill", 90,
     (r"^hostile: kill: 6 processes with 4 VMs x 8 vcpus killed in vcpu_run, " + FREE, None)),
], cpus=2)


@test(points=3, title="each page allocation of vm_create, vcpu_create, vm_map and a VM's sbrk unmapping fails "
      "in turn (fault injection): -ENOMEM, nothing left behind", cmdline="test=nomemtest", cpus=2, timeout=60)
def nomem_each(r):
    clean_run(r)
    for call, least in (("vm_create", 2), ("vcpu_create", 2), ("vm_map", 5)):
        m = r.expect(r"^nomemtest: %s: (\d+) failures, each -ENOMEM, nothing left$" % call)
        r.check(int(m.group(1)) >= least, "%s: only %s allocations failed in turn, expected at least %d: "
                "is the injection reaching kalloc?" % (call, m.group(1), least))
    r.expect(r"^nomemtest: sbrk: the VM's unmapping without its batch page, done one page at a time$")
    r.expect(r"^nomemtest: ok$")
    r.expect_exit(0)


def smp_test(cpus):
    def run(r):
        clean_run(r)
        n = cpus * 4
        r.expect(r"^hostile: smp: %d VMs at once on %d cpus, 600 values each, moved every 50 exits: "
                 r"%d right; free pages (\d+) -> \1$" % (n, cpus, n))
        r.expect(r"^hostile: smp: ok$")
        r.expect_exit(0)
    run.__name__ = "smp%d" % cpus
    test(points=3, title="%d VMs at once on %d CPUs, moving between them, each right" % (cpus * 4, cpus),
         cmdline="test=hostile smp", cpus=cpus, timeout=180, name="smp%d" % cpus)(run)


smp_test(2)
smp_test(4)


# ---- fuzzing (small fixed seeds; `make fuzz` for the big runs) -----------

@test(points=4, title="vmfuzz: 5000 random VM system calls, invariants kept, no page leaked",
      cmdline="test=vmfuzz 1 5000", cpus=2, timeout=240)
def vmfuzz(r):
    clean_run(r)
    m = r.expect(r"^vmfuzz: seed 1 calls 5000 ok (\d+) err (\d+) .* runs (\d+) .* forks (\d+) kills (\d+) "
                 r"violations 0 pages (\d+)->(\d+) leaked 0$")
    r.check(int(m.group(1)) > 500 and int(m.group(3)) > 50 and int(m.group(4)) > 0,
            "the fuzzer reached too little: %s ok, %s runs, %s forks" % (m.group(1), m.group(3), m.group(4)))
    r.expect(r"^init: test vmfuzz exited with status 0$")
    r.expect_exit(0)
    # A process can make VMRUN fail at will: the kernel says so in one line
    # each time, but dumps the VMCB (about 60 lines) only the first few times.
    dumps = len(r.findall(r"^vmcb save area:$"))
    r.check(dumps <= 4, "%d VMCB dumps on the console: a user program can flood it" % dumps)


@test(points=4, title="guestfuzz: 600 random guests in every mode end in a classified outcome",
      cmdline="test=guestfuzz 1 600", cpus=2, timeout=240)
def guestfuzz(r):
    clean_run(r)
    m = r.expect(r"^guestfuzz: seed 1 guests 600 \(real 200 prot32 200 long64 200\) exits (\d+) outcomes "
                 r"\[hlt=(\d+) shutdown=(\d+) invalid=\d+ npf=(\d+) exception=\d+ unknown=\d+ budget=\d+ "
                 r"refused=\d+ error=0\] pages (\d+)->\5 leaked 0$")
    r.check(int(m.group(1)) > 1000, "only %s exits" % m.group(1))
    r.expect(r"^init: test guestfuzz exited with status 0$")
    r.expect_exit(0)


# ---- the guest's x87/SSE state is its own (kern/svm/fpu.c; moved from lab linux:
# it is kernel mechanism, not lab 6's student code, so lab 6's handout passes it)

@test(points=5, title="x87/SSE state: two guests and a host process on one CPU see only their own",
      cmdline="test=fputest", cpus=2, timeout=90)
def fpu_isolation(r):
    clean_run(r)
    for i in (0, 1):
        r.expect(r"^fpu\.%d\| fpu: 7 x87/SSE state intact$" % i)
        r.expect(r"^fpu\.%d\| vmm: guest fpu exited with code 0 after" % i)
    m = r.expect(r"^fputest: (\d+) checks, (\d+) saw guest state; vmm exited with status 0$")
    r.check(int(m.group(1)) >= 50, "the host process looked only %s times" % m.group(1))
    r.check(m.group(2) == "0", "a host process saw a guest's x87 state %s times" % m.group(2))
    m = r.expect(r"^fputest: SSE in a host process: (\d+) tries, (\d+) ran$")
    r.check(int(m.group(1)) > 0 and m.group(2) == "0",
            "SSE ran in a host process %s of %s times (CR4.OSFXSR left on)" % (m.group(2), m.group(1)))
    r.expect_exit(0)

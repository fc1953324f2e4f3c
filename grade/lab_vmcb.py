"""Lab 2 (vmcb): the VMCB, its consistency checker and nested page tables.

The ktests live in kern/svm/vmcb_test.c:
  vmcb_modes   a VMCB for real, 32-bit protected and 64-bit long mode passes
               the checker and really runs a guest to its HLT (SVM_EXIT_HLT)
  vmcb_fields  a fresh VMCB: every required intercept, the TLB flush, the
               reset state, both permission maps' contents
  vmcb_exits   guest instructions that must exit (ports, MSRs, CPUID, INVLPGA,
               VMMCALL, MONITOR, MWAIT) and pass-through MSRs that must not
  vmcb_random  (kern/svm/vmcb_random_test.c) seeded random VMCBs, valid ones
               with one or two random mutations: the checker against the
               §15.5.1 rules computed by the test and against VMRUN itself
  vmcb_broken  each deliberately broken VMCB is rejected by the checker with
               the right rule AND by the CPU's VMRUN with VMEXIT_INVALID; legal
               but unusual VMCBs are accepted by both
  npt          map, lookup, unmap; every level has the U bit; freeing returns
               the free-page count to its baseline
  vmcb_nomem   with memory exhausted every allocation path says -ENOMEM and
               keeps nothing
  vmcb_misc    exit names, clean bits, vmcb_dump prints every field
  vmcb_smp     the guest runs on every CPU in turn (smp_call)
"""
import os
import random
import re

from gradelib import cases, test
import answers

PANIC = r"^panic: "
QUESTIONS = 6   # labs/lab2-vmcb.md §7
MODES = ["real mode", "32-bit protected mode", "64-bit long mode"]

# (what the ktest calls the broken VMCB, the checker's rule text).
BROKEN = [
    ("ASID 0", "ASID is 0"),
    ("VMRUN intercept clear", "VMRUN intercept clear"),
    ("EFER.SVME clear", "EFER.SVME clear"),
    ("CR0.CD=0 with NW=1", "CR0.NW set with CR0.CD clear"),
    ("CR0 bit 32 set", r"CR0\[63:32\] not zero"),
    ("CR3 bit 52 set", "CR3 reserved bit set"),
    ("CR4 bit 15 set", "CR4 reserved bit set"),
    ("CR4 bit 40 set", "CR4 reserved bit set"),
    ("EFER bit 2 set", "EFER reserved bit set"),
    ("EFER bit 40 set", "EFER reserved bit set"),
    ("long mode without CR4.PAE", "EFER.LME and CR0.PG with CR4.PAE clear"),
    ("long mode paging without CR0.PE", "EFER.LME and CR0.PG with CR0.PE clear"),
    ("long mode with CS.L and CS.D", "long mode with CS.L and CS.D both set"),
    ("DR6 bit 32 set", r"DR6\[63:32\] not zero"),
    ("DR7 bit 32 set", r"DR7\[63:32\] not zero"),
    ("IOPM past MAXPHYADDR", "IOPM or MSRPM beyond the physical address width"),
    ("EVENTINJ reserved type 1", "illegal event injection"),
    ("EVENTINJ exception vector 2", "illegal event injection"),
]


def esc(s):
    return re.escape(s)


def clean_run(r):
    r.reject(PANIC)
    r.reject(r"^FAIL: ")


def ok_line(r, what, hint):
    """Waits for the ktest's verdict on one item: "ok: <what>" passes;
    "FAIL: <what>" fails, quoting the line (expected and seen values) and a
    hint where to look."""
    m = r.expect(r"^(ok|FAIL): %s.*$" % what,
                 msg="expected a line 'ok: %s...' from the ktest" % what.replace("\\", ""))
    r.check(m.group(1) == "ok", "%s\n    where to look: %s" % (m.group(0), hint))


# ---- Part A: nested page tables -------------------------------------------------
def ok_lines(r, lines):
    """The ktest passed, printing each of these lines (regexes)."""
    clean_run(r)
    for line in lines:
        r.expect(line)
    r.expect_exit(0)


cases(ok_lines, ("points", "name", "title", "cmdline", "case"), [
    (10, "npt", "A: nested page tables: map, lookup, unmap, U bit, free to baseline", "ktest=npt",
     [r"^ok: U and P set at every level of the nested walk ", r"^ok: npt_map over a range whose 2nd page is mapped: -17 ",
      r"^ok: npt_unmap removes the middle page ", r"^ok: npt_free: free pages back to baseline (\d+) \(now \1\)$"]),
    (6, "nomem", "A+B: allocation failures say -ENOMEM and leave nothing behind", "ktest=vmcb_nomem",
     [r"^ok: free pages back to baseline (\d+) \(now \1\)$"], {"timeout": 60}),
], cpus=1)


# ---- Part B: the VMCB and the permission maps -------------------------------------
@test(points=8, title="B: a VMCB for each guest mode passes the checker and runs to HLT",
      cmdline="ktest=vmcb_modes", cpus=1, timeout=40)
def modes(r):
    clean_run(r)
    r.expect(r"^ok: vmcb_create: vmcb01 never ran: ")
    for mode in MODES:
        r.expect(r"^ok: %s: intercepts misc1=0x[0-9a-f]+ misc2=0x[0-9a-f]+ include" % mode)
        r.expect(r"^ok: %s: V_INTR_MASKING, NP_ENABLE and nCR3=0x[0-9a-f]+ set " % mode)
        r.expect(r"^ok: %s: checker accepts the VMCB \(ok\)$" % mode)
        r.expect(r"^ok: %s: guest runs to its HLT: exitcode 0x78 \(SVM_EXIT_HLT\) at 0x10000$"
                 % mode)
    r.expect_exit(0)


def icpt(*names):
    return [r"intercept %s set " % esc(n) for n in names]


def items_run(r, case):
    """A part of a ktest's checks: each item's ok line (partial credit)."""
    items, hint = case
    r.reject(PANIC)
    for what in items:
        ok_line(r, what, hint)


# Parts of ktest=vmcb_fields: (the items, where to look when one fails).
cases(items_run, ("name", "points", "title", "case"), [
    ("icpt_host", 4, "B: host events intercepted: INTR, NMI, SMI, #MC, SHUTDOWN",
     (icpt("INTR", "NMI", "SMI", "#MC (exception 18)", "SHUTDOWN"),
      "the host must keep its interrupts, NMIs, SMIs and machine checks, and a guest "
      "triple fault must not reset the machine (APM Vol. 2 §15.9, §15.12-15.13)")),
    ("icpt_svm", 4, "B: every SVM instruction intercepted",
     (icpt("VMRUN", "VMMCALL", "VMLOAD", "VMSAVE", "STGI", "CLGI", "SKINIT"),
      "a guest must not run SVM instructions on the real hardware (§15.5, §15.14)")),
    ("icpt_insn", 4, "B: emulated and host-visible instructions intercepted (CPUID, HLT, IOIO, MSR, INVD, "
     "INVLPGA, MONITOR, MWAIT)",
     (icpt("CPUID", "HLT", "IOIO_PROT", "MSR_PROT", "INVD", "INVLPGA", "MONITOR", "MWAIT", "MWAIT_COND"),
      "see APM Vol. 2 Appendix B table B-1 and why each instruction matters to the host")),
    ("reset_state", 6, "B: TLB flush for a new VMCB and the RESET state (G_PAT, RFLAGS, "
     "DR6/DR7, EFER, TR/LDTR, GDTR/IDTR, real-mode CS)",
     (["TLB_CONTROL of a new VMCB", "G_PAT holds PAT", "RFLAGS is the reset value",
       "DR6/DR7 reset values", "long mode EFER", "TR is a present busy TSS",
       "GDTR/IDTR limits", "real mode entry 0x10000", "real mode: CR0",
       "32-bit protected mode: CR0", "real mode: data segments",
       "32-bit protected mode: data segments", "64-bit long mode: data segments"],
      "APM Vol. 2 §14.1.3 'Processor Initialization State', §15.16 'TLB Control'")),
    ("perm_maps", 6, "B: IOPM all ones; MSRPM all ones but the VMLOAD/VMSAVE MSRs",
     (["IOPM: all", "MSRPM: every MSR exits except"],
      "§15.10.1 and §15.11: sizes, which bit is which MSR, what a set bit means")),
], cmdline="ktest=vmcb_fields", cpus=1, timeout=40)


def guest(*probes):
    return [r"guest %s: " % esc(what) for what in probes]


# Parts of ktest=vmcb_exits: the guest's probes, each its own ok line.
cases(items_run, ("name", "points", "title", "case"), [
    ("exits_io", 4, "B: guest port I/O exits (SVM_EXIT_IOIO)",
     (guest("in al, 0x80", "out 0x80, al", "in al, dx (dx=0xfff8)"), "IOIO_PROT plus a full IOPM (§15.10.1)")),
    ("exits_msr", 6, "B: guest RDMSR/WRMSR exit; the VMLOAD/VMSAVE MSRs do not",
     (guest("rdmsr EFER", "rdmsr TSC", "rdmsr PAT", "rdmsr VM_HSAVE_PA", "wrmsr EFER",
            "rdmsr FS_BASE (pass-through)", "wrmsr KERNEL_GS_BASE (pass-through)",
            "rdmsr SYSENTER_EIP (pass-through)"),
      "MSR_PROT plus the MSRPM's three ranges and two bits per MSR (§15.11)")),
    ("exits_insn", 4, "B: guest CPUID, INVLPGA, VMMCALL, MONITOR, MWAIT exit",
     (guest("cpuid", "invlpga", "vmmcall", "monitor", "mwait"), "intercept bits in the VMCB control area (Appendix B)")),
], cmdline="ktest=vmcb_exits", cpus=1, timeout=40)


# ---- Part C: the §15.5.1 checker -------------------------------------------------
def rule_test(i, what, rule):
    def run(r):
        r.reject(PANIC)
        ok_line(r, r'broken VMCB \(%s\): checker says "%s"' % (esc(what), rule),
                "vmcb_check must name this rule (§15.5.1)")
        # Low 32 bits only: QEMU 7.2 writes VMEXIT_INVALID as 0x00000000ffffffff,
        # real hardware as all ones.
        ok_line(r, r"broken VMCB \(%s\): VMRUN exits with VMEXIT_INVALID" % esc(what),
                "the test's VMCB was not rejected by VMRUN: the rest of the VMCB is wrong")
    name = "rule_" + re.sub(r"[^a-z0-9]+", "_", what.lower()).strip("_")
    test(points=1, title="C: checker and VMRUN reject %s" % what, cmdline="ktest=vmcb_broken",
         cpus=1, timeout=60, name=name)(run)


for i, (what, rule) in enumerate(BROKEN):
    rule_test(i, what, rule)


@test(points=6, title="C: legal but unusual VMCBs accepted by the checker and by VMRUN",
      cmdline="ktest=vmcb_broken", cpus=1, timeout=60)
def legal(r):
    # Only this part's lines count: a missing rule (a FAIL above) costs that rule's test.
    r.reject(PANIC)
    ok_line(r, r"a valid VMCB still runs afterwards",
            "after the broken VMCBs, a valid one must still run")
    bad = r.findall(r"^FAIL: legal VMCB.*$")
    r.check(not bad, "%s\n    where to look: a checker stricter than the CPU is wrong too; §15.5.1 "
            "and §3.1 say which bits are reserved, CPUID says which optional ones exist"
            % (bad[0].group(0) if bad else ""))
    n = len(r.findall(r"^ok: legal VMCB"))
    r.check(n == 8, "expected 8 'ok: legal VMCB' lines, got %d" % n)


# ---- Part C, randomized: a new seed each grading run (SVMLAB_SEED=N replays) ----
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
RANDOM_CASES = 3000


@test(points=8, title="C: %d random VMCBs: the checker agrees with the §15.5.1 rules and with VMRUN"
      % RANDOM_CASES, cmdline="ktest=vmcb_random seed=%d cases=%d" % (SEED, RANDOM_CASES), cpus=1,
      timeout=60)
def random_vmcbs(r):
    r.reject(PANIC)
    r.reject(r"^lab \d: .* not implemented")
    m = r.expect(r"^ktest vmcb_random: (\d+) checks, (\d+) failed$")
    bad = [x.group(0) for x in r.findall(r"^mismatch: .*$")] or \
          [x.group(0) for x in r.findall(r"^FAIL: .*$")]
    r.check(m.group(2) == "0",
            "%s\n    (a mismatch line gives the seed, the case, the guest mode and the mutated fields; "
            "the property is §15.5.1: accept what no rule forbids, reject the rest, name a broken "
            "rule)\n    replay with: SVMLAB_SEED=%d make grade LAB=vmcb GRADEFLAGS=\"-k random_vmcbs -v\""
            % ("\n".join(bad[:4]) or "(no line printed)", SEED))
    r.expect_exit(0)


@test(points=4, title="exit names, clean bits and vmcb_dump", cmdline="ktest=vmcb_misc", cpus=1)
def misc(r):
    clean_run(r)
    for field in ["intercept_misc2", "iopm_base_pa", "asid", "int_ctl", "exitcode", "nested_ctl",
                  "ncr3", "eventinj", "efer", "cr0", "cr3", "cr4", "rflags", "rip", "g_pat"]:
        r.expect(r"^  %s +0x[0-9a-f]{16}" % field)
    for seg in ["es", "cs", "ss", "ds", "fs", "gs", "gdtr", "ldtr", "idtr", "tr"]:
        r.expect(r"^  %s +sel=0x[0-9a-f]{4} attrib=0x[0-9a-f]{3} limit=0x[0-9a-f]{8} "
                 r"base=0x[0-9a-f]{16}$" % seg)
    r.expect_exit(0)


@test(points=4, title="the same VMCB runs on each of 4 CPUs (each with its own host save area)",
      cmdline="ktest=vmcb_smp", cpus=4, timeout=60)
def every_cpu(r):
    clean_run(r)
    for cpu in range(4):
        r.expect(r"^ok: cpu%d: guest runs to HLT: exitcode 0x78 \(SVM_EXIT_HLT\)$" % cpu)
    r.expect_exit(0)


@test(points=3, title="answers-lab2.txt answers every question of labs/lab2-vmcb.md §7",
      cpus=1, boot=False)
def written_answers(r):
    answers.check(r, 2, QUESTIONS)

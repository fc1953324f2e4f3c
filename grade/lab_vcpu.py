"""Lab 3 (vcpu): ASIDs with generations (part A), loading a vcpu on a CPU
(part B) and VMCB clean bits (part C), plus the written answers.

QEMU ignores VMCB clean bits and has no ASID-tagged TLB a test could observe,
so ktests (kern/svm/vcpu_test.c) check the bookkeeping directly:
  vcpu_asid         the first max new vcpus of a CPU get max different ASIDs
                    (none wasted) with at most one flush and keep them; the
                    next starts a new generation; a vcpu of an old generation
                    takes another ASID (ASID clean bit only); flush-by-ASID
                    only when CPUID has it
  vcpu_asid_wrap    40 vcpus on one CPU with 15 ASIDs wrap the generation
The order ASIDs are handed out in and where flushes go are free (KVM's
policy, whose first allocation already wraps with a flush, keeps every
point): the ASID checks run a model of each CPU's ASID-tagged TLB, in which
no vcpu may run on an ASID that may hold another vcpu's entries.
  vcpu_asid_unique  no two vcpus share an ASID of a CPU's current generation
  vcpu_flush        vcpu_flush_tlb: a fresh ASID, or flush-by-ASID
  vcpu_current      interleaved loads of two vcpus on two CPUs; vcpu_free
  vcpu_loadput      first load, -EBUSY, -EINVAL, vcpu_put
  vcpu_migrate      a moved vcpu: all dirty, a fresh ASID; staying keeps both
  vcpu_clean        vcpu_regs_dirty: each register group its own clean bit
  vcpu_random       (kern/svm/vcpu_random_test.c) seeded random schedules of
                    vcpus moving between 3 CPUs, loads without a run, flushes,
                    frees: a model of each CPU's TLB and VMCB cache says
                    whether a guest could see stale state
Several tests share a ktest: each grades only its own lines ("ok: ..."), so
one broken rule costs that rule's points, and the failure quotes the rule's
FAIL line. A test fails on the stubs it depends on only (part C's tests do
not need parts A and B).
"""
import os
import random
import re

import answers as answers_file
from gradelib import cases, test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The stubs each test depends on: a stub left elsewhere (say part C's while
# the student works on part A) does not cost this test its points.
LOADING = ("svm_asid_init", "vcpu_new_asid", "vcpu_load", "vcpu_put")


def finished(r, ktest, needs=LOADING):
    """Waits for the end of the ktest; a panic or a stub it needs fails at once."""
    r.reject(r"^panic: ")
    r.reject(r"^lab 3: (%s) not implemented" % "|".join(needs))
    r.expect(r"^ktest %s: \d+ checks" % ktest)


def rule(r, text):
    """The check whose message starts with text passed (the ktest is over)."""
    if r.find(r"^ok: " + re.escape(text)):
        return
    m = r.find(r"^FAIL: " + re.escape(text) + r".*$")
    r.fail("expected the check 'ok: %s...'\n  but saw: %s"
           % (text, m.group(0) if m else "no such check in the output"))


def rules(r, ktest, *texts, needs=LOADING):
    finished(r, ktest, needs)
    for t in texts:
        rule(r, t)


def rules_case(r, case):
    """A row of RULES: its ktest (from the command line) passed these checks."""
    texts, needs = case
    rules(r, r.test.cmdline.split("=", 1)[1], *texts, needs=needs)


CLEAN_GROUPS = ["cr0", "cr3", "cr4", "efer", "cr2", "gdtr", "idtr", "cs", "cs.dpl", "ds", "es", "ss"]
NO_GROUP = ["rax", "r15", "rip", "rsp", "rflags", "fs", "gs", "tr", "ldtr", "nothing"]

# One row a test: the checks (message beginnings) it grades and the stubs it needs.
cases(rules_case, ("points", "name", "title", "cmdline", "case"), [
    # ---- Part A: ASIDs
    (4, "asid_range", "A: a CPU's first load sets up its guest ASID range (never the host's 0) and a generation", "ktest=vcpu_asid",
     (["first load on cpu1: a range within ASIDs 1..15"], LOADING)),
    (6, "asid_in_order", "A: new vcpus get different ASIDs until every ASID is used, and keep them while they last", "ktest=vcpu_asid",
     (["15 new vcpus on cpu0 get 15 different ASIDs",
      "each of them, reloaded before the ASIDs run out, keeps its ASID"],
      LOADING)),
    (5, "asid_in_vmcb", "A: the VMCB's control.asid is the vcpu's ASID", "ktest=vcpu_asid",
     (["each VMCB's control.asid is its vcpu's ASID"], LOADING)),
    (4, "asid_gen1_noflush", "A: no TLB flush while fresh ASIDs last (at most one on a CPU's first loads)", "ktest=vcpu_asid",
     (["no TLB flush while fresh ASIDs last"], LOADING)),
    (6, "asid_new_generation", "A: running out of ASIDs starts a new generation; the reused ASID holds no "
     "other vcpu's TLB entries when it runs",
     "ktest=vcpu_asid", (["vcpu 16 on cpu0, past the last ASID, starts a new generation",
                          "reloaded in its own generation: ASID"], LOADING)),
    (6, "asid_old_generation", "A: a vcpu of an old generation takes another ASID, as clean (and only the ASID bit is "
     "dirty)",
     "ktest=vcpu_asid", (["a vcpu of the old generation reloaded on cpu0 gets another ASID of the new generation",
                          "its new ASID clears the ASID clean bit and no other"], LOADING)),
    (4, "asid_flush_by_asid", "A: flush-by-ASID only when CPUID offers it; with it, reused ASIDs run clean and "
     "every ASID is flushed at most once per generation", "ktest=vcpu_asid",
     (["with FlushByAsid, 17 loads across a wrap run on ASIDs that hold no other",
       "no load asks for flush-by-ASID (3 or 7) while CPUID lacks FlushByAsid"], LOADING)),
    (6, "asid_wrap", "A: 40 vcpus on one CPU wrap the ASID generation; reused ASIDs are flushed before they run", "ktest=vcpu_asid_wrap",
     (["every ASID within 1..15", "the last ASID 15 is handed out in every generation",
       "40 vcpus on one CPU with 15 ASIDs", "every ASID handed out again after a wrap is flushed",
       "the first vcpu, of an old generation, gets ASID"], LOADING), {"timeout": 60}),
    (4, "asid_unique", "A: no two vcpus share an ASID of a CPU's current generation", "ktest=vcpu_asid_unique",
     (["across 24 loads on 2 CPUs no two vcpus share an ASID", "after every load the VMCB's ASID is the vcpu's"],
      LOADING)),
    (5, "flush_tlb", "A: vcpu_flush_tlb: a fresh ASID, or flush-by-ASID when the CPU has it", "ktest=vcpu_flush",
     (["without FlushByAsid a flushed vcpu takes a fresh ASID of its CPU", "a vcpu not flushed keeps ASID",
       "with FlushByAsid the vcpu keeps ASID"], LOADING + ("vcpu_flush_tlb",))),
    # ---- Part B: loading
    (6, "current", "B: current_vmcb per CPU after interleaved loads of two vcpus", "ktest=vcpu_current",
     (["after interleaved loads each CPU's current_vmcb is the VMCB loaded there last",
       "vcpu_put leaves no vcpu marked loaded"], LOADING)),
    (4, "free_clears", "B: vcpu_free clears exactly the CPUs whose current VMCB it was", "ktest=vcpu_current",
     (["vcpu_free(a) clears cpu1's current_vmcb (a's) and keeps cpu0's (b's)",
       "vcpu_free drops the CPUs' pointers to its VMCB"], LOADING + ("svm_clear_current_vmcb",))),
    (6, "load_put", "B: a first load: where it is loaded, all dirty, not a move; vcpu_put", "ktest=vcpu_loadput",
     (["loaded on cpu1: returns 0", "a first load is not a move but makes the VMCB all dirty",
       "vcpu_put: v->cpu -1, guest state not loaded, cpu1 keeps it as current"], LOADING)),
    (4, "load_errors", "B: vcpu_load and vcpu_put refuse bad callers (loaded elsewhere, another CPU, interrupts on)",
     "ktest=vcpu_loadput", (["loading it on cpu0 while cpu1 has it fails with -EBUSY",
                             "vcpu_load on cpu0 naming cpu1 fails with -EINVAL",
                             "vcpu_load with interrupts on fails with -EINVAL",
                             "vcpu_put on cpu0 of a vcpu loaded on cpu1 fails with -EINVAL"], LOADING)),
    (4, "migrate_stay", "B: same CPU again: clean bits and ASID kept", "ktest=vcpu_migrate",
     (["reloaded on the same CPU: clean bits kept"], LOADING)),
    (8, "migrate_move", "B: moved to another CPU: VMCB all dirty and a fresh ASID of that CPU", "ktest=vcpu_migrate",
     (["moved to cpu1: every clean bit cleared", "moved to cpu1: the move is recorded and counted",
       "moved to cpu1: a fresh ASID", "back on cpu0: new ASID"], LOADING)),
    # ---- Part C: clean bits
    (10, "clean_marked", "C: a register change clears its group's clean bit", "ktest=vcpu_clean",
     (["%s changed: clean bit" % g for g in CLEAN_GROUPS], ("vcpu_regs_dirty",))),
    (5, "clean_only", "C: and no other clean bit (registers with no clean bit clear none)", "ktest=vcpu_clean",
     (["%s changed: no other clean bit cleared" % g for g in CLEAN_GROUPS + NO_GROUP]
      + ["cr2, ss and idtr changed together", "nothing changed: bits already dirty stay dirty"],
      ("vcpu_regs_dirty",))),
], cpus=2, timeout=40)

# ---- Parts A+B, randomized: a new seed each grading run (SVMLAB_SEED=N replays) ----
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
RANDOM_STEPS = 4000


@test(points=10, title="A+B: %d random load/run/put/move/flush/free steps on 3 CPUs: no guest sees another's "
      "TLB entries or stale VMCB state" % RANDOM_STEPS,
      cmdline="ktest=vcpu_random seed=%d steps=%d" % (SEED, RANDOM_STEPS), cpus=3, timeout=60)
def random_schedules(r):
    finished(r, "vcpu_random", LOADING + ("vcpu_flush_tlb", "svm_clear_current_vmcb", "vcpu_free"))
    bad = [x.group(0) for x in r.findall(r"^mismatch: .*$")] or \
          [x.group(0) for x in r.findall(r"^FAIL: .*$")]
    r.check(not bad, "%s\n    (the seed, the step, the vcpu, the CPU and the values seen; the property: a "
            "guest's ASID on a CPU holds no one else's and no stale translations when it runs, and VMCB "
            "state cached on another CPU is not trusted)\n    replay with: SVMLAB_SEED=%d make grade LAB=vcpu "
            "GRADEFLAGS=\"-k random_schedules -v\"" % ("\n".join(bad[:4]), SEED))
    r.expect_exit(0)


# ---- Questions ---------------------------------------------------------------

QUESTIONS = 5


@test(points=3, title="answers-lab3.txt answers every question",
      cpus=1, boot=False)
def answers(r):
    answers_file.check(r, 3, QUESTIONS)

"""Lab 1 (hsave): SVM detection, the per-CPU host save area, EFER.SVME.

On 1, 2 and 4 CPUs every CPU must have EFER.SVME set and its own non-zero,
page-aligned VM_HSAVE_PA, read back from the MSRs on that CPU (ktest=hsave,
kern/svm/hsave_test.c); the boot lines must agree with those readings; the
feature summary must match CPUID; without SVM or without nested paging the
kernel says what is missing and everything else keeps working.
Console formats: HACKING.md, "Console output the graders match"."""
import os
import random

from gradelib import cases, test
import answers

QUESTIONS = 5   # labs/lab1-hsave.md §7

PANIC = r"^panic: "
ENABLE = r"^svm: cpu(\d+): EFER\.SVME=(\d) VM_HSAVE_PA=0x([0-9a-f]+)$"
FEATURES = r"^svm: features: ([^\n]*)\n"   # the whole line, not a partial read


def features(r):
    """The summary line as a dict of name -> int."""
    m = r.expect(FEATURES)
    out = {}
    for kv in m.group(1).split():
        k, _, v = kv.partition("=")
        out[k] = int(v, 0)
    return out


def enabled_on_every_cpu(r, n):
    """ktest=hsave passes on n CPUs and the boot lines tell the same story:
    one line per CPU, SVME=1, distinct page-aligned non-zero addresses."""
    r.reject(PANIC)
    r.reject(r"^FAIL: ")
    r.expect(r"^svmlab: %d cpus online$" % n)
    r.expect(r"^hsave: %d cpus checked$" % n)
    r.expect_exit(0)
    lines = r.findall(ENABLE)
    seen = {}
    for m in lines:
        cpu, svme, pa = int(m.group(1)), int(m.group(2)), int(m.group(3), 16)
        r.check(svme == 1, "cpu%d reports EFER.SVME=%d, expected 1" % (cpu, svme))
        r.check(pa != 0 and pa % 4096 == 0,
                "cpu%d: VM_HSAVE_PA=%#x must be non-zero and page-aligned" % (cpu, pa))
        seen[cpu] = pa
    r.check(sorted(seen) == list(range(n)),
            "expected an 'svm: cpuN: EFER.SVME=...' line for each of cpu0..cpu%d, got %s"
            % (n - 1, sorted(seen)))
    r.check(len(set(seen.values())) == n,
            "every CPU needs its own save area; VM_HSAVE_PA values: %s"
            % ", ".join("cpu%d=%#x" % kv for kv in sorted(seen.items())))
    # The ktest read each MSR on its own CPU: it must agree with the boot line.
    for cpu, pa in seen.items():
        r.check(r.find(r"^ok: cpu%d: VM_HSAVE_PA=0x%x is no other CPU's$" % (cpu, pa)),
                "cpu%d: the MSR read on that CPU does not match the boot line (%#x)"
                % (cpu, pa))


cases(enabled_on_every_cpu, ("points", "name", "title", "cpus", "timeout", "case"), [
    (6, "hsave_1cpu", "1 CPU: EFER.SVME and VM_HSAVE_PA set", 1, 30, 1),
    (8, "hsave_2cpu", "2 CPUs: each has SVME and its own save area", 2, 40, 2),
    (8, "hsave_4cpu", "4 CPUs: each has SVME and its own save area", 4, 60, 4),
], cmdline="ktest=hsave")


@test(points=6, title="feature summary matches CPUID on every CPU (-cpu max)",
      cmdline="ktest=hsave_features", cpus=2, timeout=40)
def features_max(r):
    r.reject(PANIC)
    r.reject(r"^FAIL: ")
    f = features(r)
    # QEMU 7.2's -cpu max: SVM revision 1, 16 ASIDs, nested paging.
    r.check(f.get("svm") == 1 and f.get("npt") == 1,
            "-cpu max has SVM with nested paging; the summary says %s" % f)
    r.check(f.get("asids", 0) >= 2 and f.get("rev", 0) >= 1,
            "expected a revision and at least 2 ASIDs, got %s" % f)
    r.reject(r"^svm: unavailable:")
    r.expect_exit(0)


@test(points=4, title="feature summary on -cpu EPYC", cmdline="ktest=hsave_features", cpus=1,
      qemu_cpu="EPYC")
def features_epyc(r):
    r.reject(PANIC)
    r.reject(r"^FAIL: ")
    f = features(r)
    r.check(f.get("svm") == 1 and f.get("npt") == 1,
            "-cpu EPYC has SVM with nested paging; the summary says %s" % f)
    r.expect_exit(0)


def degrades(r, case):
    """The vmm says exactly what is missing, refuses VMs, enables nothing."""
    reason, svm = case
    r.reject(PANIC)
    r.reject(r"^FAIL: ")
    r.reject(r"EFER\.SVME=1")
    f = features(r)
    r.check((svm is None or f.get("svm") == svm) and f.get("npt") == 0,
            "expected %snpt=0 in the summary, got %s" % ("" if svm is None else "svm=%d " % svm, f))
    if svm is None:   # no SVM leaf: nothing may be read from it
        r.check(f.get("asids", 0) == 0 and f.get("rev", 0) == 0 and f.get("edx", 0) == 0,
                "leaf 8000_000Ah does not exist on this CPU: its values are not SVM's, yet the summary "
                "reports them: %s" % f)
        r.reject(r"^svm: unavailable: .*nested paging")
    r.expect(r"^svm: unavailable: .*%s" % reason)
    r.expect(r"^ok: VM creation refused: -ENODEV$")
    r.expect(r"^svm: cannot create a VM: .*%s" % reason,
             msg="VM creation must be refused with the reason found at setup "
                 "(svm_unavailable_reason), naming '%s'" % reason)
    r.expect_exit(0)


cases(degrades, ("points", "name", "title", "qemu_cpu", "case"), [
    (5, "no_npt", "no nested paging (-cpu qemu64): says so, refuses VMs", "qemu64", (r"nested paging", 1)),
    (5, "no_svm", "no SVM (-cpu qemu64,-svm): says so, refuses VMs", "qemu64,-svm", (r"no SVM", 0)),
    # CPUID.8000_0001h says SVM, but the highest extended leaf is below
    # 8000_000Ah: what that leaf returns is not SVM's (APM Vol. 3, CPUID
    # 8000_0000h EAX; QEMU then answers with its highest basic leaf).
    (3, "no_svm_leaf", "SVM bit but no leaf 8000_000Ah (-cpu max,xlevel=0x80000008): says so, refuses VMs",
     "max,xlevel=0x80000008", (r"8000_000Ah", None)),
], cmdline="ktest=hsave_nosvm", cpus=2)


def user_program_runs(r, reason):
    """The vmm reports exactly what is missing, and init's test still passes."""
    r.reject(PANIC)
    r.expect(r"^svm: unavailable: .*%s" % reason)
    m = r.expect(r"^init: test forktest exited with status (-?\d+)$")
    r.check(m.group(1) == "0", "forktest exited with status %s" % m.group(1))
    r.expect_exit(0)


cases(user_program_runs, ("points", "name", "title", "qemu_cpu", "case"), [
    (4, "no_svm_userland", "without SVM, user programs still run (test=forktest)", "qemu64,-svm", r"no SVM"),
    (4, "no_npt_userland", "without nested paging, user programs still run (test=forktest)", "qemu64",
     r"nested paging"),
], cmdline="test=forktest", cpus=2, timeout=60)


def ok_lines(r, lines):
    """The ktest passed, printing each of these lines (regexes)."""
    r.reject(PANIC)
    r.reject(r"^FAIL: ")
    for line in lines:
        r.expect(line)
    r.expect_exit(0)


cases(ok_lines, ("points", "name", "title", "cmdline", "cpus", "timeout", "case"), [
    (6, "disable", "disable: one CPU, then every CPU (power-off path); enable again", "ktest=hsave_disable", 2, 40,
     [r"^ok: cpu1 alone disabled: ", r"^ok: one CPU disabled: svm_available\(\)=0 ",
      r"^ok: cpu1: after disable EFER=0x[0-9a-f]+ has SVME clear and LMA still set$",
      r"^ok: svm_available\(\) is 1 again "]),
    (4, "nomem", "out of memory: the save areas are all given back, none left dangling", "ktest=hsave_nomem", 1, 60,
     [r"^ok: no svm_data entry keeps a save area after the failure"]),
    (4, "compat", "a CPU whose SVM features differ from the BSP's is refused", "ktest=hsave_compat", 2, 40,
     [r"^svm: cpu1: SVM features differ from the boot CPU's$"] +
     [rx % what for what in ["revision", "number of ASIDs", r"feature bits \(EDX\)"]
      for rx in (r"^ok: recorded %s differs: ", r"^ok: %s restored: ")]),
])


# A new seed each grading run (SVMLAB_SEED=N replays one).
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
RANDOM_STEPS = 300


@test(points=6, title="%d random enable/disable steps on random CPUs (3 CPUs): each CPU's MSRs as promised"
      % RANDOM_STEPS, cmdline="ktest=hsave_random seed=%d steps=%d" % (SEED, RANDOM_STEPS), cpus=3, timeout=60)
def random_orders(r):
    r.reject(r"^panic: ")
    r.reject(r"^lab 1: .* not implemented")
    r.expect(r"^ktest hsave_random: \d+ checks")
    bad = [x.group(0) for x in r.findall(r"^mismatch: .*$")] or [x.group(0) for x in r.findall(r"^FAIL: .*$")]
    r.check(not bad, "%s\n    (the seed, the step, the CPU and its MSRs as read on it; the property: an enabled "
            "CPU runs VMRUN with a save area of its own, a disabled one cannot, and nothing else in EFER "
            "changes)\n    replay with: SVMLAB_SEED=%d make grade LAB=hsave GRADEFLAGS=\"-k random_orders -v\""
            % ("\n".join(bad[:4]), SEED))
    r.expect_exit(0)


@test(points=3, title="answers-lab1.txt answers every question of labs/lab1-hsave.md §7",
      cpus=1, boot=False)
def written_answers(r):
    answers.check(r, 1, QUESTIONS)


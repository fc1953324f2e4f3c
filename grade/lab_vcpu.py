"""Lab 3 (vcpu): vcpu_load/vcpu_put, per-CPU current_vmcb, ASIDs with generations.

QEMU ignores VMCB clean bits and has no ASID-tagged TLB a test could observe,
so these ktests (kern/svm/vcpu_test.c) check the bookkeeping directly:
  vcpu_current      interleaved loads of two vcpus on two CPUs (smp_call):
                    each CPU's current_vmcb is the VMCB loaded there last
  vcpu_migrate      a vcpu moved to another CPU has every clean bit cleared
                    and a fresh ASID from that CPU; staying put keeps both
  vcpu_asid_wrap    40 vcpus on one CPU with 15 ASIDs wrap the generation;
                    every ASID handed out again requests a TLB flush
  vcpu_asid_unique  no two vcpus share an ASID of a CPU's current generation
"""
from gradelib import test


def clean_run(r):
    r.reject(r"^panic: ")
    r.reject(r"^FAIL: ")
    r.reject(r"^lab \d: .* not implemented")


@test(points=6, title="current_vmcb per CPU after interleaved loads of two vcpus",
      cmdline="ktest=vcpu_current", cpus=2, timeout=40)
def current(r):
    clean_run(r)
    r.expect(r"^ok: after interleaved loads each CPU's current_vmcb is the VMCB loaded there last$")
    r.expect(r"^ok: vcpu_put leaves no vcpu marked loaded \(cpu -1, -1\)$")
    r.expect(r"^ok: vcpu_free drops the CPUs' pointers to its VMCB$")
    r.expect_exit(0)


@test(points=4, title="same CPU again: clean bits and ASID kept",
      cmdline="ktest=vcpu_migrate", cpus=2, timeout=40, name="migrate_stay")
def migrate_stay(r):
    # Shares its boot with migrate_move: only its own line counts here.
    r.reject(r"^panic: ")
    r.reject(r"^lab \d: .* not implemented")
    r.expect(r"^ok: reloaded on the same CPU: clean bits kept \(0x1fff\), same ASID \d+$")
    r.expect(r"^ktest vcpu_migrate: \d+ checks")


@test(points=8, title="moved to another CPU: VMCB all dirty and a fresh ASID of that CPU",
      cmdline="ktest=vcpu_migrate", cpus=2, timeout=40, name="migrate_move")
def migrate_move(r):
    clean_run(r)
    r.expect(r"^ok: moved to cpu1: every clean bit cleared \(clean=0x0\)$")
    r.expect(r"^ok: moved to cpu1: vmcb01\.cpu=1, moves=1$")
    r.expect(r"^ok: moved to cpu1: a fresh ASID \d+ of cpu1's generation \d+")
    r.expect(r"^ok: back on cpu0: new ASID \d+ \(not its old \d+\), clean bits cleared$")
    r.expect_exit(0)


@test(points=8, title="40 vcpus on one CPU wrap the ASID generation; reused ASIDs flush",
      cmdline="ktest=vcpu_asid_wrap", cpus=2, timeout=60)
def asid_wrap(r):
    clean_run(r)
    r.expect(r"^ok: every ASID within 1\.\.15$")
    m = r.expect(r"^ok: 40 vcpus on one CPU with 15 ASIDs: generation (\d+) -> (\d+) \((\d+) wraps\)$")
    r.check(int(m.group(3)) >= 2, "expected at least 2 generation wraps, got %s" % m.group(3))
    r.expect(r"^ok: every ASID handed out again after a wrap requests a TLB flush "
             r"\(\d+ flushes, 0 without\)$")
    r.expect(r"^ok: the first vcpu, of an old generation, gets ASID \d+ \(had \d+\) with a flush request$")
    r.expect_exit(0)


@test(points=4, title="no two loaded vcpus on one CPU share an ASID",
      cmdline="ktest=vcpu_asid_unique", cpus=2, timeout=40)
def asid_unique(r):
    clean_run(r)
    r.expect(r"^ok: across 24 loads on 2 CPUs no two vcpus share an ASID of a CPU's current generation$")
    r.expect_exit(0)

// ktests for lab 3 (vcpu): the bookkeeping of vcpu_load/vcpu_put and ASIDs.
// QEMU ignores VMCB clean bits and tags nothing by ASID that a test could
// observe, so these check the state the hardware would rely on.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define NWRAP 40

// vcpu_load on another CPU through smp_call (interrupts off there too).
struct loadreq {
  struct vcpu *v;
  int r;
};
static void load_here(void *arg)
{
  struct loadreq *q = arg;
  q->r = vcpu_load(q->v, cpuid_self());
  vcpu_put(q->v);
}
static int load_on(int cpu, struct vcpu *v)
{
  struct loadreq q = {v, -1};
  int r = smp_call(cpu, load_here, &q);
  return r < 0 ? r : q.r;
}

KTEST(vcpu_current)
{
  struct vcpu *a = vcpu_alloc(), *b = vcpu_alloc();
  KCHECK(a && b, "two vcpus allocated");
  if (!a || !b || ncpu < 2) {
    KCHECK(ncpu >= 2, "needs 2 CPUs, have %d", ncpu);
    return;
  }
  int ok = 1;
  for (int i = 0; i < 4; i++) {   // a, b, a, b on cpu0 and b, a, b, a on cpu1
    struct vcpu *x = (i & 1) ? b : a, *y = (i & 1) ? a : b;
    ok &= load_on(0, x) == 0 && load_on(1, y) == 0;
    ok &= svm_data[0].current_vmcb == x->vmcb && svm_data[1].current_vmcb == y->vmcb;
  }
  KCHECK(ok, "after interleaved loads each CPU's current_vmcb is the VMCB loaded there last");
  KCHECK(a->cpu == -1 && b->cpu == -1, "vcpu_put leaves no vcpu marked loaded (cpu %d, %d)", a->cpu, b->cpu);
  vcpu_free(a);
  vcpu_free(b);
  KCHECK(svm_data[0].current_vmcb == NULL && svm_data[1].current_vmcb == NULL,
         "vcpu_free drops the CPUs' pointers to its VMCB");
}

KTEST(vcpu_migrate)
{
  struct vcpu *v = vcpu_alloc();
  if (!v || ncpu < 2) {
    KCHECK(0, "needs a vcpu and 2 CPUs (ncpu %d)", ncpu);
    return;
  }
  KCHECK(load_on(0, v) == 0, "loaded on cpu0");
  uint32 asid0 = v->asid;
  uint64 gen0 = v->vmcb01.asid_generation;
  v->vmcb->control.clean = VMCB_CLEAN_ALL;   // as after a run: the CPU has it cached
  load_on(0, v);
  KCHECK(v->vmcb->control.clean == VMCB_CLEAN_ALL && v->asid == asid0 && v->moves == 0,
         "reloaded on the same CPU: clean bits kept (0x%x), same ASID %u", v->vmcb->control.clean, v->asid);
  uint32 next1 = svm_data[1].next_asid;
  load_on(1, v);
  KCHECK(v->vmcb->control.clean == 0, "moved to cpu1: every clean bit cleared (clean=0x%x)", v->vmcb->control.clean);
  KCHECK(v->vmcb01.cpu == 1 && v->moves == 1, "moved to cpu1: vmcb01.cpu=%d, moves=%lu", v->vmcb01.cpu, v->moves);
  KCHECK(v->vmcb01.asid_generation == svm_data[1].asid_generation && svm_data[1].next_asid != next1 &&
             v->vmcb->control.asid == v->asid && v->asid != 0,
         "moved to cpu1: a fresh ASID %u of cpu1's generation %lu (was %u of cpu0's %lu)", v->asid,
         v->vmcb01.asid_generation, asid0, gen0);
  load_on(0, v);
  KCHECK(v->vmcb01.cpu == 0 && v->moves == 2 && v->asid != asid0 && v->vmcb->control.clean == 0,
         "back on cpu0: new ASID %u (not its old %u), clean bits cleared", v->asid, asid0);
  vcpu_free(v);
}

static int holds_asid(struct vcpu *v, int cpu)
{
  return v->vmcb01.cpu == cpu && v->vmcb01.asid_generation == svm_data[cpu].asid_generation;
}

// ASIDs of the vcpus in vs[] that hold one of cpu's current generation are
// pairwise different.
static int asids_unique(struct vcpu **vs, int n, int cpu)
{
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (holds_asid(vs[i], cpu) && holds_asid(vs[j], cpu) && vs[i]->asid == vs[j]->asid)
        return 0;
  return 1;
}

KTEST(vcpu_asid_wrap)
{
  static struct vcpu *vs[NWRAP];
  for (int i = 0; i < NWRAP; i++)
    if (!(vs[i] = vcpu_alloc())) {
      KCHECK(0, "vcpu %d allocated", i);
      return;
    }
  struct svm_cpu_data *sd = &svm_data[0];
  load_on(0, vs[0]);
  uint64 gen0 = sd->asid_generation;
  int wraps = 0, flushes = 0, unflushed_new = 0, inrange = 1, unique = 1;
  for (int i = 1; i < NWRAP; i++) {
    uint64 before = sd->asid_generation;
    vs[i]->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;   // as after an earlier run
    load_on(0, vs[i]);
    wraps += sd->asid_generation != before;
    int flushed = vs[i]->vmcb->control.tlb_control != TLB_CONTROL_DO_NOTHING;
    flushes += flushed;
    unflushed_new += sd->asid_generation > 1 && !flushed;
    inrange &= vs[i]->asid >= 1 && vs[i]->asid < svm_features.nasids;
    unique &= asids_unique(vs, i + 1, 0);
  }
  uint32 usable = svm_features.nasids - 1;
  KCHECK(inrange, "every ASID within 1..%u", usable);
  KCHECK(wraps >= (NWRAP - 1) / (int)usable && sd->asid_generation == gen0 + wraps,
         "%d vcpus on one CPU with %u ASIDs: generation %lu -> %lu (%d wraps)", NWRAP, usable, gen0,
         sd->asid_generation, wraps);
  KCHECK(unflushed_new == 0 && flushes > 0,
         "every ASID handed out again after a wrap requests a TLB flush (%d flushes, %d without)", flushes,
         unflushed_new);
  KCHECK(unique, "no two vcpus holding an ASID of the current generation share it");
  vs[0]->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;
  uint32 old = vs[0]->asid;
  load_on(0, vs[0]);
  KCHECK(vs[0]->vmcb01.asid_generation == sd->asid_generation && vs[0]->vmcb->control.tlb_control != 0,
         "the first vcpu, of an old generation, gets ASID %u (had %u) with a flush request", vs[0]->asid, old);
  KCHECK(asids_unique(vs, NWRAP, 0), "still no shared ASID in the current generation");
  for (int i = 0; i < NWRAP; i++)
    vcpu_free(vs[i]);
}

KTEST(vcpu_asid_unique)
{
  struct vcpu *a = vcpu_alloc(), *b = vcpu_alloc(), *c = vcpu_alloc();
  if (!a || !b || !c || ncpu < 2) {
    KCHECK(0, "three vcpus and 2 CPUs");
    return;
  }
  struct vcpu *vs[3] = {a, b, c};
  int ok = 1;
  for (int round = 0; round < 12; round++) {   // enough loads to cross a wrap
    load_on(0, vs[round % 3]);
    load_on(1, vs[(round + 1) % 3]);
    ok &= asids_unique(vs, 3, 0) && asids_unique(vs, 3, 1);
    ok &= vs[round % 3]->vmcb->control.asid == vs[round % 3]->asid;
  }
  KCHECK(ok, "across 24 loads on 2 CPUs no two vcpus share an ASID of a CPU's current generation");
  vcpu_free(a);
  vcpu_free(b);
  vcpu_free(c);
}

// ktests for lab 3 (vcpu): ASIDs (part A), loading (part B) and clean bits
// (part C). QEMU ignores VMCB clean bits and tags nothing by ASID that a test
// could observe, so these check the state the hardware would rely on. Every
// message says what was expected and what was seen; grade/lab_vcpu.py
// matches the "ok:" lines.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

#define NWRAP 40
#define NASIDV 20   // vcpus of the part A test: more than QEMU's 15 ASIDs

// vcpu_load (and vcpu_put unless keep) on a CPU through smp_call, with
// interrupts off as run.c does it.
struct loadreq {
  struct vcpu *v;
  int cpu, keep, r;
};
static void load_here(void *arg)
{
  struct loadreq *q = arg;
  pushcli();
  q->r = vcpu_load(q->v, q->cpu);
  if (q->r == 0 && !q->keep)
    vcpu_put(q->v);
  popcli();
}
static int load_req(int on, int cpu, struct vcpu *v, int keep)
{
  struct loadreq q = {v, cpu, keep, -1};
  int r = smp_call(on, load_here, &q);
  return r < 0 ? r : q.r;
}
static int load_on(int cpu, struct vcpu *v) { return load_req(cpu, cpu, v, 0); }

static void put_here(void *arg) { pushcli(), vcpu_put(arg), popcli(); }

// A VMCB as vmcb_init_control leaves it, after one run: ASID 1 (the value
// sysvm.c creates every VMCB with), no flush pending, every group cached.
static void as_after_run(struct vcpu *v)
{
  v->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;
  v->vmcb->control.clean = VMCB_CLEAN_ALL;
}
static void as_created(struct vcpu *v)
{
  v->vmcb->control.asid = 1;
  as_after_run(v);
}

static int alloc_all(struct vcpu **vs, int n)
{
  for (int i = 0; i < n; i++)
    if (!(vs[i] = vcpu_alloc())) {
      KCHECK(0, "vcpu %d of %d allocated", i, n);
      return 0;
    }
  return 1;
}
static void free_all(struct vcpu **vs, int n)
{
  for (int i = 0; i < n; i++)
    vcpu_free(vs[i]);
}

// ---- Part A: ASIDs ------------------------------------------------------------
//
// How a CPU hands out its ASIDs is free (in order from 1 as here, or KVM's
// way, whose first allocation on a CPU already starts a new generation with
// a flush); what the checks hold it to is what the hardware needs, through a
// model of each CPU's ASID-tagged TLB (APM Vol. 2 §15.16): a guest never runs
// on an ASID whose TLB entries may be another vcpu's, never on ASID 0 (the
// host's) or past CPUID 8000_000Ah EBX - 1, and two vcpus never share an ASID
// of a CPU's current generation; plus the two costs that matter, ASIDs that
// are never wasted and a TLB that is not flushed while fresh ASIDs remain.

#define MODEL_ASIDS 256
// Which vcpu's translations an ASID of cpu 0 or 1 may still hold (NULL: none).
static struct vcpu *tlb_owner[2][MODEL_ASIDS];
static int stale_runs, flush_alls, bad_requests, bad_asids;

static void tlb_model_reset(void)
{
  memset(tlb_owner, 0, sizeof tlb_owner);
  stale_runs = flush_alls = bad_requests = bad_asids = 0;
}

// A pretend VMRUN of v on cpu: the VMCB's TLB_CONTROL applies (1 flushes every
// ASID; 3 this ASID, where CPUID has FlushByAsid; 7 keeps global entries, so
// it cleans nothing for sure), the guest's entries fill its ASID; then the
// VMCB is as a run leaves it (run.c clears TLB_CONTROL, the CPU caches all).
static void pretend_run(int cpu, struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  uint32 a = c->asid;
  int byasid = svm_has(SVM_FEAT_FLUSHASID);
  if ((c->tlb_control == TLB_CONTROL_FLUSH_ASID || c->tlb_control == TLB_CONTROL_FLUSH_ASID_NG) && !byasid)
    bad_requests++;   // reserved without FlushByAsid (§15.16.1)
  if (a == 0 || a >= svm_features.nasids || a >= MODEL_ASIDS || cpu > 1) {
    bad_asids++;
  } else {
    if (c->tlb_control == TLB_CONTROL_FLUSH_ALL)
      memset(tlb_owner[cpu], 0, sizeof tlb_owner[cpu]), flush_alls++;
    else if (c->tlb_control == TLB_CONTROL_FLUSH_ASID && byasid)
      tlb_owner[cpu][a] = NULL;
    stale_runs += tlb_owner[cpu][a] && tlb_owner[cpu][a] != v;
    tlb_owner[cpu][a] = v;
  }
  as_after_run(v);
}

// Load and run on cpu, as run.c does.
static void load_run(int cpu, struct vcpu *v)
{
  load_on(cpu, v);
  pretend_run(cpu, v);
}

static int asid_ok(uint32 a) { return a >= 1 && a < svm_features.nasids; }

// A CPU's first load sets up its range; the next max new vcpus get max
// different ASIDs (every one of them: none wasted) without flushing more than
// once, and each keeps its ASID while they last.
static void asid_first_generation(struct vcpu **vs, uint32 max)
{
  struct svm_cpu_data *sd1 = &svm_data[1];
  as_created(vs[0]);
  load_run(1, vs[0]);
  KCHECK(sd1->min_asid >= 1 && sd1->max_asid <= max && sd1->min_asid <= vs[0]->asid &&
             vs[0]->asid <= sd1->max_asid && sd1->asid_generation != 0 &&
             vs[0]->vmcb01.asid_generation == sd1->asid_generation,
         "first load on cpu1: a range within ASIDs 1..%u (0 is the host's), a generation, and the vcpu holds "
         "an ASID of both (saw ASIDs %u..%u, generation %lu, the vcpu's ASID %u of generation %lu)",
         max, sd1->min_asid, sd1->max_asid, sd1->asid_generation, vs[0]->asid, vs[0]->vmcb01.asid_generation);
  int bad_seq = -1, same = -1, bad_vmcb = -1, flushes = 0;
  for (uint32 i = 0; i < max; i++) {
    as_created(vs[i]);
    load_on(0, vs[i]);
    if (bad_seq < 0 && !asid_ok(vs[i]->asid))
      bad_seq = i;
    for (uint32 j = 0; j < i && bad_seq < 0; j++)
      if (vs[j]->asid == vs[i]->asid)
        bad_seq = i, same = j;
    if (bad_vmcb < 0 && vs[i]->vmcb->control.asid != vs[i]->asid)
      bad_vmcb = i;
    flushes += vs[i]->vmcb->control.tlb_control != TLB_CONTROL_DO_NOTHING;
    pretend_run(0, vs[i]);
  }
  int s = bad_seq < 0 ? 0 : bad_seq;
  KCHECK(bad_seq < 0, "%u new vcpus on cpu0 get %u different ASIDs, all within 1..%u (vcpu %d: ASID %u, "
         "the same as vcpu %d's, -1 if none)", max, max, max, s, vs[s]->asid, same);
  s = bad_vmcb < 0 ? 0 : bad_vmcb;
  KCHECK(bad_vmcb < 0, "each VMCB's control.asid is its vcpu's ASID (vcpu %d: VMCB has %u, vcpu %u)", s,
         vs[s]->vmcb->control.asid, vs[s]->asid);
  KCHECK(flushes <= 1, "no TLB flush while fresh ASIDs last: at most one in the first %u loads of a CPU "
         "(%d of them requested one)", max, flushes);
  int moved = -1;
  uint32 had = 0;
  uint8 req = 0;
  for (uint32 i = 0; i < max && moved < 0; i++) {
    had = vs[i]->asid;
    load_on(0, vs[i]);
    req = vs[i]->vmcb->control.tlb_control;
    if (vs[i]->asid != had || req != TLB_CONTROL_DO_NOTHING)
      moved = i;
    pretend_run(0, vs[i]);
  }
  s = moved < 0 ? 0 : moved;
  KCHECK(moved < 0, "each of them, reloaded before the ASIDs run out, keeps its ASID without a flush "
         "(vcpu %d, -1 if none: ASID %u -> %u, tlb_control %u)", moved, had, vs[s]->asid, req);
}

// One more vcpu than ASIDs: a new generation whose ASID holds nobody else's
// entries when it runs. Then a vcpu of the old generation takes another ASID
// of the new one, just as clean.
static void asid_next_generation(struct vcpu **vs, uint32 max)
{
  struct svm_cpu_data *sd = &svm_data[0];
  struct vcpu *v = vs[max];
  uint64 gen = sd->asid_generation;
  int stale = stale_runs;
  as_created(v);
  load_run(0, v);
  KCHECK(sd->asid_generation > gen && asid_ok(v->asid) && v->vmcb->control.asid == v->asid &&
             v->vmcb01.asid_generation == sd->asid_generation && stale_runs == stale,
         "vcpu %u on cpu0, past the last ASID, starts a new generation and runs on an ASID that holds no "
         "other vcpu's TLB entries (generation %lu -> %lu, ASID %u, VMCB ASID %u, %d stale runs)", max + 1, gen,
         sd->asid_generation, v->asid, v->vmcb->control.asid, stale_runs - stale);
  uint32 kept = v->asid;
  load_on(0, v);
  KCHECK(v->asid == kept && v->vmcb->control.tlb_control == TLB_CONTROL_DO_NOTHING &&
             v->vmcb->control.clean == VMCB_CLEAN_ALL,
         "reloaded in its own generation: ASID %u kept, no flush, clean bits 0x%x kept "
         "(saw ASID %u, tlb_control %u, clean 0x%x)", kept, VMCB_CLEAN_ALL, v->asid,
         v->vmcb->control.tlb_control, v->vmcb->control.clean);
  pretend_run(0, v);
  struct vcpu *old = vs[0];   // an ASID of the old generation on cpu0
  uint32 before = old->asid;
  stale = stale_runs;
  load_on(0, old);
  uint32 clean = old->vmcb->control.clean, asid_bit = 1u << VMCB_CLEAN_ASID;
  pretend_run(0, old);
  KCHECK(old->vmcb01.asid_generation == sd->asid_generation && asid_ok(old->asid) && old->asid != v->asid &&
             old->vmcb->control.asid == old->asid && stale_runs == stale,
         "a vcpu of the old generation reloaded on cpu0 gets another ASID of the new generation, holding no "
         "other vcpu's TLB entries when it runs (ASID %u -> %u of generation %lu, the new vcpu's %u, VMCB %u, "
         "%d stale runs)", before, old->asid, old->vmcb01.asid_generation, v->asid, old->vmcb->control.asid,
         stale_runs - stale);
  KCHECK(clean == (VMCB_CLEAN_ALL & ~asid_bit) || (old->asid == before && clean == VMCB_CLEAN_ALL),
         "its new ASID clears the ASID clean bit and no other (clean 0x%x, expected 0x%x)", clean,
         VMCB_CLEAN_ALL & ~asid_bit);
}

// FlushByAsid (CPUID 8000_000Ah EDX bit 6; QEMU lacks it, so the test
// pretends): with it, a wrap and the reused ASIDs after it still run clean,
// and every ASID is flushed at most once per generation (KVM flushes all at
// the wrap, svmlab each reused ASID alone); without it, TLB_CONTROL 3 and 7
// are reserved (§15.16.1) and no load may ask for them.
static void asid_flush_by_asid(struct vcpu **vs, int n, uint32 max)
{
  uint32 saved = svm_features.edx;
  svm_features.edx |= SVM_FEAT_FLUSHASID;
  uint64 gen = svm_data[0].asid_generation;
  int stale = stale_runs, alls = flush_alls;
  for (uint32 k = 0; k < max + 2; k++)
    load_run(0, vs[1 + k % (n - 1)]);
  uint64 wraps = svm_data[0].asid_generation - gen;
  svm_features.edx = saved;
  KCHECK(stale_runs == stale && wraps >= 1 && (uint64)(flush_alls - alls) <= wraps,
         "with FlushByAsid, %u loads across a wrap run on ASIDs that hold no other vcpu's TLB entries, with "
         "at most one flush of every ASID per new generation (%d stale runs, %d flushes of every ASID, %lu "
         "wraps)", max + 2, stale_runs - stale, flush_alls - alls, wraps);
}

KTEST(vcpu_asid)
{
  static struct vcpu *vs[NASIDV];
  uint32 max = svm_features.nasids - 1;
  if (ncpu < 2 || max + 3 > NASIDV || max >= MODEL_ASIDS) {
    KCHECK(0, "needs 2 CPUs and at most %d ASIDs (have %d CPUs, %u ASIDs)", NASIDV - 3, ncpu, max);
    return;
  }
  if (!alloc_all(vs, NASIDV))
    return;
  tlb_model_reset();
  asid_first_generation(vs, max);
  asid_next_generation(vs, max);
  int reserved = bad_requests;
  asid_flush_by_asid(vs, NASIDV, max);
  KCHECK(reserved == 0 && bad_asids == 0, "no load asks for flush-by-ASID (3 or 7) while CPUID lacks "
         "FlushByAsid, and every run is on a guest ASID (%d such requests, %d runs on ASID 0 or past %u)",
         reserved, bad_asids, max);
  free_all(vs, NASIDV);
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
  if (!alloc_all(vs, NWRAP))
    return;
  tlb_model_reset();
  struct svm_cpu_data *sd = &svm_data[0];
  load_run(0, vs[0]);
  uint64 gen0 = sd->asid_generation;
  int wraps = 0, inrange = 1, unique = 1, top = 0;
  uint32 outside = 0, dup = 0;
  for (int i = 1; i < NWRAP; i++) {
    uint64 before = sd->asid_generation;
    load_run(0, vs[i]);
    wraps += sd->asid_generation != before;
    if (inrange && !asid_ok(vs[i]->asid))
      inrange = 0, outside = vs[i]->asid;
    top += vs[i]->asid == svm_features.nasids - 1;
    if (unique && !asids_unique(vs, i + 1, 0))
      unique = 0, dup = vs[i]->asid;
  }
  uint32 usable = svm_features.nasids - 1;
  KCHECK(inrange, "every ASID within 1..%u (first outside: %u, 0 if none)", usable, outside);
  KCHECK(top >= 2, "the last ASID %u is handed out in every generation (%d times in %d loads)", usable, top,
         NWRAP);
  KCHECK(wraps >= (NWRAP - 1) / (int)usable && sd->asid_generation == gen0 + wraps,
         "%d vcpus on one CPU with %u ASIDs: generation %lu -> %lu (%d wraps)", NWRAP, usable, gen0,
         sd->asid_generation, wraps);
  KCHECK(stale_runs == 0 && bad_asids == 0,
         "every ASID handed out again after a wrap is flushed before its new vcpu runs (%d runs on another "
         "vcpu's TLB entries, %d flushes of every ASID)", stale_runs, flush_alls);
  KCHECK(unique, "no two vcpus holding an ASID of the current generation share it (first shared: %u, 0 if "
         "none)", dup);
  uint32 old = vs[0]->asid;
  int stale = stale_runs;
  load_run(0, vs[0]);
  KCHECK(vs[0]->vmcb01.asid_generation == sd->asid_generation && asid_ok(vs[0]->asid) && stale_runs == stale,
         "the first vcpu, of an old generation, gets ASID %u (had %u) of the current generation and runs on no "
         "other vcpu's TLB entries (%d stale runs)", vs[0]->asid, old, stale_runs - stale);
  KCHECK(asids_unique(vs, NWRAP, 0), "still no shared ASID in the current generation (generation %lu)",
         sd->asid_generation);
  free_all(vs, NWRAP);
}

KTEST(vcpu_asid_unique)
{
  struct vcpu *vs[3];
  if (ncpu < 2 || !alloc_all(vs, 3)) {
    KCHECK(0, "three vcpus and 2 CPUs (have %d)", ncpu);
    return;
  }
  int ok = 1, bad = -1;
  uint32 vmcb_asid = 0, vcpu_asid = 0;
  for (int round = 0; round < 12; round++) {   // enough loads to cross a wrap
    load_on(0, vs[round % 3]);
    load_on(1, vs[(round + 1) % 3]);
    ok &= asids_unique(vs, 3, 0) && asids_unique(vs, 3, 1);
    if (bad < 0 && vs[round % 3]->vmcb->control.asid != vs[round % 3]->asid)
      bad = round, vmcb_asid = vs[round % 3]->vmcb->control.asid, vcpu_asid = vs[round % 3]->asid;
  }
  KCHECK(ok, "across 24 loads on 2 CPUs no two vcpus share an ASID of a CPU's current generation "
         "(ASIDs now %u, %u, %u)", vs[0]->asid, vs[1]->asid, vs[2]->asid);
  KCHECK(bad < 0, "after every load the VMCB's ASID is the vcpu's (first mismatch in round %d, -1 if none: "
         "VMCB %u, vcpu %u)", bad, vmcb_asid, vcpu_asid);
  free_all(vs, 3);
}

// vcpu_flush_tlb: by ASID when the CPU can, else a fresh ASID at the next
// load; other vcpus keep theirs. The vcpus run on cpu1 and the flush comes
// from cpu0, as when the VMM's vm_unmap runs on another CPU than the guest.
KTEST(vcpu_flush)
{
  struct vcpu *vs[2];
  if (ncpu < 2 || !alloc_all(vs, 2)) {
    KCHECK(0, "two vcpus and 2 CPUs (have %d)", ncpu);
    return;
  }
  struct vcpu *v = vs[0], *w = vs[1];
  load_on(1, v), load_on(1, w);
  uint32 va = v->asid, wa = w->asid;
  as_after_run(v), as_after_run(w);
  vcpu_flush_tlb(v);
  uint8 req = v->vmcb->control.tlb_control;
  load_on(1, v), load_on(1, w);
  KCHECK(v->asid != va && v->asid != w->asid && v->vmcb->control.asid == v->asid && v->vmcb01.cpu == 1 &&
             req != TLB_CONTROL_FLUSH_ALL,
         "without FlushByAsid a flushed vcpu takes a fresh ASID of its CPU, no flush of every ASID "
         "(ASID %u -> %u, VMCB ASID %u, the other vcpu's %u, tlb_control %u after the flush)", va, v->asid,
         v->vmcb->control.asid, w->asid, req);
  KCHECK(w->asid == wa && w->vmcb->control.tlb_control == TLB_CONTROL_DO_NOTHING,
         "a vcpu not flushed keeps ASID %u and gets no flush (saw ASID %u, tlb_control %u)", wa, w->asid,
         w->vmcb->control.tlb_control);
  uint32 saved = svm_features.edx;
  svm_features.edx |= SVM_FEAT_FLUSHASID;
  as_after_run(v);
  va = v->asid;
  vcpu_flush_tlb(v);
  load_on(1, v);
  svm_features.edx = saved;
  KCHECK(v->asid == va && v->vmcb->control.tlb_control == TLB_CONTROL_FLUSH_ASID,
         "with FlushByAsid the vcpu keeps ASID %u and asks for flush-by-ASID (saw ASID %u, tlb_control %u)",
         va, v->asid, v->vmcb->control.tlb_control);
  free_all(vs, 2);
}

// ---- Part B: loading ----------------------------------------------------------

KTEST(vcpu_current)
{
  struct vcpu *a = vcpu_alloc(), *b = vcpu_alloc();
  KCHECK(a && b, "two vcpus allocated (a %s, b %s)", a ? "ok" : "NULL", b ? "ok" : "NULL");
  if (!a || !b || ncpu < 2) {
    KCHECK(ncpu >= 2, "needs 2 CPUs, have %d", ncpu);
    return;
  }
  int bad = -1;
  const char *cur0 = "-", *cur1 = "-";
  for (int i = 0; i < 4; i++) {   // a, b, a, b on cpu0 and b, a, b, a on cpu1
    struct vcpu *x = (i & 1) ? b : a, *y = (i & 1) ? a : b;
    int r0 = load_on(0, x), r1 = load_on(1, y);
    struct vmcb *c0 = svm_data[0].current_vmcb, *c1 = svm_data[1].current_vmcb;
    if (bad < 0 && (r0 || r1 || c0 != x->vmcb || c1 != y->vmcb)) {
      bad = i;
      cur0 = c0 == a->vmcb ? "a" : c0 == b->vmcb ? "b" : "neither";
      cur1 = c1 == a->vmcb ? "a" : c1 == b->vmcb ? "b" : "neither";
    }
  }
  KCHECK(bad < 0, "after interleaved loads each CPU's current_vmcb is the VMCB loaded there last "
         "(first wrong round %d, -1 if none: expected cpu0 %s, cpu1 %s; saw cpu0 %s, cpu1 %s)", bad,
         bad & 1 ? "b" : "a", bad & 1 ? "a" : "b", cur0, cur1);
  KCHECK(a->cpu == -1 && b->cpu == -1, "vcpu_put leaves no vcpu marked loaded (expected cpu -1, -1; saw %d, %d)", a->cpu, b->cpu);
  // b was loaded last on cpu0, a on cpu1.
  vcpu_free(a);
  KCHECK(svm_data[1].current_vmcb == NULL && svm_data[0].current_vmcb == b->vmcb,
         "vcpu_free(a) clears cpu1's current_vmcb (a's) and keeps cpu0's (b's): cpu0 %s, cpu1 %s",
         svm_data[0].current_vmcb == b->vmcb ? "b" : "not b", svm_data[1].current_vmcb ? "not NULL" : "NULL");
  vcpu_free(b);
  KCHECK(svm_data[0].current_vmcb == NULL && svm_data[1].current_vmcb == NULL,
         "vcpu_free drops the CPUs' pointers to its VMCB (expected NULL, NULL; cpu0 %s, cpu1 %s)",
         svm_data[0].current_vmcb ? "not NULL" : "NULL", svm_data[1].current_vmcb ? "not NULL" : "NULL");
}

// While loaded the vcpu says where; vcpu_put forgets it and the guest state.
KTEST(vcpu_loadput)
{
  struct vcpu *v = vcpu_alloc();
  if (!v || ncpu < 2) {
    KCHECK(0, "needs a vcpu and 2 CPUs (ncpu %d)", ncpu);
    return;
  }
  as_created(v);
  int r = load_req(1, 1, v, 1);
  KCHECK(r == 0 && v->cpu == 1 && v->vmcb01.cpu == 1 && svm_data[1].current_vmcb == v->vmcb,
         "loaded on cpu1: returns 0, v->cpu 1, vmcb01.cpu 1, cpu1's current VMCB (saw %d, %d, %d, %s)", r,
         v->cpu, v->vmcb01.cpu, svm_data[1].current_vmcb == v->vmcb ? "yes" : "no");
  KCHECK(v->moves == 0 && v->vmcb->control.clean == 0,
         "a first load is not a move but makes the VMCB all dirty (moves %lu, clean 0x%x)", v->moves,
         v->vmcb->control.clean);
  r = load_req(0, 0, v, 1);
  KCHECK(r == -EBUSY && v->cpu == 1 && svm_data[0].current_vmcb != v->vmcb,
         "loading it on cpu0 while cpu1 has it fails with -EBUSY and changes nothing (got %d, v->cpu %d)", r,
         v->cpu);
  v->guest_state_loaded = 1;
  pushcli();
  r = vcpu_put(v);
  popcli();
  KCHECK(r == -EINVAL && v->cpu == 1 && v->guest_state_loaded == 1,
         "vcpu_put on cpu0 of a vcpu loaded on cpu1 fails with -EINVAL and changes nothing (got %d, v->cpu %d)",
         r, v->cpu);
  smp_call(1, put_here, v);
  KCHECK(v->cpu == -1 && v->guest_state_loaded == 0 && svm_data[1].current_vmcb == v->vmcb,
         "vcpu_put: v->cpu -1, guest state not loaded, cpu1 keeps it as current (saw %d, %d, %s)", v->cpu,
         v->guest_state_loaded, svm_data[1].current_vmcb == v->vmcb ? "kept" : "dropped");
  r = load_req(0, 1, v, 0);
  KCHECK(r == -EINVAL && v->cpu == -1 && v->vmcb01.cpu == 1,
         "vcpu_load on cpu0 naming cpu1 fails with -EINVAL and changes nothing (got %d, vmcb01.cpu %d)", r,
         v->vmcb01.cpu);
  int was = (rflags() & FL_IF) != 0;
  sti();
  r = vcpu_load(v, cpuid_self());
  if (!was)
    cli();
  KCHECK(r == -EINVAL && v->cpu == -1, "vcpu_load with interrupts on fails with -EINVAL (got %d, v->cpu %d)", r,
         v->cpu);
  if (r == 0)
    vcpu_put(v);
  vcpu_free(v);
}

KTEST(vcpu_migrate)
{
  struct vcpu *v = vcpu_alloc();
  if (!v || ncpu < 2) {
    KCHECK(0, "needs a vcpu and 2 CPUs (ncpu %d)", ncpu);
    return;
  }
  int r = load_on(0, v);
  KCHECK(r == 0, "loaded on cpu0 (vcpu_load returned %d, expected 0)", r);
  uint32 asid0 = v->asid;
  uint64 gen0 = v->vmcb01.asid_generation;
  as_after_run(v);
  load_on(0, v);
  KCHECK(v->vmcb->control.clean == VMCB_CLEAN_ALL && v->asid == asid0 && v->moves == 0,
         "reloaded on the same CPU: clean bits kept (0x%x), same ASID %u (had %u), moves %lu (expected 0)",
         v->vmcb->control.clean, v->asid, asid0, v->moves);
  uint32 next1 = svm_data[1].next_asid;
  load_on(1, v);
  KCHECK(v->vmcb->control.clean == 0, "moved to cpu1: every clean bit cleared (clean=0x%x, expected 0x0)", v->vmcb->control.clean);
  KCHECK(v->vmcb01.cpu == 1 && v->moves == 1,
         "moved to cpu1: the move is recorded and counted (vmcb01.cpu=%d, moves=%lu; expected 1, 1)",
         v->vmcb01.cpu, v->moves);
  KCHECK(v->vmcb01.asid_generation == svm_data[1].asid_generation && svm_data[1].next_asid != next1 &&
             v->vmcb->control.asid == v->asid && v->asid != 0,
         "moved to cpu1: a fresh ASID %u of cpu1's generation %lu (was %u of cpu0's %lu)", v->asid,
         v->vmcb01.asid_generation, asid0, gen0);
  load_on(0, v);
  KCHECK(v->vmcb01.cpu == 0 && v->moves == 2 && v->asid != asid0 && v->vmcb->control.clean == 0,
         "back on cpu0: new ASID %u (not its old %u), clean bits cleared (0x%x), moves %lu (expected 2)",
         v->asid, asid0, v->vmcb->control.clean, v->moves);
  vcpu_free(v);
}

// ---- Part C: clean bits -------------------------------------------------------

// One register change and the clean bit it must clear (-1: none).
struct regcase {
  const char *what;
  void (*change)(struct vm_regs *r);
  int bit;
};
static void c_rax(struct vm_regs *r) { r->rax ^= 1; }
static void c_r15(struct vm_regs *r) { r->r15 ^= 1; }
static void c_rip(struct vm_regs *r) { r->rip += 2; }
static void c_rsp(struct vm_regs *r) { r->rsp -= 8; }
static void c_rflags(struct vm_regs *r) { r->rflags ^= 0x200; }
static void c_cr0(struct vm_regs *r) { r->cr0 ^= 1u << 3; }
static void c_cr3(struct vm_regs *r) { r->cr3 += 0x1000; }
static void c_cr4(struct vm_regs *r) { r->cr4 ^= 1u << 9; }
static void c_efer(struct vm_regs *r) { r->efer ^= 1u << 11; }
static void c_cr2(struct vm_regs *r) { r->cr2 = 0xdead000; }
static void c_gdtr(struct vm_regs *r) { r->gdtr.base += 8; }
static void c_idtr(struct vm_regs *r) { r->idtr.limit = 0xFF; }
static void c_cs(struct vm_regs *r) { r->cs.sel = 0x1B; }
static void c_csdpl(struct vm_regs *r) { r->cs.attr |= 3 << 5; }
static void c_ds(struct vm_regs *r) { r->ds.base = 0x10000; }
static void c_es(struct vm_regs *r) { r->es.limit = 0xFFF; }
static void c_ss(struct vm_regs *r) { r->ss.attr ^= 1 << 6; }
static void c_fs(struct vm_regs *r) { r->fs.base = 0x7000; }
static void c_gs(struct vm_regs *r) { r->gs.sel = 0x2B; }
static void c_tr(struct vm_regs *r) { r->tr.base = 0x3000; }
static void c_ldtr(struct vm_regs *r) { r->ldtr.sel = 0x30; }
static void c_none(struct vm_regs *r) {}
// Changes in the upper halves only: a comparison of the low 32 bits misses them.
static void c_cr3hi(struct vm_regs *r) { r->cr3 ^= _UL(1) << 32; }
static void c_idtrhi(struct vm_regs *r) { r->idtr.base ^= _UL(1) << 40; }
static void c_sshi(struct vm_regs *r) { r->ss.base ^= _UL(1) << 33; }

static const struct regcase regcases[] = {
    {"rax", c_rax, -1},         {"r15", c_r15, -1},       {"rip", c_rip, -1},
    {"rsp", c_rsp, -1},         {"rflags", c_rflags, -1}, {"cr0", c_cr0, VMCB_CLEAN_CR},
    {"cr3", c_cr3, VMCB_CLEAN_CR}, {"cr4", c_cr4, VMCB_CLEAN_CR}, {"efer", c_efer, VMCB_CLEAN_CR},
    {"cr2", c_cr2, VMCB_CLEAN_CR2}, {"gdtr", c_gdtr, VMCB_CLEAN_DT}, {"idtr", c_idtr, VMCB_CLEAN_DT},
    {"cs", c_cs, VMCB_CLEAN_SEG}, {"cs.dpl", c_csdpl, VMCB_CLEAN_SEG}, {"ds", c_ds, VMCB_CLEAN_SEG},
    {"es", c_es, VMCB_CLEAN_SEG}, {"ss", c_ss, VMCB_CLEAN_SEG}, {"fs", c_fs, -1},
    {"gs", c_gs, -1},           {"tr", c_tr, -1},         {"ldtr", c_ldtr, -1},
    {"nothing", c_none, -1},    {"cr3 bit 32", c_cr3hi, VMCB_CLEAN_CR},
    {"idtr.base bit 40", c_idtrhi, VMCB_CLEAN_DT}, {"ss.base bit 33", c_sshi, VMCB_CLEAN_SEG},
};

static void base_regs(struct vm_regs *r)
{
  struct vm_seg code = {0x8, 0x29B, 0xFFFFFFFF, 0}, data = {0x10, 0x293, 0xFFFFFFFF, 0};
  *r = (struct vm_regs){.rip = 0x1000, .rsp = 0x8000, .rflags = 2, .cr0 = 0x80000011, .cr3 = 0x2000,
                        .cr4 = 0x20, .efer = 0x500, .cs = code, .ds = data, .es = data, .ss = data,
                        .fs = data, .gs = data, .gdtr = {0, 0, 0x27, 0x5000}, .idtr = {0, 0, 0xFFF, 0x6000}};
}

// Each change on its own, from a VMCB with every bit clean: the bit of its
// group is cleared ("marked"), no other bit is ("only").
KTEST(vcpu_clean)
{
  struct vcpu *v = vcpu_alloc();
  if (!v) {
    KCHECK(0, "a vcpu allocated");
    return;
  }
  for (uint32 i = 0; i < sizeof regcases / sizeof regcases[0]; i++) {
    const struct regcase *c = &regcases[i];
    struct vm_regs old, now;
    base_regs(&old);
    now = old;
    c->change(&now);
    v->vmcb->control.clean = VMCB_CLEAN_ALL;
    vcpu_regs_dirty(v, &old, &now);
    uint32 clean = v->vmcb->control.clean;
    uint32 want = c->bit < 0 ? VMCB_CLEAN_ALL : VMCB_CLEAN_ALL & ~(1u << c->bit);
    if (c->bit >= 0)
      KCHECK(!(clean & (1u << c->bit)), "%s changed: clean bit %d cleared (clean 0x%x)", c->what, c->bit,
             clean);
    KCHECK(clean == want, "%s changed: no other clean bit cleared (clean 0x%x, expected 0x%x)", c->what,
           clean, want);
  }
  struct vm_regs old, now;
  base_regs(&old);
  now = old;
  c_cr2(&now), c_ss(&now), c_idtr(&now);
  v->vmcb->control.clean = VMCB_CLEAN_ALL;
  vcpu_regs_dirty(v, &old, &now);
  uint32 want = VMCB_CLEAN_ALL & ~(1u << VMCB_CLEAN_CR2 | 1u << VMCB_CLEAN_SEG | 1u << VMCB_CLEAN_DT);
  KCHECK(v->vmcb->control.clean == want, "cr2, ss and idtr changed together: clean 0x%x (expected 0x%x)",
         v->vmcb->control.clean, want);
  v->vmcb->control.clean = 1u << VMCB_CLEAN_NPT;
  vcpu_regs_dirty(v, &old, &old);
  KCHECK(v->vmcb->control.clean == 1u << VMCB_CLEAN_NPT,
         "nothing changed: bits already dirty stay dirty, clean ones clean (clean 0x%x, expected 0x%x)",
         v->vmcb->control.clean, 1u << VMCB_CLEAN_NPT);
  vcpu_free(v);
}

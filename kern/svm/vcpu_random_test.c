// Lab 3 (vcpu): random schedules of vcpus moving between CPUs, checked
// against a model of what the hardware needs, not against our bookkeeping.
//
//   ktest=vcpu_random seed=N [steps=N]
//
// Each step picks a random vcpu and a random CPU and, on that CPU through
// smp_call with interrupts off (as run.c does): vcpu_load, then usually a
// pretend VMRUN, then vcpu_put. Other steps: a load that is put without a
// VMRUN (run.c does that when a kick or a HLT comes first), vcpu_flush_tlb,
// a vcpu freed and a new one allocated, a load refused while the vcpu is
// loaded on another CPU. Schedules are long enough to run every CPU's ASIDs
// out several times. The first half runs as this CPU is (no FlushByAsid on
// QEMU), the second pretends CPUID offers FlushByAsid.
//
// The model is the TLB and VMCB cache of each CPU (APM Vol. 2 §15.15, §15.16):
//   - a pretend VMRUN applies the VMCB's TLB_CONTROL (1 flushes the CPU's
//     whole TLB, 3 the VMCB's ASID if CPUID has FlushByAsid; 7 keeps global
//     entries, so it cleans nothing for sure), then the guest's entries fill
//     its ASID's slot;
//   - at that VMRUN the ASID's slot on that CPU must hold nothing, or entries
//     of this very vcpu made since its last vcpu_flush_tlb: otherwise a guest
//     would see another guest's (or its own stale) translations;
//   - the ASID is a guest ASID: 1 .. CPUID 8000_000Ah EBX - 1;
//   - a VMCB whose last VMRUN was on another CPU (or that never ran) has no
//     clean bit set; one whose ASID changed since its last VMRUN has the ASID
//     clean bit clear;
//   - after vcpu_load the CPU's current VMCB is the vcpu's; after vcpu_free no
//     CPU names that VMCB; a vcpu loaded on one CPU is refused on another.
// How ASIDs are handed out, when generations roll over and which flush is
// asked for are free as long as these hold.
// A mismatch prints the seed, the step, the action and the values seen.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"
#include "../lib/fmt.h"

#define NV 20         // vcpus alive at once: more than QEMU's 15 ASIDs
#define MAXASID 256   // CPUID 8000_000Ah EBX is at most this in the model

// ---- the model ----------------------------------------------------------------
struct tlbslot {
  uint64 owner;   // serial of the vcpu whose entries are there, 0 = none
  uint64 epoch;   // that vcpu's flush count when they were made
};

struct mvcpu {
  struct vcpu *v;
  uint64 serial;      // never reused, unlike the pointer
  uint64 flushes;     // vcpu_flush_tlb calls so far
  int ran_cpu;        // CPU of its last pretend VMRUN, -1 never
  uint32 ran_asid;    // ASID of that VMRUN
};

static struct tlbslot tlb[NCPU][MAXASID];
static struct mvcpu mv[NV];
static uint64 next_serial = 1;
static int ncpus_used;

struct tally {
  uint64 seed, steps, bad, runs, moves, frees, flushes, busy;
  const char *phase;
};

static struct tally t;

static void mismatch(uint64 step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(uint64 step, const char *fmt, ...)
{
  t.bad++;
  if (t.bad > 8)
    return;
  char buf[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("mismatch: seed %lu step %lu (%s): %s\n", t.seed, step, t.phase, buf);
}

static void fresh(struct mvcpu *m)
{
  m->v = vcpu_alloc();
  m->serial = next_serial++;
  m->flushes = 0;
  m->ran_cpu = -1;
  m->ran_asid = 0;
  if (m->v) {
    // As sysvm.c leaves a new VMCB once it ran: ASID 1, nothing pending,
    // every group marked cached (the harsh case for vcpu_load).
    m->v->vmcb->control.asid = 1;
    m->v->vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;
    m->v->vmcb->control.clean = VMCB_CLEAN_ALL;
  }
}

// ---- one step on its CPU ----------------------------------------------------------
struct stepreq {
  struct mvcpu *m;
  int cpu, run, r;
  uint64 step;
};

// What VMRUN would do with m's VMCB on cpu, as the model sees it.
static void pretend_vmrun(struct stepreq *q)
{
  struct mvcpu *m = q->m;
  struct vmcb_control *c = &m->v->vmcb->control;
  uint32 asid = c->asid;
  int cpu = q->cpu;
  if (asid == 0 || asid >= svm_features.nasids || asid >= MAXASID) {
    mismatch(q->step, "vcpu #%lu runs on cpu%d with ASID %u: not a guest ASID (1..%u)", m->serial, cpu, asid,
             svm_features.nasids - 1);
    return;
  }
  if (m->ran_cpu != cpu && (c->clean & VMCB_CLEAN_ALL))
    mismatch(q->step, "vcpu #%lu runs on cpu%d, last ran on cpu%d: clean bits 0x%x (its state is not cached here)",
             m->serial, cpu, m->ran_cpu, c->clean);
  else if (m->ran_cpu == cpu && asid != m->ran_asid && (c->clean & (1u << VMCB_CLEAN_ASID)))
    mismatch(q->step, "vcpu #%lu on cpu%d: ASID %u -> %u with the ASID clean bit set (clean 0x%x)", m->serial, cpu,
             m->ran_asid, asid, c->clean);
  // 3 and 7 exist only with FlushByAsid (CPUID 8000_000Ah EDX bit 6); QEMU
  // 7.2, without it, flushes nothing for them.
  if (c->tlb_control == TLB_CONTROL_FLUSH_ALL)
    memset(tlb[cpu], 0, sizeof tlb[cpu]);
  else if (c->tlb_control == TLB_CONTROL_FLUSH_ASID && svm_has(SVM_FEAT_FLUSHASID))
    tlb[cpu][asid].owner = 0;
  struct tlbslot *s = &tlb[cpu][asid];
  if (s->owner && (s->owner != m->serial || s->epoch != m->flushes))
    mismatch(q->step, "vcpu #%lu runs on cpu%d with ASID %u, tlb_control %u: the TLB still holds entries of vcpu #%lu%s "
             "for that ASID", m->serial, cpu, asid, c->tlb_control, s->owner,
             s->owner == m->serial ? " made before its vcpu_flush_tlb" : "");
  s->owner = m->serial;
  s->epoch = m->flushes;
  m->ran_cpu = cpu;
  m->ran_asid = asid;
  // What run.c does after the exit.
  c->tlb_control = TLB_CONTROL_DO_NOTHING;
  c->clean = VMCB_CLEAN_ALL;
  t.runs++;
}

static void step_here(void *arg)
{
  struct stepreq *q = arg;
  pushcli();
  q->r = vcpu_load(q->m->v, q->cpu);
  if (q->r == 0) {
    if (svm_data[q->cpu].current_vmcb != q->m->v->vmcb)
      mismatch(q->step, "vcpu #%lu loaded on cpu%d, which names VMCB %p as its current one (the vcpu's is %p)",
               q->m->serial, q->cpu, svm_data[q->cpu].current_vmcb, q->m->v->vmcb);
    if (q->run)
      pretend_vmrun(q);
    vcpu_put(q->m->v);
  }
  popcli();
}

struct busyreq {
  struct vcpu *v;
  int cpu, r;
};

static void load_keep(void *arg)
{
  struct busyreq *q = arg;
  pushcli();
  q->r = vcpu_load(q->v, q->cpu);
  popcli();
}

static void put_here(void *arg)
{
  pushcli();
  vcpu_put(arg);
  popcli();
}

// A vcpu loaded on one CPU cannot be loaded on another before vcpu_put.
static void step_busy(struct mvcpu *m, uint64 step)
{
  int a = ktest_below(ncpus_used), b = (a + 1 + ktest_below(ncpus_used - 1)) % ncpus_used;
  struct busyreq q1 = {m->v, a, -1}, q2 = {m->v, b, -1};
  smp_call(a, load_keep, &q1);
  if (q1.r != 0) {
    mismatch(step, "vcpu #%lu: vcpu_load on cpu%d = %d (want 0)", m->serial, a, q1.r);
    return;
  }
  smp_call(b, load_keep, &q2);
  if (q2.r != -EBUSY)
    mismatch(step, "vcpu #%lu loaded on cpu%d: vcpu_load on cpu%d = %d (want %d)", m->serial, a, b, q2.r, -EBUSY);
  if (q2.r == 0)
    smp_call(b, put_here, m->v);
  smp_call(a, put_here, m->v);
  t.busy++;
}

static void step_free(struct mvcpu *m, uint64 step)
{
  struct vmcb *old = m->v->vmcb;
  vcpu_free(m->v);
  for (int i = 0; i < ncpus_used; i++)
    if (svm_data[i].current_vmcb == old)
      mismatch(step, "vcpu #%lu freed: cpu%d still names its VMCB %p as current", m->serial, i, old);
  fresh(m);
  t.frees++;
}

static void one_step(uint64 step)
{
  struct mvcpu *m = &mv[ktest_below(NV)];
  if (!m->v) {
    fresh(m);
    if (!m->v) {
      mismatch(step, "vcpu_alloc failed");
      return;
    }
  }
  uint64 k = ktest_below(100);
  if (k < 4) {
    step_free(m, step);
    return;
  }
  if (k < 10) {
    vcpu_flush_tlb(m->v);
    m->flushes++;
    t.flushes++;
  } else if (k < 13) {
    step_busy(m, step);
    return;
  }
  // Mostly back to the CPU it last ran on (ASIDs kept, generations run
  // out there), often elsewhere (a move).
  int cpu = m->ran_cpu >= 0 && ktest_below(2) ? m->ran_cpu : (int)ktest_below(ncpus_used);
  struct stepreq q = {m, cpu, k >= 20, -1, step};
  if (m->ran_cpu >= 0 && q.cpu != m->ran_cpu)
    t.moves++;
  smp_call(q.cpu, step_here, &q);
  if (q.r != 0)
    mismatch(step, "vcpu #%lu: vcpu_load on cpu%d = %d (want 0)", m->serial, q.cpu, q.r);
}

static void phase(const char *name, uint64 steps, uint64 first)
{
  t.phase = name;
  for (uint64 s = 0; s < steps; s++)
    one_step(first + s);
  for (int i = 0; i < NV; i++)
    if (mv[i].v) {
      vcpu_free(mv[i].v);
      mv[i].v = NULL;
    }
}

KTEST(vcpu_random)
{
  t.seed = ktest_num("seed", 1);
  uint64 steps = ktest_num("steps", 4000);
  ktest_seed(t.seed);
  ncpus_used = ncpu < NCPU ? ncpu : NCPU;
  printf("vcpu_random: seed %lu, %lu steps on %d cpus, %u ASIDs\n", t.seed, steps, ncpus_used,
         svm_features.nasids);
  if (!svm_available() || ncpus_used < 2) {
    KCHECK(0, "SVM usable on at least 2 cpus (%d cpus; %s)", ncpus_used,
           svm_available() ? "ok" : svm_unavailable_reason());
    return;
  }
  uint64 base = kfreecount();
  phase("this CPU's features", steps / 2, 0);
  uint32 saved = svm_features.edx;
  svm_features.edx |= SVM_FEAT_FLUSHASID;
  phase("FlushByAsid pretended", steps - steps / 2, steps / 2);
  svm_features.edx = saved;
  printf("vcpu_random: %lu pretend VMRUNs, %lu moves between cpus, %lu vcpu_flush_tlb, %lu frees, %lu busy loads\n",
         t.runs, t.moves, t.flushes, t.frees, t.busy);
  KCHECK(t.bad == 0, "random schedules: %lu steps, %lu where a guest could see stale TLB entries or VMCB state "
         "(seed %lu)", steps, t.bad, t.seed);
  KCHECK(kfreecount() == base, "free pages %lu -> %lu (expected equal: every vcpu freed)", base, kfreecount());
}

// Lab 3 (vcpu): a vcpu's life on the physical CPUs.
//
// Following KVM (svm_vcpu_load, pre_svm_run, new_asid):
//   - vcpu_load(v, cpu) makes v's VMCB the CPU's current one
//     (svm_data[cpu].current_vmcb). If v last ran on another CPU, the VMCB
//     clean bits are all cleared: the new CPU has cached nothing of this VMCB
//     (APM Vol. 2 §15.15.3 "VMCB Clean Field"), and v needs an ASID of the new
//     CPU, since ASIDs are per-CPU names for TLB contents (§15.16 "TLB Control").
//   - ASIDs min_asid..max_asid of a CPU are handed out in order. When they run
//     out, the CPU starts a new generation: every vcpu holding an ASID of an
//     older generation gets a fresh one at its next load. An ASID handed out
//     again may still tag the old owner's TLB entries, so the vcpu's first run
//     with it asks for a flush through TLB_CONTROL (flush-by-ASID when CPUID
//     8000_000Ah EDX bit 6 says it exists, else the whole TLB; QEMU has only
//     16 ASIDs and no flush-by-ASID).
//   - vcpu_put(v): v's state is no longer loaded on any CPU.
// Callers keep interrupts off between vcpu_load and VMRUN (run.c), so the
// vcpu cannot move in between.
#include "defs.h"
#include "cpu.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

// A zeroed vcpu with its own VMCB (vmcb01, made current by vmcb_create),
// never loaded anywhere. NULL when out of memory.
struct vcpu *vcpu_alloc(void)
{
  _Static_assert(sizeof(struct vcpu) <= PGSIZE, "a vcpu fits in a page");
  struct vcpu *v = kalloc();
  if (!v)
    return NULL;
  if (vmcb_create(v) < 0) {
    kfree(v);
    return NULL;
  }
  v->vmcb01.cpu = -1;
  v->vmcb01.asid_generation = 0;
  v->cpu = -1;
  v->last_cpu = -1;
  return v;
}

// Frees v and its VMCB. No CPU may keep a pointer to the VMCB afterwards.
void vcpu_free(struct vcpu *v)
{
  for (int i = 0; i < ncpu; i++)
    __atomic_compare_exchange_n(&svm_data[i].current_vmcb, &(struct vmcb *){v->vmcb}, NULL, 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  vmcb_destroy(v);
  kfree(v);
}

// First use of a CPU's ASIDs: 1..nasids-1 (ASID 0 is the host's), generation 1.
static void asid_init(struct svm_cpu_data *sd)
{
  if (sd->max_asid)
    return;
  sd->min_asid = 1;
  sd->max_asid = svm_features.nasids - 1;
  sd->next_asid = sd->min_asid;
  sd->asid_generation = 1;
}

// Gives v the next ASID of sd's CPU, starting a new generation when they are
// used up (KVM new_asid). The caller is on that CPU with IF=0.
void vcpu_new_asid(struct vcpu *v, struct svm_cpu_data *sd)
{
  // LAB 3 BEGIN
  asid_init(sd);
  if (sd->next_asid > sd->max_asid) {
    sd->asid_generation++;
    sd->next_asid = sd->min_asid;
  }
  v->current_vmcb->asid_generation = sd->asid_generation;
  v->asid = sd->next_asid++;
  v->vmcb->control.asid = v->asid;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);
  // In generation 1 every ASID is used for the first time; later ones were
  // someone else's, whose TLB entries may still be around.
  if (sd->asid_generation > 1)
    v->vmcb->control.tlb_control =
        svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;
  // LAB 3 STUB
  // // LAB 3: give v this CPU's next ASID; when they run out, start a new generation (whose ASIDs
  // //   need a TLB flush).
  // lab_missing(3, "vcpu_new_asid");
  // LAB 3 END
}

// Loads v on cpu (this CPU, interrupts off): v's VMCB becomes the CPU's
// current one, with all clean bits cleared and a fresh ASID if v last ran on
// another CPU. Returns 0, or -ENOSYS while the lab is not done.
int vcpu_load(struct vcpu *v, int cpu)
{
  struct svm_cpu_data *sd = &svm_data[cpu];
  asid_init(sd);
  // LAB 3 BEGIN
  if (v->current_vmcb->cpu != cpu) {
    if (v->current_vmcb->cpu >= 0)
      v->moves++;
    v->current_vmcb->asid_generation = 0;   // its ASID belongs to the old CPU
    vmcb_mark_all_dirty(v->vmcb);
    v->current_vmcb->cpu = cpu;
  }
  if (v->current_vmcb->asid_generation != sd->asid_generation)
    vcpu_new_asid(v, sd);
  sd->current_vmcb = v->vmcb;
  v->cpu = cpu;
  return 0;
  // LAB 3 STUB
  // // LAB 3: make v's VMCB this CPU's current one, every clean bit cleared, a new ASID if v
  // //   comes from another CPU; 0.
  // (void)v, (void)sd;
  // return lab_missing(3, "vcpu_load");
  // LAB 3 END
}

// v's guest state is no longer loaded on its CPU (KVM svm_vcpu_put). The CPU
// keeps current_vmcb: KVM too leaves it, and it only ever names a live VMCB
// (vcpu_free clears it).
void vcpu_put(struct vcpu *v)
{
  // LAB 3 BEGIN
  v->cpu = -1;
  v->guest_state_loaded = 0;
  // LAB 3 STUB
  // // LAB 3: v's guest state is no longer loaded on its CPU.
  // lab_missing(3, "vcpu_put");
  // LAB 3 END
}

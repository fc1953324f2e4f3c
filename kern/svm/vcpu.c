// Lab 3 (vcpu): a vcpu's life on the physical CPUs, as KVM's svm_vcpu_load,
// svm_vcpu_put, pre_svm_run and new_asid manage it.
//
// Part A, ASIDs (APM Vol. 2 §15.16 "TLB Control"): a TLB entry made while a
// guest runs is tagged with the guest's ASID, and no world switch flushes the
// TLB. So two vcpus that run on one CPU need different ASIDs, and an ASID
// handed out a second time must be flushed before its new owner runs. A CPU
// hands out its ASIDs in order; when they run out it starts a new generation
// and every vcpu holding an ASID of an older one takes a fresh ASID at its
// next load.
// Part B, loading: the CPU that will run VMRUN records the VMCB as its current
// one. A VMCB that last ran on another CPU (or never ran) is all dirty for
// this CPU (§15.15 "VMCB State Caching") and its ASID means nothing here.
// Part C, clean bits (§15.15.3 "VMCB Clean Field"): each write to a cached
// group of VMCB fields clears that group's bit, and only that one.
// Callers keep interrupts off between vcpu_load and VMRUN (run.c), so the
// vcpu cannot move in between.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"

// A zeroed vcpu with its own VMCB (vmcb01, made current by vmcb_create),
// never loaded anywhere. NULL when out of memory.
struct vcpu *vcpu_alloc(void)
{
  _Static_assert(sizeof(struct vcpu) <= PGSIZE, "a vcpu fits in a page");
  // LAB 3 BEGIN
  struct vcpu *v = kalloc();
  if (!v)
    return NULL;
  if (vmcb_create(v) < 0) {
    kfree(v);
    return NULL;
  }
  v->last_cpu = -1;
  // Never ran anywhere (any CPU is a new one), holds no ASID of any
  // generation, is loaded nowhere.
  v->vmcb01.cpu = -1;
  v->vmcb01.asid_generation = 0;
  v->cpu = -1;
  v->moves = 0;
  return v;
  // LAB 3 STUB
  // // LAB 3: a zeroed vcpu in a page of its own with its own VMCB (vmcb_create), in the state
  // // of a vcpu that never ran: no CPU, no ASID, not loaded. NULL when out of memory, and
  // // then nothing is left allocated.
  // lab_missing(3, "vcpu_alloc");
  // return NULL;
  // LAB 3 END
}

// ---- Part A: ASIDs ----------------------------------------------------------

// Sets up sd's ASID range on its first use and does nothing afterwards.
void svm_asid_init(struct svm_cpu_data *sd)
{
  // LAB 3 BEGIN
  if (sd->asid_generation)
    return;
  // ASID 0 is the host's (§15.5.1): guests get 1 .. CPUID 8000_000Ah EBX - 1.
  sd->min_asid = 1;
  sd->max_asid = svm_features.nasids - 1;
  sd->next_asid = sd->min_asid;
  sd->asid_generation = 1;
  // LAB 3 STUB
  // // LAB 3: first use of this CPU's ASIDs: the range guests may use (the host
  // // has 0), the first to hand out, generation 1. Later calls change nothing.
  // lab_missing(3, "svm_asid_init");
  // LAB 3 END
}

// Gives v the next ASID of sd's CPU, starting a new generation when they are
// used up (KVM new_asid). The caller is on that CPU with IF=0.
void vcpu_new_asid(struct vcpu *v, struct svm_cpu_data *sd)
{
  // LAB 3 BEGIN
  svm_asid_init(sd);
  if (sd->next_asid > sd->max_asid) {
    sd->asid_generation++;
    sd->next_asid = sd->min_asid;
  }
  v->current_vmcb->asid_generation = sd->asid_generation;
  v->asid = sd->next_asid++;
  if (v->vmcb->control.asid != v->asid) {
    v->vmcb->control.asid = v->asid;
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_ASID);
  }
  // In generation 1 every ASID is used for the first time; later ones were
  // someone else's, whose TLB entries may still be around. Flush just this
  // ASID when CPUID says the CPU can (§15.16.1 "TLB Flush"), else all.
  if (sd->asid_generation > 1)
    v->vmcb->control.tlb_control =
        svm_has(SVM_FEAT_FLUSHASID) ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;
  // LAB 3 STUB
  // // LAB 3: give v the next ASID of sd's CPU (a new generation when they are
  // // used up), in v and in its VMCB; an ASID used before must be flushed.
  // (void)v, (void)sd;
  // lab_missing(3, "vcpu_new_asid");
  // LAB 3 END
}

// Drops the TLB entries v's guest made (its nested page table lost entries)
// before v runs again (KVM svm_flush_tlb_asid).
void vcpu_flush_tlb(struct vcpu *v)
{
  // LAB 3 BEGIN
  if (svm_has(SVM_FEAT_FLUSHASID)) {
    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ASID;
    return;
  }
  // Flushing every ASID would cost every guest on the CPU its TLB: take a
  // fresh ASID at the next load instead, which has no entries yet (or is
  // flushed when a later generation hands it out).
  v->current_vmcb->asid_generation = 0;
  // LAB 3 STUB
  // // LAB 3: v's TLB entries must not survive to its next run, and the other guests on the
  // // CPU should keep theirs where the CPU allows it (§15.16).
  // v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;
  // lab_missing(3, "vcpu_flush_tlb");
  // LAB 3 END
}

// ---- Part B: loading --------------------------------------------------------

// Loads v on cpu (this CPU, interrupts off): v's VMCB becomes the CPU's
// current one, all dirty with a fresh ASID if v last ran on another CPU, and
// a fresh ASID if its generation is over. Returns 0, -EINVAL with interrupts
// on or for a cpu that is not this one, -EBUSY if v is loaded on another CPU.
int vcpu_load(struct vcpu *v, int cpu)
{
  // LAB 3 BEGIN
  // With interrupts on, the caller could be moved to another CPU between
  // here and VMRUN, and would run with the wrong CPU's ASID.
  if ((rflags() & FL_IF) || cpu != cpuid_self())
    return -EINVAL;
  if (v->cpu >= 0 && v->cpu != cpu)
    return -EBUSY;
  struct svm_cpu_data *sd = &svm_data[cpu];
  svm_asid_init(sd);
  struct vmcb_info *info = v->current_vmcb;
  if (info->cpu != cpu) {
    if (info->cpu >= 0)
      v->moves++;
    info->asid_generation = 0;   // its ASID belongs to the old CPU
    vmcb_mark_all_dirty(v->vmcb);
    info->cpu = cpu;
  }
  if (info->asid_generation != sd->asid_generation)
    vcpu_new_asid(v, sd);
  sd->current_vmcb = v->vmcb;
  v->cpu = cpu;
  return 0;
  // LAB 3 STUB
  // // LAB 3: make v's VMCB this CPU's current one; a VMCB new to this CPU is
  // // all dirty and needs an ASID of this CPU; an ASID of an old generation too.
  // (void)v, (void)cpu;
  // return lab_missing(3, "vcpu_load");
  // LAB 3 END
}

// v's guest state is no longer loaded on its CPU (KVM svm_vcpu_put). The CPU
// keeps current_vmcb: KVM too leaves it, and it only ever names a live VMCB
// (vcpu_free clears it). Returns 0, or -EINVAL (nothing changed) when v is not
// loaded on this CPU.
int vcpu_put(struct vcpu *v)
{
  // LAB 3 BEGIN
  // Only the CPU v is loaded on may put it: from anywhere else v could be
  // between vcpu_load and VMRUN right now.
  if (v->cpu < 0 || v->cpu != cpuid_self())
    return -EINVAL;
  v->cpu = -1;
  v->guest_state_loaded = 0;
  return 0;
  // LAB 3 STUB
  // // LAB 3: v, loaded on this CPU, is loaded nowhere now, and its guest state
  // // is not loaded; a vcpu not loaded here is refused.
  // (void)v;
  // return lab_missing(3, "vcpu_put");
  // LAB 3 END
}

// No CPU may name vmcb as its current VMCB any more (KVM
// svm_clear_current_vmcb): the page is about to be freed, and a later VMCB
// allocated at the same address must not pass for one the CPU has seen.
static void svm_clear_current_vmcb(struct vmcb *vmcb)
{
  // LAB 3 BEGIN
  // Another CPU may be loading its own vcpu meanwhile: only replace our VMCB.
  for (int i = 0; i < ncpu; i++)
    __atomic_compare_exchange_n(&svm_data[i].current_vmcb, &(struct vmcb *){vmcb}, NULL, 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  // LAB 3 STUB
  // // LAB 3: every CPU whose current VMCB is vmcb forgets it; leave the
  // // others alone (another CPU may be loading its own vcpu right now).
  // (void)vmcb;
  // lab_missing(3, "svm_clear_current_vmcb");
  // LAB 3 END
}

// Frees v and its VMCB. v must not be loaded.
void vcpu_free(struct vcpu *v)
{
  svm_guest_fpu_forget(v);   // fpu.c: its x87/SSE state may still be on this CPU
  nested_free(v);            // nested.c (lab 9): vmcb02 and the rest; vmcb01 current again
  svm_cpuid_free(v);         // cpuid_table.c
  // LAB 3 BEGIN
  svm_clear_current_vmcb(v->vmcb);
  vmcb_destroy(v);
  kfree(v);
  // LAB 3 STUB
  // // LAB 3: give back v's VMCB and v's page, once no CPU names that VMCB as its current one.
  // (void)v, (void)svm_clear_current_vmcb;
  // lab_missing(3, "vcpu_free");
  // LAB 3 END
}

// ---- Part C: clean bits -----------------------------------------------------

// LAB 3 BEGIN
static int seg_changed(const struct vm_seg *a, const struct vm_seg *b)
{
  return a->sel != b->sel || a->attr != b->attr || a->limit != b->limit || a->base != b->base;
}

// LAB 3 END
// The registers of v changed from old to now (vcpu_setregs wrote them into
// the VMCB): clears the clean bit of every group that changed, and only those.
void vcpu_regs_dirty(struct vcpu *v, const struct vm_regs *old, const struct vm_regs *now)
{
  // LAB 3 BEGIN
  struct vmcb *vmcb = v->vmcb;
  // GPRs, RIP, RFLAGS, RSP, RAX have no clean bit: VMRUN always loads them.
  // FS, GS, TR, LDTR are VMLOAD's, not VMRUN's: no clean bit either.
  if (old->cr0 != now->cr0 || old->cr3 != now->cr3 || old->cr4 != now->cr4 ||
      old->efer != now->efer)
    vmcb_mark_dirty(vmcb, VMCB_CLEAN_CR);
  if (old->cr2 != now->cr2)
    vmcb_mark_dirty(vmcb, VMCB_CLEAN_CR2);
  if (seg_changed(&old->gdtr, &now->gdtr) || seg_changed(&old->idtr, &now->idtr))
    vmcb_mark_dirty(vmcb, VMCB_CLEAN_DT);
  // CPL follows CS's DPL, and is in the SEG group too.
  if (seg_changed(&old->cs, &now->cs) || seg_changed(&old->ds, &now->ds) ||
      seg_changed(&old->es, &now->es) || seg_changed(&old->ss, &now->ss))
    vmcb_mark_dirty(vmcb, VMCB_CLEAN_SEG);
  // LAB 3 STUB
  // // LAB 3: clear the clean bit of each VMCB field group whose registers
  // // differ between old and now, and no other bit.
  // (void)old, (void)now;
  // lab_missing(3, "vcpu_regs_dirty");
  // vmcb_mark_all_dirty(v->vmcb);
  // LAB 3 END
}

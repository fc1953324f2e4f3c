// Lab 2 (vmcb): create and initialise a vcpu's VMCB, as KVM's
// svm_create_vcpu and init_vmcb do.
//
// The VMCB (APM Vol. 2 §15.5 "VMRUN", Appendix B) is one 4 KiB page: the
// control area (0x000-0x3FF) says what the guest may do without us
// (intercepts), which ASID tags its TLB entries, where the I/O and MSR
// permission maps are and whether nested paging is on; the save area
// (0x400-) holds the guest's registers, loaded by VMRUN and stored by #VMEXIT.
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

// Points the vcpu at target: the VMCB every later stage reads and writes
// (KVM: svm->current_vmcb = target; svm->vmcb = target->ptr).
void svm_switch_vmcb(struct vcpu *v, struct vmcb_info *target)
{
  // LAB 2 BEGIN
  v->current_vmcb = target;
  v->vmcb = target->ptr;
  // LAB 2 STUB
  // // LAB 2: make target the vcpu's current VMCB (both the vmcb_info and the page pointer).
  // lab_missing(2, "svm_switch_vmcb");
  // LAB 2 END
}

// Allocates vmcb01 (a zeroed page), switches the vcpu to it; the guest state
// is not loaded yet. Returns 0 or -ENOMEM (nothing allocated then).
int vmcb_create(struct vcpu *v)
{
  // LAB 2 BEGIN
  struct vmcb *page = kalloc();
  if (!page)
    return -ENOMEM;
  v->vmcb01.ptr = page;
  v->vmcb01.pa = V2P(page);
  v->vmcb01.cpu = -1;              // never ran: lab 3's vcpu_load sees a new CPU
  v->vmcb01.asid_generation = 0;   // no ASID yet
  svm_switch_vmcb(v, &v->vmcb01);
  v->guest_state_loaded = 0;
  return 0;
  // LAB 2 STUB
  // // LAB 2: allocate vmcb01 (page and physical address; never ran on a CPU, no ASID
  // // generation), make it current, guest state not loaded; -ENOMEM keeps nothing.
  // return lab_missing(2, "vmcb_create");
  // LAB 2 END
}

void vmcb_destroy(struct vcpu *v)
{
  if (v->vmcb01.ptr)
    kfree(v->vmcb01.ptr);
  v->vmcb01.ptr = NULL;
  v->vmcb01.pa = 0;
  v->current_vmcb = NULL;
  v->vmcb = NULL;
}

// LAB 2 BEGIN
// The intercepts the kernel always needs, whatever the user-space VMM asks
// for (NOVA's rule: force what the kernel needs, add what the VMM wants):
// - INTR, NMI, SMI: the host's interrupts must reach the host.
// - VMRUN (VMRUN fails without it, §15.5.1) and the other SVM instructions:
//   the guest must not run its own guests or touch GIF/host state.
// - SHUTDOWN: a triple-faulting guest must not reset the machine.
// - HLT, CPUID, VMMCALL, IOIO_PROT, MSR_PROT: what the VMM emulates.
// - INVD, INVLPGA, MONITOR/MWAIT: harmful or host-visible instructions.
// Adds (ORs) them to c's intercept words; svm_force_intercepts calls it too.
void vmcb_required_intercepts(struct vmcb_control *c)
{
  c->intercepts[INTERCEPT_WORD_EXC] |= INTERCEPT_EXC(18);   // #MC belongs to the host
  c->intercepts[INTERCEPT_WORD_MISC1] |=
      INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SMI | INTERCEPT_CPUID | INTERCEPT_INVD |
      INTERCEPT_HLT | INTERCEPT_INVLPGA | INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT |
      INTERCEPT_SHUTDOWN;
  c->intercepts[INTERCEPT_WORD_MISC2] |=
      INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD | INTERCEPT_VMSAVE |
      INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT | INTERCEPT_MONITOR |
      INTERCEPT_MWAIT | INTERCEPT_MWAIT_COND;
}
// LAB 2 STUB
// // LAB 2: vmcb_required_intercepts(c) ORs into c->intercepts every intercept the kernel
// // needs whatever the VMM wants (host events, SVM instructions, what the VMM emulates,
// // harmful or host-visible instructions, #MC).
// void vmcb_required_intercepts(struct vmcb_control *c) { lab_missing(2, "vmcb_required_intercepts"); }
// LAB 2 END

// Fills the control area for a new guest: intercepts, permission maps, ASID,
// virtual interrupt masking, nested paging. Every clean bit is cleared.
void vmcb_init_control(struct vmcb *vmcb, const struct vmcb_setup *s, const struct vmcb_perm *p)
{
  struct vmcb_control *c = &vmcb->control;
  memset(c, 0, sizeof *c);
  // LAB 2 BEGIN
  vmcb_required_intercepts(c);
  c->iopm_base_pa = V2P(p->iopm);
  c->msrpm_base_pa = V2P(p->msrpm);
  c->asid = s->asid;                      // 0 is the host's: VMRUN refuses it
  c->tlb_control = TLB_CONTROL_FLUSH_ALL; // new ASID: drop stale translations
  // V_INTR_MASKING: the guest's IF masks only virtual interrupts; physical
  // ones stay governed by the host's IF and exit (§15.21.1).
  c->int_ctl = V_INTR_MASKING;
  c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
  c->ncr3 = s->ncr3;
  // LAB 2 STUB
  // // LAB 2: the kernel's intercepts, both permission maps, ASID s->asid, a full TLB flush for
  // // the new VMCB, virtual interrupt masking, nested paging with nCR3 = s->ncr3.
  // lab_missing(2, "vmcb_init_control");
  // LAB 2 END
  vmcb_mark_all_dirty(vmcb);
}

// LAB 2 BEGIN
// A code or data segment's hidden state. attrib as in struct vmcb_seg.
static void set_seg(struct vmcb_seg *seg, uint16 sel, uint16 attrib, uint32 limit, uint64 base)
{
  seg->selector = sel;
  seg->attrib = attrib;
  seg->limit = limit;
  seg->base = base;
}

#define CODE_ATTR (SEG_ATTR_TYPE(0xB) | SEG_ATTR_S | SEG_ATTR_P)   // execute/read, accessed
#define DATA_ATTR (SEG_ATTR_TYPE(0x3) | SEG_ATTR_S | SEG_ATTR_P)   // read/write, accessed

// Real mode (§14.1.5 "Real Mode"): CS.base = entry & ~0xFFFF, IP = the low 16
// bits, 64 KiB limits; CR0 as after RESET (CD, NW, ET), no paging.
static void save_real(struct vmcb_save *v, const struct vmcb_setup *s)
{
  uint64 base = s->rip & ~_UL(0xFFFF);
  set_seg(&v->cs, (base >> 4) & 0xFFFF, CODE_ATTR, 0xFFFF, base);
  struct vmcb_seg data = {0, DATA_ATTR, 0xFFFF, 0};
  v->ds = v->es = v->ss = v->fs = v->gs = data;
  v->rip = s->rip & 0xFFFF;
  v->cr0 = CR0_CD | CR0_NW | CR0_ET;
}

// 32-bit protected mode, flat 4 GiB segments (selectors 0x08/0x10 as a
// guest GDT would have them), no paging.
static void save_prot32(struct vmcb_save *v, const struct vmcb_setup *s)
{
  set_seg(&v->cs, 0x08, CODE_ATTR | SEG_ATTR_DB | SEG_ATTR_G, 0xFFFFFFFF, 0);
  struct vmcb_seg data = {0x10, DATA_ATTR | SEG_ATTR_DB | SEG_ATTR_G, 0xFFFFFFFF, 0};
  v->ds = v->es = v->ss = v->fs = v->gs = data;
  v->rip = s->rip;
  v->cr0 = CR0_PE | CR0_ET | CR0_NE;
}

// 64-bit long mode (§14.6 "Enabling and Activating Long Mode"): EFER.LME and
// LMA, CR0.PG+PE, CR4.PAE, CS.L=1 with CS.D=0; CR3 is the guest-physical
// address of the guest's own PML4.
static void save_long(struct vmcb_save *v, const struct vmcb_setup *s)
{
  set_seg(&v->cs, 0x08, CODE_ATTR | SEG_ATTR_L | SEG_ATTR_G, 0xFFFFFFFF, 0);
  struct vmcb_seg data = {0x10, DATA_ATTR | SEG_ATTR_DB | SEG_ATTR_G, 0xFFFFFFFF, 0};
  v->ds = v->es = v->ss = v->fs = v->gs = data;
  v->rip = s->rip;
  v->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
  v->cr4 = CR4_PAE;
  v->cr3 = s->cr3;
  v->efer |= EFER_LME | EFER_LMA;
}
// LAB 2 STUB
// // LAB 2: helpers for vmcb_init_save, one per guest mode (real, 32-bit protected, 64-bit).
// LAB 2 END

// Fills the save area for the guest's first VMRUN in mode s->mode. The
// state common to every mode is what the CPU has after RESET (APM Vol. 2
// §14.1.3 "Processor Initialization State"), plus EFER.SVME, which VMRUN
// requires in the guest's EFER.
void vmcb_init_save(struct vmcb *vmcb, const struct vmcb_setup *s)
{
  struct vmcb_save *v = &vmcb->save;
  memset(v, 0, sizeof *v);
  // LAB 2 BEGIN
  v->efer = EFER_SVME;
  v->g_pat = 0x0007040600070406UL;       // PAT's reset value (WB, WT, UC-, UC)
  v->rflags = FL_RSVD1;                  // bit 1 is always set; IF=0
  v->dr6 = 0xFFFF0FF0;
  v->dr7 = 0x400;
  v->rsp = s->rsp;
  v->gdtr.limit = v->idtr.limit = 0xFFFF;
  set_seg(&v->ldtr, 0, SEG_ATTR_TYPE(0x2) | SEG_ATTR_P, 0xFFFF, 0);   // LDT
  set_seg(&v->tr, 0, SEG_ATTR_TYPE(0xB) | SEG_ATTR_P, 0xFFFF, 0);     // busy TSS
  if (s->mode == GUEST_REAL)
    save_real(v, s);
  else if (s->mode == GUEST_PROT32)
    save_prot32(v, s);
  else
    save_long(v, s);
  // LAB 2 STUB
  // // LAB 2: the RESET state of every register VMRUN loads (§14.1.3), plus EFER.SVME; then the
  // // segments, RIP, control registers (and long mode's CR3/EFER) of mode s->mode.
  // lab_missing(2, "vmcb_init_save");
  // LAB 2 END
  vmcb_mark_all_dirty(vmcb);
}

// Clean bits (§15.15.3): a set bit promises the CPU that the group of fields
// has not changed since the last VMRUN with this VMCB on this CPU, so it may
// use a cached copy. Any write to a field must clear its group's bit.
// (QEMU ignores them: test the bookkeeping, not the effect.)
void vmcb_mark_all_dirty(struct vmcb *vmcb) { vmcb->control.clean = 0; }
void vmcb_mark_dirty(struct vmcb *vmcb, int bit) { vmcb->control.clean &= ~(1u << bit); }
void vmcb_mark_clean(struct vmcb *vmcb, int bit) { vmcb->control.clean |= 1u << bit; }
int vmcb_is_dirty(struct vmcb *vmcb, int bit) { return !(vmcb->control.clean & (1u << bit)); }

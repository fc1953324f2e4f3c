// Lab 9 (nested): SVM for the guest. The guest (L1) runs its own guests (L2)
// with VMRUN; the kernel (L0) emulates L1's SVM instructions and runs L2 on a
// VMCB of its own, vmcb02, built from L1's vmcb12 and L0's vmcb01 (KVM
// arch/x86/kvm/svm/nested.c). docs/nested.md describes the design.
#pragma once
#include "types.h"
#include "svm/svm.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

// Per-vcpu state of the SVM the guest sees, allocated by the first vcpu_run
// with VM_RUN_NESTED (nested_enable). v->nested is NULL before: the guest
// has no SVM, its SVM instructions raise #UD.
struct nested_svm {
  uint64 hsave_pa;           // MSR VM_HSAVE_PA as L1 wrote it (§15.30.4)
  uint64 vm_cr;              // MSR VM_CR as L1 sees it (§15.30.1)
  int svme;                  // L1's EFER.SVME (vmcb01 always has SVME: VMRUN needs it)
  int gif;                   // L1's global interrupt flag (§15.17): 0 holds its interrupts
  int guest_mode;            // L2 runs: v->current_vmcb == &vmcb02
  int run_pending;           // L1's VMRUN done, L2 not entered yet: no nested exit before
  uint64 vmcb12_gpa;         // L1's VMCB, guest-physical (rAX of its VMRUN)
  struct vmcb *vmcb12;       // the kernel's copy of it, read at VMRUN, written at #VMEXIT
  struct vmcb_info vmcb02;   // the VMCB L2 really runs on
  struct vmcb_perm perm02;   // vmcb02's IOPM and MSRPM: L0's maps merged with L1's
  // The shadow nested page table (nested_npt.c): L2 GPA -> host PA, the
  // composition of L1's table (vmcb12 nCR3) and L0's (the VM's).
  struct npt shadow;
  int shadow_ready;          // shadow holds a root
  int shadow_stale;          // drop it before the next entry (L0 unmapped VM memory)
  uint64 entry_soft;         // a software interrupt vmcb02's EVENTINJ held at entry (nested_exit)
  int db_trap_pending;        // a #DB trap of L2's that L0 made (step.c) and L1 intercepts
  uint32 last_asid12;        // vmcb12 ASID and nCR3 of the previous VMRUN: a change
  uint64 last_ncr3_12;       //   flushes L2's translations
  // counters (vmm -s through the exit record's nested fields)
  uint64 nvmruns;            // L1's VMRUNs that entered L2
  uint64 nreflected;         // L2 exits given to L1
  uint64 nl0;                // L2 exits handled by L0 (L2 resumed)
  uint64 nshadow_faults;     // shadow NPT entries filled
};

// nested.c
int nested_enable(struct vcpu *v);                    // VM_RUN_NESTED: allocate; 0 or -ENOMEM
void nested_free(struct vcpu *v);                     // vcpu_free
void nested_report(struct vcpu *v, struct vm_exit *e);   // the counters into the exit record
int nested_guest_mode(struct vcpu *v);                // 1 while L2 runs
uint32 nested_l1_intercepts(struct vcpu *v, int word);   // vmcb12's word while L2 runs, else 0
int nested_blocks_irq(struct vcpu *v);                // L1's interrupt waits (GIF=0, or L2 runs and it is not L2's)
int nested_blocks_nmi(struct vcpu *v);                // L1's NMI waits (GIF=0, or L1's NMI exit comes)
int nested_interrupt_allowed(struct vcpu *v);         // L2 takes L1's interrupt now; -1: irq.c's rule
int nested_irq_held(struct vcpu *v);                  // only the shadow or EVENTINJ holds it: exit after entry
int nested_halt(struct vcpu *v, struct vm_exit *e);   // L2's HLT: 1 if it sleeps (halt.c)
int nested_has_events(struct vcpu *v);                // halted L2 wakes; -1: halt.c's rule
struct vmcb *nested_tpr_vmcb(struct vcpu *v);         // the VMCB whose V_TPR is L1's TPR
int nested_cr8_write(struct vcpu *v, uint64 val);     // L2's MOV CR8: L1's old TPR if it is L1's, else -1
int nested_svm_insn(struct vcpu *v, struct vm_exit *e);   // L1's SVM instruction intercepted
int nested_msr(struct vcpu *v, uint32 msr, int write, struct vm_exit *e);   // 1 if answered
int nested_efer_svme(struct vcpu *v, int write, uint64 val);  // EFER.SVME as L1 sees it
int nested_check_events(struct vcpu *v);              // before entry: L1's events vs L2; -ENOMEM
int nested_exit(struct vcpu *v, struct vm_exit *e);   // L2 exit: 1 re-enter, 0 user, -1 L0's handlers
// nested_vgif.c: L1's GIF in the CPU's V_GIF while L1 runs (§15.33.2)
int nested_vgif_enter(struct vcpu *v);                // before L1's entry; 1 if V_GIF is on
void nested_vgif_exit(struct vcpu *v, int on);        // after it: L1's GIF from V_GIF
void nested_tlb_flush_all(struct vcpu *v);            // L0's NPT lost entries
int nested_vmexit(struct vcpu *v);                    // reflect vmcb02's exit to L1; -1: vmcb12 gone
int nested_exception_exit(struct vcpu *v, struct vm_exit *e, int vec, uint32 err);   // -1: not L1's
int nested_db_trap(struct vcpu *v, uint64 dr6_bits);   // 1: L1's #DB exit comes before L2 runs
int nested_cr0_sel_write(struct vcpu *v, struct vm_exit *e, uint64 val, int clts);   // -1: not L1's
void nested_copy_vmload_state(struct vmcb_save *to, const struct vmcb_save *from);
int nested_gpa_read(struct vcpu *v, uint64 gpa, void *dst, uint64 n);   // L1 GPA (L0 NPT)
int nested_gpa_write(struct vcpu *v, uint64 gpa, const void *src, uint64 n);

// nested_npt.c (given): the shadow of L1's nested page table
int nested_npt_fault(struct vcpu *v, struct vm_exit *e);   // vmcb02 NPF: 1 handled, -1 cannot
int nested_l2_to_l1(struct vcpu *v, uint64 gpa2, uint64 *gpa1);   // no permission checks
void nested_npt_drop(struct vcpu *v);                 // forget every shadow entry
int nested_npt_root(struct vcpu *v, uint64 *ncr3);    // vmcb02's nCR3 for L1's NP; 0 or -ENOMEM

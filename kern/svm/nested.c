// Lab 9 (nested): the guest's own SVM, emulated (KVM arch/x86/kvm/svm/nested.c:
// nested_svm_vmrun, nested_vmcb02_prepare_*, nested_svm_exit_handled,
// nested_svm_vmexit).
//
// L1 (our guest) sees SVM in CPUID when its VMM asks (VM_RUN_NESTED), may set
// EFER.SVME, and its SVM instructions, which the kernel always intercepts,
// are carried out here:
//  - CLGI/STGI set L1's virtual GIF: while it is 0 nothing is injected into
//    L1 (irq.c, nmi.c ask nested_blocks_irq).
//  - VMLOAD/VMSAVE copy the VMLOAD state between L1's memory and vmcb01,
//    which holds that state for L1 (run.c VMLOADs it before every VMRUN).
//  - VMRUN reads vmcb12, checks it (lab 2's vmcb_check, §15.5.1), builds
//    vmcb02 (part A) and runs L2 on it. L1's state stays in vmcb01: it is
//    our "host save area"; L1's VM_HSAVE_PA page is never touched (its format
//    is the processor's business, §15.30.4, and nothing may rely on it).
//  - Every exit of L2 is first offered to L1 (part B decides whether L1
//    intercepts it); if so it is reflected (part C copies L2's state and the
//    exit into vmcb12, L1 resumes after its VMRUN with GIF=0, §15.6), else
//    L0's own handlers take it and L2 resumes.
// Guest memory is always reached through the VM's nested page table, with
// its permissions: L1 can name any address, it only ever reaches its own RAM.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "trap.h"
#include "errno.h"
#include "svm/nested.h"
#include "../lib/string.h"

#define LEN_SVM_INSN 3          // 0F 01 D8..DF
#define DR7_RESET 0x400UL

// ---- guest-physical memory of L1 -----------------------------------------

// Copies n bytes at L1's gpa (not crossing a page) through the VM's NPT.
int nested_gpa_read(struct vcpu *v, uint64 gpa, void *dst, uint64 n)
{
  uint64 hpa, perm;
  if (!v->vm || (gpa & (PGSIZE - 1)) + n > PGSIZE || npt_lookup(vm_npt(v->vm), gpa, &hpa, &perm) < 0)
    return -1;
  memmove(dst, P2V(hpa), n);
  return 0;
}

// The same for writes: the page must be mapped writable for L1.
int nested_gpa_write(struct vcpu *v, uint64 gpa, const void *src, uint64 n)
{
  uint64 hpa, perm;
  if (!v->vm || (gpa & (PGSIZE - 1)) + n > PGSIZE || npt_lookup(vm_npt(v->vm), gpa, &hpa, &perm) < 0 ||
      !(perm & NPT_W))
    return -1;
  memmove(P2V(hpa), src, n);
  return 0;
}

// ---- life cycle ----------------------------------------------------------

int nested_enable(struct vcpu *v)
{
  if (v->nested)
    return 0;
  struct nested_svm *n = kalloc();
  if (!n)
    return -ENOMEM;
  _Static_assert(sizeof *n <= PGSIZE, "nested state fits a page");
  n->vmcb12 = kalloc();
  n->vmcb02.ptr = kalloc();
  if (!n->vmcb12 || !n->vmcb02.ptr || vmcb_perm_alloc(&n->perm02) < 0) {
    if (n->vmcb12)
      kfree(n->vmcb12);
    if (n->vmcb02.ptr)
      kfree(n->vmcb02.ptr);
    kfree(n);
    return -ENOMEM;
  }
  n->vmcb02.pa = V2P(n->vmcb02.ptr);
  n->vmcb02.cpu = -1;
  n->gif = 1;   // GIF is 1 after RESET
  v->nested = n;
  return 0;
}

void nested_free(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  if (!n)
    return;
  if (n->guest_mode) {   // vcpu_free frees the current VMCB: make that vmcb01 again
    svm_switch_vmcb(v, &v->vmcb01);
    n->guest_mode = 0;
  }
  // No CPU may keep naming vmcb02 as its current VMCB once it is freed.
  for (int i = 0; i < ncpu; i++)
    __atomic_compare_exchange_n(&svm_data[i].current_vmcb, &(struct vmcb *){n->vmcb02.ptr}, NULL, 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  nested_npt_drop(v);
  vmcb_perm_free(&n->perm02);
  kfree(n->vmcb02.ptr);
  kfree(n->vmcb12);
  kfree(n);
  v->nested = NULL;
}

// The totals of this vcpu's nested SVM for the exit record (vmm -s).
void nested_report(struct vcpu *v, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  if (!n)
    return;
  e->nested.vmruns = n->nvmruns;
  e->nested.reflected = n->nreflected;
  e->nested.handled = n->nl0;
  e->nested.shadow_fills = n->nshadow_faults;
  // An exit of L2's that reaches the VMM (L2's MMIO): its walks of L2's
  // addresses must go through L1's table, as the CPU's would (§15.25.5).
  if (n->guest_mode && (n->vmcb12->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE)) {
    e->nested.l2_ncr3 = n->vmcb12->control.ncr3;
    e->nested.l2_np = VM_NESTED_L2_NP | (v->vmcb01.ptr->save.efer & EFER_NXE ? VM_NESTED_L1_NXE : 0);
  }
}

int nested_guest_mode(struct vcpu *v) { return v->nested && v->nested->guest_mode; }

// vmcb12's intercept word `word` while L2 runs, else 0. A guard of L0's
// that turns one of its own intercepts off before VMRUN (cr0.c) works on
// vmcb02 then, and must keep the intercepts L1 asked for.
uint32 nested_l1_intercepts(struct vcpu *v, int word)
{
  return nested_guest_mode(v) ? v->nested->vmcb12->control.intercepts[word] : 0;
}

// vmcb12's intercept word MISC1 (INTR, NMI, ...): L1's choices for L2.
static uint32 l1_misc1(struct vcpu *v) { return v->nested->vmcb12->control.intercepts[INTERCEPT_WORD_MISC1]; }

// The IF that masks L1's physical interrupts while L2 runs (§15.21.1): with
// V_INTR_MASKING in vmcb12, L1's own IF at its VMRUN (HIF, kept in vmcb01),
// else L2's.
static int l1_irq_if(struct vcpu *v)
{
  int vim = (v->nested->vmcb12->control.int_ctl & V_INTR_MASKING) != 0;
  return ((vim ? v->vmcb01.ptr->save.rflags : v->vmcb->save.rflags) & FL_IF) != 0;
}

// L1's external interrupt waits (irq.c neither injects it nor opens a
// window): while L1's GIF is 0 (§15.17); while L2 runs, when L1 intercepts
// INTR (nested_check_events makes the exit once the IF of l1_irq_if is set)
// or when V_INTR_MASKING and L1's IF hold it (nothing L2 does changes that
// IF: a window would never open). Otherwise L2 takes it through its own IDT
// (§15.21.1; KVM svm_interrupt_blocked in guest mode): irq.c injects it into
// vmcb02, with nested_interrupt_allowed's rule.
int nested_blocks_irq(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  if (!n)
    return 0;
  if (!n->gif)
    return 1;
  if (!n->guest_mode)
    return 0;
  if (l1_misc1(v) & INTERCEPT_INTR)
    return 1;
  return (n->vmcb12->control.int_ctl & V_INTR_MASKING) && !l1_irq_if(v);
}

// L1's NMI waits while its GIF is 0, and while L2 runs if L1 intercepts NMI
// (nested_check_events makes the exit); otherwise L2 takes it (§15.21.2:
// an NMI that is not intercepted is delivered to the guest). nmi.c asks.
int nested_blocks_nmi(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  if (!n)
    return 0;
  return !n->gif || (n->guest_mode && (l1_misc1(v) & INTERCEPT_NMI));
}

// While L2 runs with V_INTR_MASKING in vmcb12, L1's interrupt (not
// intercepted, L1's IF set: nested_blocks_irq) goes into L2 whatever L2's IF
// says: it masks virtual interrupts only (§15.21.1); the interrupt shadow
// and a busy EVENTINJ still hold it. -1: not that case, irq.c's own rule
// (L2's IF, the shadow) applies.
int nested_interrupt_allowed(struct vcpu *v)
{
  if (!nested_guest_mode(v) || !(v->nested->vmcb12->control.int_ctl & V_INTR_MASKING))
    return -1;
  struct vmcb_control *c = &v->vmcb->control;
  return !(c->int_state & SVM_INTERRUPT_SHADOW) && !(c->eventinj & SVM_EVTINJ_VALID);
}

// L1's interrupt for L2 that only the interrupt shadow or a busy EVENTINJ
// holds (V_INTR_MASKING: nested_interrupt_allowed), right before the entry
// (irq.c svm_exit_after_intr). irq.c's window cannot catch the moment it may
// go in: vmcb02's V_IRQ follows L2's IF, which does not mask this interrupt
// (§15.21.1). An exit right after the entry does (KVM's immediate exit): the
// self-IPI irq.c then sends is held by GIF=0 until the VMRUN, the CPU
// delivers EVENTINJ (§15.20) or runs the shadowed instruction and exits (INTR),
// and the next entry injects. 1 if so.
int nested_irq_held(struct vcpu *v)
{
  return v->irq_line && !v->irq_acked && !nested_blocks_irq(v) && nested_interrupt_allowed(v) == 0;
}

// L2's HLT that L1 does not intercept: L2 sleeps until an event for it or
// for L1 can be taken (nested_has_events), whatever its IF: with
// V_INTR_MASKING or L1's INTR intercept, an interrupt of L1's ends the HLT
// although L2's IF is 0 (§15.21.1); only then does the sleep end. 1 if so
// (the vcpu is halted, RIP past the HLT), 0 outside L2.
int nested_halt(struct vcpu *v, struct vm_exit *e)
{
  if (!nested_guest_mode(v))
    return 0;
  svm_emulated(v, e, 1);
  v->halted = 1;
  return 1;
}

// Whether halted L2 has something that ends its HLT (halt.c
// vcpu_has_events; KVM kvm_vcpu_has_events with nested events): an
// interrupt of L1's that is not masked by l1_irq_if (it becomes L1's exit or
// L2's interrupt); an event waiting in vmcb02's EVENTINJ; L1's virtual
// interrupt for L2 (vmcb02's V_IRQ, irq.c's window closed at every exit)
// with L2's IF set. NMIs: svm_events_waiting. -1 outside L2.
int nested_has_events(struct vcpu *v)
{
  if (!nested_guest_mode(v))
    return -1;
  struct vmcb *v02 = v->vmcb;
  if (v02->control.eventinj & SVM_EVTINJ_VALID)
    return 1;
  if (v->irq_line && !v->irq_acked && v->nested->gif && l1_irq_if(v))
    return 1;
  return (v02->control.int_ctl & V_IRQ) && !v->irq_window && (v02->save.rflags & FL_IF);
}

// L0's nested page table lost entries: every translation made through it is
// stale, L1's (vmcb01's ASID), L2's (vmcb02's ASID) and the shadow's.
void nested_tlb_flush_all(struct vcpu *v)
{
  if (!v->nested)
    return;
  v->vmcb01.asid_generation = 0;         // a fresh ASID at the next load (vcpu.c)
  v->nested->vmcb02.asid_generation = 0;
  __atomic_store_n(&v->nested->shadow_stale, 1, __ATOMIC_SEQ_CST);
}

// The VMCB whose V_TPR is L1's TPR, which run.c keeps in step with the VMM's
// local APIC (exit record cr8, VM_RUN_SET_CR8): vmcb01 while L2 runs. With
// V_INTR_MASKING in vmcb12, L2's CR8 is its own virtual TPR (§15.21.3),
// vmcb02's V_TPR, given back to L1 in vmcb12. Without it, L2's CR8 is the
// real TPR, L1's (§15.21.1): vmcb02 always has V_INTR_MASKING, so L0 takes
// L2's CR8 writes (cr0.c, nested_cr8_write) and reads (l2_cr8_read) to L1's.
struct vmcb *nested_tpr_vmcb(struct vcpu *v)
{
  return nested_guest_mode(v) ? v->vmcb01.ptr : v->vmcb;
}

// L2's CR8 is L1's TPR: vmcb12 without V_INTR_MASKING (§15.21.1).
static int l2_cr8_is_l1s(struct vcpu *v)
{
  return nested_guest_mode(v) && !(v->nested->vmcb12->control.int_ctl & V_INTR_MASKING);
}

// L2's MOV to CR8 (cr0.c, which has put val into vmcb02's V_TPR: QEMU 7.2
// gives that to L1 in vmcb12 at #VMEXIT with or without V_INTR_MASKING).
// Without V_INTR_MASKING it also sets L1's TPR, which the VMM's local APIC
// follows. L1's TPR before the write, or -1 when the write is L2's alone.
int nested_cr8_write(struct vcpu *v, uint64 val)
{
  if (!l2_cr8_is_l1s(v))
    return -1;
  struct vmcb *v01 = v->vmcb01.ptr;
  int old = v01->control.int_ctl & V_TPR_MASK;
  v01->control.int_ctl = (v01->control.int_ctl & ~V_TPR_MASK) | (val & V_TPR_MASK);
  vmcb_mark_dirty(v01, VMCB_CLEAN_INTR);
  return old;
}

// L2's MOV from CR8 without V_INTR_MASKING in vmcb12, intercepted for that
// in vmcb02 (nested_prepare_vmcb02): L1's TPR. CR8 exists in 64-bit mode
// only (REX.R with CR0's encoding); anything else here, or CPL > 0, is #GP
// as in cr0.c.
static int l2_cr8_read(struct vcpu *v, struct vm_exit *e)
{
  struct svm_insn d;
  if (v->vmcb->save.cpl || svm_decode_0f(v, &d) < 0 || d.op != 0x20 || d.reg != 8)
    return svm_inject_fault(v, e, 13, 1);
  svm_set_gpr(v, d.rm, v->vmcb01.ptr->control.int_ctl & 0xF);   // bits 3:0 (CR8_V_TPR in run.c)
  return svm_emulated(v, e, d.len);
}

// ---- MSRs and EFER (§15.30) ----------------------------------------------

// EFER.SVME as L1 sees it: read (write 0) returns it; a write sets it, or
// returns -1 for #GP when VM_CR.SVMDIS forbids it (§15.4 "Enabling SVM").
// Without nested SVM, SVME reads 0 and writes of it are ignored.
int nested_efer_svme(struct vcpu *v, int write, uint64 val)
{
  struct nested_svm *n = v->nested;
  if (!n)
    return 0;
  if (n->guest_mode)   // L2's EFER (L1 did not intercept it): SVME as vmcb12 gave it, fixed
    return write ? 0 : (n->vmcb12->save.efer & EFER_SVME) != 0;
  if (!write)
    return n->svme;
  if ((val & EFER_SVME) && (n->vm_cr & VM_CR_SVMDIS))
    return -1;
  n->svme = (val & EFER_SVME) != 0;
  return 0;
}

#define VM_CR_BITS (VM_CR_DPD | VM_CR_R_INIT | VM_CR_DIS_A20M | VM_CR_LOCK | VM_CR_SVMDIS)

// VM_CR and VM_HSAVE_PA (§15.30.1, §15.30.4). VM_CR: LOCK makes SVMDIS read-
// only; SVMDIS cannot be set while EFER.SVME is; other bits are reserved.
// VM_HSAVE_PA: 4 KiB aligned, within the physical address width. #GP
// otherwise. Returns 1 when answered (RIP moved or #GP queued).
int nested_msr(struct vcpu *v, uint32 msr, int write, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  if (!n || (msr != MSR_VM_CR && msr != MSR_VM_HSAVE_PA))
    return 0;
  struct vmcb_save *s = &v->vmcb->save;
  uint64 val = ((uint64)v->gprs.rdx << 32) | (uint32)s->rax;
  if (!write) {
    uint64 r = msr == MSR_VM_CR ? n->vm_cr : n->hsave_pa;
    s->rax = (uint32)r;
    v->gprs.rdx = r >> 32;
    return svm_emulated(v, e, 2);
  }
  if (msr == MSR_VM_HSAVE_PA) {
    int width = cpuid(0x80000008, 0).eax & 0xFF;
    if ((val & (PGSIZE - 1)) || (val >> width))
      return svm_inject_fault(v, e, 13, 1);
    n->hsave_pa = val;
    return svm_emulated(v, e, 2);
  }
  int locked = n->vm_cr & VM_CR_LOCK;
  if ((val & ~(uint64)VM_CR_BITS) || (locked && ((val ^ n->vm_cr) & (VM_CR_SVMDIS | VM_CR_LOCK))) ||
      ((val & VM_CR_SVMDIS) && n->svme))
    return svm_inject_fault(v, e, 13, 1);
  n->vm_cr = val;
  return svm_emulated(v, e, 2);
}

// ---- CLGI, STGI, VMLOAD, VMSAVE, INVLPGA ---------------------------------

// The checks every SVM instruction makes first (§15.5, Vol. 3 "VMRUN" and
// the others): #UD without EFER.SVME, #GP(0) outside CPL 0. 1 if it faulted.
static int svm_insn_faults(struct vcpu *v, struct vm_exit *e)
{
  if (!v->nested->svme) {
    svm_inject_fault(v, e, 6, 0);
    return 1;
  }
  if (v->vmcb->save.cpl) {
    svm_inject_fault(v, e, 13, 1);
    return 1;
  }
  return 0;
}

// rAX as the instruction's operand: the address size is 64 bits in 64-bit
// mode, else 32 (prefixes are not decoded: QEMU gives no instruction bytes).
static uint64 svm_insn_rax(struct vcpu *v)
{
  uint64 rax = v->vmcb->save.rax;
  return svm_guest_64bit(v) ? rax : (uint32)rax;
}

// The state VMLOAD loads and VMSAVE stores (§15.5.2): FS, GS, TR, LDTR with
// their hidden parts, KernelGSBase, STAR, LSTAR, CSTAR, SFMASK, SYSENTER_*.
void nested_copy_vmload_state(struct vmcb_save *to, const struct vmcb_save *from)
{
  to->fs = from->fs;
  to->gs = from->gs;
  to->tr = from->tr;
  to->ldtr = from->ldtr;
  to->kernel_gs_base = from->kernel_gs_base;
  to->star = from->star;
  to->lstar = from->lstar;
  to->cstar = from->cstar;
  to->sfmask = from->sfmask;
  to->sysenter_cs = from->sysenter_cs;
  to->sysenter_esp = from->sysenter_esp;
  to->sysenter_eip = from->sysenter_eip;
}

// VMLOAD (load 1) or VMSAVE of the guest running on v->vmcb (L1 on vmcb01,
// or L2 on vmcb02): the operand must be a 4 KiB aligned page of L1's memory
// (writable for VMSAVE), else #GP(0). Called with interrupts off.
static int vmload_vmsave(struct vcpu *v, struct vm_exit *e, int load)
{
  // IF=0: one per CPU (vmcb12 is live while L2 runs). A struct vmcb, not a
  // uint64 array cast to one: struct vmcb is 4 KiB aligned, and UBSan
  // (make SAN=1) panicked on the first VMLOAD at the array's 8-byte
  // alignment (found by guestfuzz mode n).
  static struct vmcb scratch[NCPU];
  struct vmcb *page = &scratch[cpuid_self()];
  uint64 gpa = svm_insn_rax(v);
  if ((gpa & (PGSIZE - 1)) || nested_gpa_read(v, gpa, page, PGSIZE) < 0)
    return svm_inject_fault(v, e, 13, 1);
  if (load) {
    nested_copy_vmload_state(&v->vmcb->save, &page->save);
    vmcb_mark_all_dirty(v->vmcb);
  } else {
    nested_copy_vmload_state(&page->save, &v->vmcb->save);
    if (nested_gpa_write(v, gpa, page, PGSIZE) < 0)
      return svm_inject_fault(v, e, 13, 1);
  }
  return svm_emulated(v, e, LEN_SVM_INSN);
}

int nested_vmrun(struct vcpu *v, struct vm_exit *e);

// The SVM instruction of the exit in v's VMCB, executed by L1. Called by
// run.c's svm_insn_interception when the guest has SVM.
int nested_svm_insn(struct vcpu *v, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  uint64 code = v->vmcb->control.exitcode;
  if (code == SVM_EXIT_SKINIT || code == SVM_EXIT_MONITOR || code == SVM_EXIT_MWAIT)
    return svm_inject_fault(v, e, 6, 0);   // not offered (CPUID): #UD
  if (svm_insn_faults(v, e))
    return 1;
  switch (code) {
  case SVM_EXIT_CLGI:
    n->gif = 0;
    return svm_emulated(v, e, LEN_SVM_INSN);
  case SVM_EXIT_STGI:
    n->gif = 1;   // a waiting interrupt goes in at the next entry (irq.c)
    return svm_emulated(v, e, LEN_SVM_INSN);
  case SVM_EXIT_VMLOAD:
    return vmload_vmsave(v, e, 1);
  case SVM_EXIT_VMSAVE:
    return vmload_vmsave(v, e, 0);
  case SVM_EXIT_INVLPGA:
    // L1 drops translations of L2's: the shadow goes entirely, and vmcb02's
    // TLB at the next nested VMRUN (§15.16.2 "INVLPGA").
    nested_npt_drop(v);
    n->vmcb02.asid_generation = 0;
    return svm_emulated(v, e, LEN_SVM_INSN);
  case SVM_EXIT_VMRUN:
    return nested_vmrun(v, e);
  }
  return svm_inject_fault(v, e, 6, 0);
}

// VMLOAD, VMSAVE or INVLPGA run by L2 that L1 does not intercept (code:
// the exit's). A CPU carries them out in L2 (its EFER.SVME is set, VMRUN
// checked that, §15.5.1), with the same #GP(0) outside CPL 0. VMLOAD and
// VMSAVE act on L2's state (vmcb02) and take rAX as a physical address of
// the host's, L1's, untranslated by L1's nested table: only the virtual
// VMLOAD/VMSAVE feature translates it (§15.33.1), not offered to L1 (KVM
// vmload_vmsave_interception maps rAX in L1's space too). INVLPGA names an
// ASID of L1's guests: L2's translations go, the shadow included (before
// L2's next entry: L2 runs on it now, nested_check_events rebuilds it).
static int l2_svm_insn(struct vcpu *v, struct vm_exit *e, uint64 code)
{
  if (v->vmcb->save.cpl)
    return svm_inject_fault(v, e, 13, 1);
  if (code == SVM_EXIT_INVLPGA) {
    __atomic_store_n(&v->nested->shadow_stale, 1, __ATOMIC_SEQ_CST);
    v->nested->vmcb02.asid_generation = 0;
    return svm_emulated(v, e, LEN_SVM_INSN);
  }
  return vmload_vmsave(v, e, code == SVM_EXIT_VMLOAD);
}

// ---- VMRUN: vmcb12 -> vmcb02 ---------------------------------------------

// L1's 12 KiB IOPM or 8 KiB MSRPM at gpa ORed into map (L0's bits already
// there). A page L1 cannot reach counts as all ones: everything exits to L1.
static void merge_map(struct vcpu *v, uint8 *map, uint64 gpa, uint64 size)
{
  static uint64 buf[NCPU][PGSIZE / 8];   // IF=0 here: one per CPU
  uint64 *b = buf[cpuid_self()];
  gpa &= ~(uint64)(PGSIZE - 1);          // bits 11:0 are ignored (§15.10.1, §15.11)
  for (uint64 off = 0; off < size; off += PGSIZE) {
    if (nested_gpa_read(v, gpa + off, b, PGSIZE) < 0)
      memset(b, 0xFF, PGSIZE);
    uint64 *m = (uint64 *)(map + off);
    for (uint64 i = 0; i < PGSIZE / 8; i++)
      m[i] |= b[i];
  }
}

// vmcb02's permission maps: L0's (vmcb01's) ORed with L1's (vmcb12's).
static void nested_merge_perm(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  struct vmcb_control *c1 = &v->vmcb01.ptr->control, *c12 = &n->vmcb12->control;
  memmove(n->perm02.iopm, P2V(c1->iopm_base_pa), IOPM_SIZE);
  memmove(n->perm02.msrpm, P2V(c1->msrpm_base_pa), MSRPM_SIZE);
  if (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_IOIO_PROT)
    merge_map(v, n->perm02.iopm, c12->iopm_base_pa, IOPM_SIZE);
  if (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_MSR_PROT)
    merge_map(v, n->perm02.msrpm, c12->msrpm_base_pa, MSRPM_SIZE);
}

// Builds vmcb02 for L2 from L1's vmcb12 (v->nested->vmcb12, checked) and
// L0's vmcb01 (KVM nested_vmcb02_prepare_control, _save).
static void nested_prepare_vmcb02(struct vcpu *v, uint64 ncr3)
{
  struct nested_svm *n = v->nested;
  struct vmcb *v02 = n->vmcb02.ptr, *v01 = v->vmcb01.ptr, *v12 = n->vmcb12;
  struct vmcb_control *c = &v02->control;
  memset(c, 0, sizeof *c);
  c->asid = v01->control.asid;    // vcpu_load gives vmcb02 an ASID of its own
  c->iopm_base_pa = V2P(n->perm02.iopm);
  c->msrpm_base_pa = V2P(n->perm02.msrpm);
  c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
  c->ncr3 = ncr3;
  // LAB 9 BEGIN
  // Intercepts: L0 keeps every one it has for L1 (the kernel's own and the
  // VMM's), L1 adds those it wants for L2; whose exit it is gets decided at
  // the exit (nested_exit_wanted).
  for (int i = 0; i < INTERCEPT_WORDS; i++)
    c->intercepts[i] = v01->control.intercepts[i] | v12->control.intercepts[i];
  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;   // L0's own window is vmcb01's
  c->intercepts[INTERCEPT_WORD_MISC1] |= v12->control.intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR;
  vmcb_required_intercepts(c);
  // L2's virtual interrupt as L1 set it up; physical interrupts must still
  // reach the host: V_INTR_MASKING stays on whatever L1 chose (§15.21.1).
  c->int_ctl = (v12->control.int_ctl & (V_TPR_MASK | V_IRQ | V_INTR_PRIO_MASK | V_IGN_TPR | V_INTR_VECTOR_MASK)) |
               V_INTR_MASKING;
  c->int_state = v12->control.int_state & SVM_INTERRUPT_SHADOW;
  c->tsc_offset = v01->control.tsc_offset + v12->control.tsc_offset;
  c->eventinj = v12->control.eventinj;   // delivered by this VMRUN (§15.20)
  // L2's registers come from vmcb12 (what VMRUN loads, §15.5.1); the VMLOAD
  // state is whatever L1 has loaded, which vmcb01 holds.
  struct vmcb_save *s = &v02->save, *s12 = &v12->save;
  memset(s, 0, sizeof *s);
  nested_copy_vmload_state(s, &v01->save);
  s->es = s12->es, s->cs = s12->cs, s->ss = s12->ss, s->ds = s12->ds;
  s->gdtr = s12->gdtr, s->idtr = s12->idtr;
  s->efer = s12->efer | EFER_SVME;
  s->cr0 = s12->cr0, s->cr2 = s12->cr2, s->cr3 = s12->cr3, s->cr4 = s12->cr4;
  s->dr6 = s12->dr6, s->dr7 = s12->dr7;
  s->rflags = s12->rflags | FL_RSVD1;
  s->rip = s12->rip, s->rsp = s12->rsp, s->rax = s12->rax;
  s->cpl = s12->cpl;
  s->g_pat = s12->g_pat;
  // LAB 9 STUB
  // // LAB 9: (A) fill vmcb02's intercepts (L0's from vmcb01 and L1's from vmcb12, the kernel's required
  // // ones kept), interrupt control, event injection and L2's registers (what VMRUN loads from vmcb12,
  // // §15.5.1; the VMLOAD state is L1's current one, in vmcb01).
  // (void)v01, (void)v12;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "nested_prepare_vmcb02");
  // LAB 9 END
  // Without V_INTR_MASKING in vmcb12 L2's CR8 is L1's TPR, but vmcb02 has it
  // (host interrupts must exit): L2's CR8 reads would see vmcb02's V_TPR.
  // They exit instead (l2_cr8_read); writes always do (cr0.c).
  if (!(v12->control.int_ctl & V_INTR_MASKING))
    c->intercepts[INTERCEPT_WORD_CR] |= INTERCEPT_CR_READ(8);
  vmcb_mark_all_dirty(v02);
}

// vmcb12's checks beyond lab 2's: nested paging needs L1 in long mode with
// paging on (the table format follows the host's mode, §15.25.3; svmlab's
// shadow walks 4-level tables only), and nCR3 within the address width.
static const char *nested_check_vmcb12(struct vcpu *v)
{
  struct vmcb *v12 = v->nested->vmcb12;
  enum vmcb_rule r = vmcb_check(v12);
  if (r != VMCB_OK)
    return vmcb_rule_name(r);
  if (v12->control.nested_ctl & ~SVM_NESTED_CTL_NP_ENABLE)
    return "SEV requested";
  // Legal for the APM (LMA follows later), but after a #VMEXIT from such a
  // guest QEMU 7.2 cannot restore the host's paging and the host hangs
  // (cr0.c keeps vmcb01 out of that state the same way): refused.
  if ((v12->save.efer & (EFER_LME | EFER_LMA)) && !(v12->save.cr0 & CR0_PG))
    return "EFER.LME with CR0.PG clear (not run: QEMU 7.2 loses the host at the #VMEXIT)";
  if (v12->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE) {
    struct vmcb_save *s1 = &v->vmcb01.ptr->save;
    if (!(s1->efer & EFER_LMA) || !(s1->cr0 & CR0_PG))
      return "nested paging with L1 outside long mode";
    if (v12->control.ncr3 >> (cpuid(0x80000008, 0).eax & 0xFF))
      return "nCR3 beyond the physical address width";
  }
  return NULL;
}

// VMEXIT_INVALID for a vmcb12 VMRUN refused: the exit code goes into vmcb12,
// L1 goes on after its VMRUN (KVM does not clear GIF here either).
static int nested_vmrun_invalid(struct vcpu *v, struct vm_exit *e, const char *why)
{
  struct nested_svm *n = v->nested;
  static int told;
  if (told++ < 4)
    printf("svm: vcpu %d: nested VMRUN refused (check: %s)\n", v->id, why);
  n->vmcb12->control.exitcode = SVM_EXIT_INVALID;
  n->vmcb12->control.exitinfo1 = n->vmcb12->control.exitinfo2 = 0;
  nested_gpa_write(v, n->vmcb12_gpa, n->vmcb12, PGSIZE);
  return svm_emulated(v, e, LEN_SVM_INSN);
}

// L1's state while L2 runs is vmcb01 itself, the kernel's host save area
// (§15.30.4 leaves its format to the processor): VMRUN has only to record
// where L1 resumes, the instruction after VMRUN (§15.5.1). 0, or -1 if not
// done (the VMRUN then raises #UD rather than being re-run for ever).
static int nested_l1_at_vmrun(struct vcpu *v)
{
  // LAB 9 BEGIN
  v->vmcb->save.rip += LEN_SVM_INSN;
  return 0;
  // LAB 9 STUB
  // // LAB 9: (E) vmcb01 plays L1's host save area: record in it where L1 resumes after its
  // // #VMEXIT (§15.5.1: what VMRUN saves of the host, and which RIP).
  // (void)v;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "nested_l1_at_vmrun");
  // return -1;
  // LAB 9 END
}

// L1's VMRUN (KVM nested_svm_vmrun, enter_svm_guest_mode).
int nested_vmrun(struct vcpu *v, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  uint64 gpa = svm_insn_rax(v);
  if ((gpa & (PGSIZE - 1)) || !n->hsave_pa || nested_gpa_read(v, gpa, n->vmcb12, PGSIZE) < 0)
    return svm_inject_fault(v, e, 13, 1);
  n->vmcb12_gpa = gpa;
  const char *bad = nested_check_vmcb12(v);
  if (bad)
    return nested_vmrun_invalid(v, e, bad);
  struct vmcb_control *c12 = &n->vmcb12->control;
  int np = (c12->nested_ctl & SVM_NESTED_CTL_NP_ENABLE) != 0;
  // L2's translations are stale when L1 asks for a flush or runs another
  // guest (ASID, nCR3): drop the shadow and vmcb02's TLB entries. The APM
  // lets a TLB keep stale entries until such a flush (§15.16), so L1's
  // writes to its tables in between need no tracking.
  if (c12->tlb_control || c12->asid != n->last_asid12 || c12->ncr3 != n->last_ncr3_12) {
    nested_npt_drop(v);
    n->vmcb02.asid_generation = 0;
  }
  n->last_asid12 = c12->asid;
  n->last_ncr3_12 = c12->ncr3;
  uint64 ncr3 = v->vmcb01.ptr->control.ncr3;   // without NP, L2's addresses are L1's
  if (np && nested_npt_root(v, &ncr3) < 0)
    return svm_inject_fault(v, e, 13, 1);   // out of memory: L1 may retry
  if (nested_l1_at_vmrun(v) < 0)
    return svm_inject_fault(v, e, 6, 0);
  nested_merge_perm(v);
  nested_prepare_vmcb02(v, ncr3);
  svm_switch_vmcb(v, &n->vmcb02);
  n->guest_mode = 1;
  n->run_pending = 1;                       // L2 enters before any event of L1's can exit it
  n->db_trap_pending = 0;
  n->gif = 1;                               // VMRUN sets GIF (§15.5.1)
  n->nvmruns++;
  e->kexits++;
  return 1;
}

// ---- #VMEXIT from L2 -------------------------------------------------------

// Bit `bit` of an IOPM/MSRPM of L1's at gpa (bits 11:0 ignored); a bit L1
// cannot read counts as set.
static int l1_map_bit(struct vcpu *v, uint64 base, uint64 bit)
{
  uint8 byte;
  base &= ~(uint64)(PGSIZE - 1);
  if (nested_gpa_read(v, base + bit / 8, &byte, 1) < 0)
    return 1;
  return (byte >> (bit % 8)) & 1;
}

// 1 if L1's IOPM intercepts the access of this IOIO exit: any of the bits of
// the ports it touches (§15.10.1).
static int l1_wants_io(struct vcpu *v, uint64 info1)
{
  // LAB 9 BEGIN
  uint64 base = v->nested->vmcb12->control.iopm_base_pa;
  uint32 port = info1 >> 16, size = (info1 & 0x10) ? 1 : (info1 & 0x20) ? 2 : 4;
  for (uint32 i = 0; i < size; i++)
    if (l1_map_bit(v, base, (uint64)port + i))
      return 1;
  return 0;
  // LAB 9 STUB
  // // LAB 9: (D) 1 if L1's IOPM (vmcb12's IOPM_BASE_PA) has the bit of any port this access touches:
  // // EXITINFO1 gives the port and the size (§15.10.2); l1_map_bit reads one bit of L1's map.
  // (void)v, (void)info1, (void)l1_map_bit;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "l1_wants_io");
  // return 1;
  // LAB 9 END
}

// 1 if L1's MSRPM intercepts this RDMSR/WRMSR (§15.11): two bits per MSR,
// read then write, in three 2 KiB ranges; other MSRs always exit.
static int l1_wants_msr(struct vcpu *v, uint32 msr, int write)
{
  // LAB 9 BEGIN
  uint64 base = v->nested->vmcb12->control.msrpm_base_pa, off;
  if (msr <= 0x1FFF)
    off = 0;
  else if (msr >= 0xC0000000 && msr <= 0xC0001FFF)
    off = 0x800;
  else if (msr >= 0xC0010000 && msr <= 0xC0011FFF)
    off = 0x1000;
  else
    return 1;
  uint64 bit = off * 8 + (uint64)(msr & 0x1FFF) * 2 + (write ? 1 : 0);
  return l1_map_bit(v, base, bit);
  // LAB 9 STUB
  // // LAB 9: (D) 1 if L1's MSRPM (vmcb12's MSRPM_BASE_PA) intercepts this RDMSR (write 0) or WRMSR
  // // (write 1) of msr (§15.11); an MSR outside the map's ranges always exits.
  // (void)v, (void)msr, (void)write;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "l1_wants_msr");
  // return 1;
  // LAB 9 END
}

// Whether L1 asked for the exit in vmcb02 (KVM nested_svm_exit_handled):
// the intercept bit of its code in vmcb12, and for I/O and MSR exits also
// L1's permission map. Physical interrupts, NMIs and SMIs are the host's.
static int nested_exit_wanted(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control, *c12 = &v->nested->vmcb12->control;
  uint64 code = c->exitcode;
  // LAB 9 BEGIN
  if (code == SVM_EXIT_INTR || code == SVM_EXIT_NMI || code == SVM_EXIT_SMI)
    return 0;
  if (code <= 0x1F)   // CR reads 0-15, writes 16-31: one bit each
    return (c12->intercepts[INTERCEPT_WORD_CR] >> code) & 1;
  if (code >= SVM_EXIT_READ_DR0 && code <= SVM_EXIT_READ_DR0 + 0x1F)
    return (c12->intercepts[INTERCEPT_WORD_DR] >> (code - SVM_EXIT_READ_DR0)) & 1;
  if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32)
    return (c12->intercepts[INTERCEPT_WORD_EXC] >> (code - SVM_EXIT_EXCP_BASE)) & 1;
  if (code == SVM_EXIT_IOIO)
    return (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_IOIO_PROT) && l1_wants_io(v, c->exitinfo1);
  if (code == SVM_EXIT_MSR)
    return (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_MSR_PROT) &&
           l1_wants_msr(v, v->gprs.rcx, c->exitinfo1 & 1);
  if (code == SVM_EXIT_VINTR)   // L1's while its own V_IRQ waits; else irq.c's window (L0's) opened
    return (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR) && (c->int_ctl & V_IRQ);
  if (code >= SVM_EXIT_INTR && code < SVM_EXIT_INTR + 32)
    return (c12->intercepts[INTERCEPT_WORD_MISC1] >> (code - SVM_EXIT_INTR)) & 1;
  if (code >= SVM_EXIT_VMRUN && code < SVM_EXIT_VMRUN + 32)
    return (c12->intercepts[INTERCEPT_WORD_MISC2] >> (code - SVM_EXIT_VMRUN)) & 1;
  if (code == SVM_EXIT_NPF)   // L1 without nested paging has no NPFs: L2's address is L1's, L0's table
    return 0;
  return 1;   // anything else (shutdown-like, unknown): L1 sees it
  // LAB 9 STUB
  // // LAB 9: (B) 1 if L1 intercepts the exit in vmcb02 (c->exitcode): its intercept bit in vmcb12, and for
  // // I/O and MSR exits L1's permission map (l1_wants_io, l1_wants_msr); the host's own events are L0's,
  // // and so is a VINTR exit unless L1's own V_IRQ still waits in vmcb02 (irq.c opens windows there too).
  // (void)c12, (void)code, (void)l1_wants_io, (void)l1_wants_msr;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "nested_exit_wanted");
  // return 1;
  // LAB 9 END
}

// Copies L2's state and the exit into vmcb12 (KVM nested_svm_vmexit, first
// half): what #VMEXIT writes to the guest's VMCB (§15.6).
static void nested_vmexit_copy(struct vmcb *v12, const struct vmcb *v02)
{
  // LAB 9 BEGIN
  struct vmcb_save *s12 = &v12->save;
  const struct vmcb_save *s = &v02->save;
  s12->es = s->es, s12->cs = s->cs, s12->ss = s->ss, s12->ds = s->ds;
  s12->gdtr = s->gdtr, s12->idtr = s->idtr;
  s12->efer = s->efer;
  s12->cr0 = s->cr0, s12->cr2 = s->cr2, s12->cr3 = s->cr3, s12->cr4 = s->cr4;
  s12->dr6 = s->dr6, s12->dr7 = s->dr7;
  s12->rflags = s->rflags, s12->rip = s->rip, s12->rsp = s->rsp, s12->rax = s->rax;
  s12->cpl = s->cpl;
  struct vmcb_control *c12 = &v12->control;
  const struct vmcb_control *c = &v02->control;
  c12->exitcode = c->exitcode;
  c12->exitinfo1 = c->exitinfo1;
  c12->exitinfo2 = c->exitinfo2;
  c12->exitintinfo = c->exitintinfo;
  c12->int_state = c->int_state;
  c12->int_ctl = (c12->int_ctl & ~(V_TPR_MASK | V_IRQ)) | (c->int_ctl & (V_TPR_MASK | V_IRQ));
  c12->eventinj = 0;   // taken by the VMRUN, or reported in EXITINTINFO
  c12->next_rip = 0;   // no NRIPS offered
  // LAB 9 STUB
  // // LAB 9: (C) what #VMEXIT writes into L1's VMCB (§15.6): L2's registers that VMRUN loaded, the exit
  // // code and information, the interrupted event, L2's interrupt state; EVENTINJ is consumed.
  // (void)v12, (void)v02;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "nested_vmexit_copy");
  // LAB 9 END
}

// What L1 finds when its VMRUN ends in a #VMEXIT (§15.6; KVM
// nested_svm_vmexit, second half): its registers are vmcb01's as VMRUN left
// them, except what the CPU does not switch back.
static void nested_l1_after_vmexit(struct vmcb *v01, const struct vmcb *v02)
{
  // LAB 9 BEGIN
  nested_copy_vmload_state(&v01->save, &v02->save);   // L2 may have changed it (no VMLOAD exits)
  v01->save.cr2 = v02->save.cr2;
  v01->save.dr7 = DR7_RESET;
  v01->save.cpl = 0;
  v01->control.eventinj = 0;
  // LAB 9 STUB
  // // LAB 9: (E) #VMEXIT does not give L1 back everything VMRUN saved, and sets some state to fixed
  // // values: find in §15.6 (and §15.5.2 for the state VMLOAD handles) what L1 sees after it.
  // (void)v01, (void)v02;
  // static int told;
  // if (!told++)
  //   lab_missing(9, "nested_l1_after_vmexit");
  // LAB 9 END
}

// Reflects the exit in vmcb02 to L1 (KVM nested_svm_vmexit): vmcb12 gets L2's
// state and the exit, L1 resumes after its VMRUN with the state vmcb01 kept
// (§15.6: segments, descriptor tables, RFLAGS, EFER, CR0/3/4, RSP, RAX, RIP
// from the host save area; DR7 reset, CPL 0, GIF 0).
int nested_vmexit(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  struct vmcb *v02 = n->vmcb02.ptr, *v01 = v->vmcb01.ptr;
  nested_vmexit_copy(n->vmcb12, v02);
  nested_l1_after_vmexit(v01, v02);
  svm_switch_vmcb(v, &v->vmcb01);
  v->asid = v01->control.asid;
  vmcb_mark_all_dirty(v01);
  n->guest_mode = 0;
  n->gif = 0;
  n->nreflected++;
  // vmcb12 was L1's RAM at VMRUN; L0's VMM may have unmapped it since.
  if (nested_gpa_write(v, n->vmcb12_gpa, n->vmcb12, PGSIZE) < 0) {
    printf("svm: vcpu %d: vmcb12 at 0x%lx not writable at #VMEXIT\n", v->id, n->vmcb12_gpa);
    return -1;
  }
  return 0;
}

// A synthesized exit of L2 for L1 (an interrupt of L1's, §15.21): an event
// vmcb02 was about to inject goes to L1 as EXITINTINFO (KVM
// nested_save_pending_event_to_vmcb12).
static void nested_synth_exit(struct vcpu *v, uint64 code)
{
  struct vmcb_control *c = &v->vmcb->control;
  c->exitcode = code;
  c->exitinfo1 = c->exitinfo2 = 0;
  c->exitintinfo = (c->eventinj & SVM_EVTINJ_VALID) ? c->eventinj : 0;
  c->eventinj = 0;
  nested_vmexit(v);
}

// Before entering L2 (0, or -ENOMEM): an interrupt or NMI for L1 becomes the exit L1 asked
// for, if L1 would take it now (with V_INTR_MASKING, L1's IF at its VMRUN
// decides, else L2's IF, §15.21.1); otherwise it waits (nested_blocks_irq).
static int nested_events(struct vcpu *v)
{
  if (!nested_guest_mode(v))
    return 0;
  struct vmcb *v12 = v->nested->vmcb12;
  // L0's table lost pages while L2 ran on the shadow: the shadow may name
  // them. It goes before L2 runs again (-ENOMEM: not entered at all).
  if ((v12->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE) && v->nested->shadow_stale) {
    uint64 root;
    if (nested_npt_root(v, &root) < 0)
      return -ENOMEM;
    v->vmcb->control.ncr3 = root;
    vmcb_mark_all_dirty(v->vmcb);
  }
  if (v->nested->db_trap_pending) {   // L2's own #DB trap, L1's exit (nested_db_trap)
    v->nested->db_trap_pending = 0;
    nested_synth_exit(v, SVM_EXIT_EXCP_BASE + 1);
    return 0;
  }
  // The VMRUN that entered L2 completes first: its EVENTINJ is delivered,
  // then a pending interrupt is recognized at L2's first instruction
  // boundary (§15.20; KVM nested_run_pending). Exiting before the entry
  // would hand the event back in EXITINTINFO, and an L1 that raises a
  // self-IPI with each injection (svmlab does, irq.c) would loop forever.
  // The exit comes right after the entry instead: a self-IPI, which GIF=0
  // holds until the VMRUN (KVM requests an immediate exit so); else L2
  // would run on until L0's next exit, a timer tick away.
  uint32 misc1 = l1_misc1(v);
  int nmi = v->nmi_pending && (misc1 & INTERCEPT_NMI);
  int intr = v->irq_line && !v->irq_acked && (misc1 & INTERCEPT_INTR) && l1_irq_if(v);
  if (v->nested->run_pending) {
    if (nmi || intr)
      lapic_ipi(cpus[cpuid_self()].apicid, T_IPI_REEXIT);
    return 0;
  }
  if (nmi)
    nested_synth_exit(v, SVM_EXIT_NMI);
  else if (intr)
    nested_synth_exit(v, SVM_EXIT_INTR);
  return 0;
}

// The exit now in vmcb02 is L1's: reflect it (nested_vmexit). EVENTINJ is
// cleared first: svm_after_exit may have re-queued EXITINTINFO there, and L1
// gets it in vmcb12 instead. 1 to run L1 on; 0 if vmcb12 could not be
// written (the vcpu dies, as a CPU that cannot write the VMCB: shutdown).
static int reflect_to_l1(struct vcpu *v, struct vm_exit *e)
{
  v->vmcb->control.eventinj = 0;
  e->kexits++;
  if (nested_vmexit(v) == 0)
    return 1;
  svm_exit_record(v, e, VM_EXIT_SHUTDOWN);
  v->dead = 1;
  return 0;
}

// An exception L0 raises in L2 on the CPU's behalf (an instruction it
// emulated or refused): an exception of L2's like any other, so L1 gets it
// as an exit if its exception bitmap asks for the vector (§15.12; KVM
// nested_svm_check_exception). -1: L1 does not want it, inject it into L2;
// else the handler's result (1 done, 0 *e filled: vmcb12 gone).
int nested_exception_exit(struct vcpu *v, struct vm_exit *e, int vec, uint32 err)
{
  if (!nested_guest_mode(v) || !((v->nested->vmcb12->control.intercepts[INTERCEPT_WORD_EXC] >> vec) & 1))
    return -1;
  struct vmcb_control *c = &v->vmcb->control;
  c->exitcode = SVM_EXIT_EXCP_BASE + vec;
  c->exitinfo1 = err;
  c->exitinfo2 = c->exitintinfo = 0;
  return reflect_to_l1(v, e);
}

// L0 finished an instruction of L2's with TF set (or an I/O breakpoint hit,
// step.c): the #DB trap is L2's exception; if L1 intercepts #DB it gets the
// exit instead of L2 getting the event, after DR6 took the bits (AMD updates
// DR6 before an intercepted #DB exits; KVM does the same,
// nested_svm_inject_exception_vmexit). The exit is made before L2's next
// entry (nested_check_events). 1 if so.
int nested_db_trap(struct vcpu *v, uint64 dr6_bits)
{
  if (!nested_guest_mode(v) || !((v->nested->vmcb12->control.intercepts[INTERCEPT_WORD_EXC] >> 1) & 1))
    return 0;
  v->vmcb->save.dr6 |= dr6_bits;
  v->nested->db_trap_pending = 1;
  return 1;
}

// L2 writes CR0 and L0 took the exit for its own reasons (cr0.c's guard):
// if L1 asked for the selective CR0 write intercept and the write changes a
// bit other than TS and MP, it is L1's exit SVM_EXIT_CR0_SEL_WRITE
// (§15.9.1; CLTS never is; LMSW only its four bits, with PE sticky, as the
// instruction itself; KVM svm_check_intercept). Checked before the write's
// own #GP checks: an intercept comes before operand-value exceptions (§15.7).
// -1: not L1's; else the handler's result. cr0.c's guard now uses the
// selective intercept itself, so with L1's bit in vmcb02 such a write exits
// as SVM_EXIT_CR0_SEL_WRITE and nested_exit_wanted gives it to L1 before any
// handler runs: this is for a full CR0 write exit taken for L0's sake.
int nested_cr0_sel_write(struct vcpu *v, struct vm_exit *e, uint64 val, int clts)
{
  if (!nested_guest_mode(v) || clts ||
      !(v->nested->vmcb12->control.intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_CR0_SEL) ||
      !((v->vmcb->save.cr0 ^ val) & ~(uint64)(CR0_TS | CR0_MP)))
    return -1;
  struct vmcb_control *c = &v->vmcb->control;
  c->exitcode = SVM_EXIT_CR0_SEL_WRITE;
  c->exitinfo1 = c->exitinfo2 = c->exitintinfo = 0;   // no decode assists offered
  return reflect_to_l1(v, e);
}

int nested_check_events(struct vcpu *v)
{
  int r = nested_events(v);
  // The software interrupt L2 is about to be given through EVENTINJ (L1's,
  // from vmcb12): if an exit of L0's cuts its delivery short, it must be
  // given again (nested_exit); run.c drops type-4 events from EXITINTINFO
  // because an INT instruction raises them again, but there is none here.
  if (nested_guest_mode(v)) {
    uint64 inj = v->vmcb->control.eventinj;
    v->nested->entry_soft = (inj & SVM_EVTINJ_VALID) && (inj & SVM_EVTINJ_TYPE_MASK) == SVM_EVTINJ_TYPE_SOFT ? inj : 0;
  }
  return r;
}

// An exit while L2 runs (after svm_after_exit). 1: done, re-enter (L2, or L1
// after a reflected exit); 0: *e filled for user space; -1: L0's own
// handlers take it and L2 resumes.
int nested_exit(struct vcpu *v, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  struct vmcb_control *c = &v->vmcb->control;
  uint64 code = c->exitcode;
  n->run_pending = 0;
  // QEMU 7.2 reports a virtual interrupt (L1's V_IRQ for L2) whose delivery
  // an exit cut short as an exception (type 3) in EXITINTINFO; an exception
  // vector is below 32 (§15.20), so a type-3 event with a higher vector is
  // that interrupt. Given back as an exception, the next VMRUN fails.
  if ((c->exitintinfo & SVM_EVTINJ_VALID) && (c->exitintinfo & SVM_EVTINJ_TYPE_MASK) == SVM_EVTINJ_TYPE_EXEPT &&
      (c->exitintinfo & 0xFF) >= 32) {
    c->exitintinfo = (c->exitintinfo & ~(SVM_EVTINJ_TYPE_MASK | SVM_EVTINJ_VALID_ERR)) | SVM_EVTINJ_TYPE_INTR;
    if (c->eventinj & SVM_EVTINJ_VALID)
      c->eventinj = c->exitintinfo;
  }
  // An injected software interrupt whose delivery this exit interrupted
  // (§15.20: EXITINTINFO) goes in again, as any other event would; if the
  // exit is L1's it sees it in EXITINTINFO instead (nested_vmexit).
  if (n->entry_soft && (c->exitintinfo & SVM_EVTINJ_VALID) && !(c->eventinj & SVM_EVTINJ_VALID) &&
      (c->exitintinfo & 0x7FF) == (n->entry_soft & 0x7FF))
    c->eventinj = c->exitintinfo;
  n->entry_soft = 0;
  if (SVM_EXIT_IS_INVALID(code)) {
    // The CPU refused vmcb02 although vmcb12 passed vmcb_check: QEMU 7.2
    // refuses a few states the APM allows (EFER.LMSLE, an injected exception
    // with vector 31). L1's VMRUN fails as the CPU reported it (run.c has
    // put L2's entry state back into vmcb02).
    static int told;
    if (told++ < 4)
      printf("svm: vcpu %d: the CPU refused L2's state (VMEXIT_INVALID): reported to L1\n", v->id);
    c->exitinfo1 = c->exitinfo2 = c->exitintinfo = c->eventinj = 0;
    e->kexits++;
    return nested_vmexit(v) < 0 ? -1 : 1;
  }
  if (code == SVM_EXIT_NPF && (n->vmcb12->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE)) {
    int r = nested_npt_fault(v, e);   // fills the shadow, or reflects L1's own NPF
    if (r >= 0)
      return r;
    // L2 reached a device of L1's through L1's table (kvm-unit-tests' L2
    // programs L1's local APIC so): L0's NPF at L1's address, the VMM
    // emulates the instruction with L2's registers and page tables
    // (guestmem.c translates L2's addresses), as it does without L1's NP.
    if (r == -2) {
      n->nl0++;
      return -1;
    }
    svm_exit_record(v, e, VM_EXIT_UNKNOWN);
    printf("svm: vcpu %d: L2's nested page fault at 0x%lx could not be handled\n", v->id, c->exitinfo2);
    return 0;
  }
  if (nested_exit_wanted(v)) {
    return reflect_to_l1(v, e);
  }
  n->nl0++;
  if (code == SVM_EXIT_VMLOAD || code == SVM_EXIT_VMSAVE || code == SVM_EXIT_INVLPGA)
    return l2_svm_insn(v, e, code);
  if (code == SVM_EXIT_READ_CR0 + 8 && l2_cr8_is_l1s(v))
    return l2_cr8_read(v, e);
  // VMMCALL raises #UD when not intercepted (§15.7). VMRUN, CLGI, STGI and
  // SKINIT that L1 does not intercept would act on L2's own SVM, a third
  // level, not offered: #UD. L0 must not run them for L1.
  if (code == SVM_EXIT_VMMCALL || (code >= SVM_EXIT_VMRUN && code <= SVM_EXIT_SKINIT))
    return svm_inject_fault(v, e, 6, 0);
  return -1;
}

// Guest control-register writes the kernel checks and emulates: CR0 writes
// of long-mode guests (below) and every MOV to CR8 (cr8_write_interception).
//
// Why: QEMU 7.2 lets a guest clear CR0.PG in 64-bit mode, where the CPU
// raises #GP (APM Vol. 2 §14.7 "Leaving Long Mode"; MOV CRn in Vol. 3). The
// guest is then in 32-bit mode with EFER.LME=1 and paging off, may clear
// CR4.PAE too, and at the next #VMEXIT QEMU cannot give the host its paging
// back: it reloads the host's CR0 while the guest's CR4 (no PAE) and EFER
// (LME) are still in place and refuses to turn paging on, so the host CPU
// runs on without paging (user/guests/hostile_lmexit.S). The kernel keeps
// the invariant "EFER.LME=1 in a VMCB => CR0.PG=1": vcpu_setregs refuses
// LME without PG (sysvm.c); a guest WRMSR setting LME with paging off, the
// first step into long mode, is only noted (v->lme_pending, run.c efer_msr)
// and the VMCB's LME stays clear until the guest's CR0 write that turns
// paging on, which sets LME and LMA with it (or is #GP without CR4.PAE, as
// on a CPU, §14.6.1); while LME=1 or pending every CR0 write that changes a
// bit other than TS and MP exits here (MOV CR0 and LMSW; the selective
// intercept, svm_cr0_guard). QEMU has no decode assists, so the instruction
// is fetched from guest memory and decoded (guestmem.c). A write that clears PG,
// sets reserved bits, PG without PE or NW without CD is #GP(0); other ones
// are applied and RIP moves past the instruction. Deviation: the CPU lets
// compatibility-mode code leave long mode; svmlab does not (#GP).
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"
#include "../lib/string.h"

#define CR0_RESERVED 0xFFFFFFFF00000000UL

// Decodes the CR0 write at RIP (guestmem.c fetches it): *val = the new CR0,
// *len = its length, *clts = whether it is CLTS. 0, or -1 for anything but
// MOV to CR0, CLTS and register LMSW.
static int decode(struct vcpu *v, uint64 *val, uint32 *len, int *clts)
{
  struct svm_insn d;
  uint64 cr0 = v->vmcb->save.cr0;
  if (svm_decode_0f(v, &d) < 0)
    return -1;
  if (d.op == 0x06) {                                   // CLTS
    *val = cr0 & ~CR0_TS;
  } else if (d.op == 0x22 && d.reg == 0) {              // MOV CR0, reg
    *val = svm_guest_64bit(v) ? svm_gpr(v, d.rm) : (uint32)svm_gpr(v, d.rm);
  } else if (d.op == 0x01 && (d.reg & 7) == 6 && d.mod == 3) {   // LMSW reg: PE can be set, not cleared
    *val = (cr0 & ~0xEUL) | (svm_gpr(v, d.rm) & 0xF);
  } else {
    return -1;
  }
  *len = d.len;
  *clts = d.op == 0x06;
  return 0;
}

static int inject_gp(struct vcpu *v, struct vm_exit *e) { return svm_inject_fault(v, e, 13, 1); }

// MOV to CR8 (64-bit mode: REX.R with CR0's encoding, 0F 22 /0): the new
// TPR class in V_TPR. The write is intercepted although V_INTR_MASKING makes
// CR8 writes go to V_TPR by themselves: QEMU 7.2 aborts (an assertion about
// its I/O thread lock in tcg_handle_interrupt) when a guest writes CR8 while
// a V_IRQ is pending, as it is while our interrupt window is open; and a
// lowered TPR may unblock an interrupt the VMM's LAPIC holds back, so the
// VMM must look again (VM_EXIT_TPR; KVM intercepts CR8 writes for that reason
// too, update_cr8_intercept). Reads stay unintercepted: they return V_TPR.
int cr8_write_interception(struct vcpu *v, struct vm_exit *e)
{
  struct svm_insn d;
  if (svm_decode_0f(v, &d) < 0 || d.op != 0x22 || d.reg != 8)
    return inject_gp(v, e);   // only MOV CR8, reg writes CR8 (AMD's LOCK MOV CR0 alias is not offered)
  uint64 val = svm_gpr(v, d.rm);
  if (val > 15)
    return inject_gp(v, e);   // CR8 bits 63:4 are reserved
  struct vmcb_control *c = &v->vmcb->control;
  uint64 old = c->int_ctl & 0xF;
  c->int_ctl = (c->int_ctl & ~0xFUL) | val;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
  int l1old = nested_cr8_write(v, val);   // lab 9: L2's CR8 may be L1's TPR
  if (l1old >= 0)
    old = l1old;
  if (val >= old)
    return svm_emulated(v, e, d.len);
  svm_skip_insn(v, d.len);
  svm_exit_record(v, e, VM_EXIT_TPR);
  return 0;
}

// SVM_EXIT_WRITE_CR0 handler (run.c's table; the selective intercept's
// SVM_EXIT_CR0_SEL_WRITE comes here too, run.c): 1, the guest runs on.
int cr0_write_interception(struct vcpu *v, struct vm_exit *e)
{
  struct vmcb_save *s = &v->vmcb->save;
  uint64 val;
  uint32 len;
  int clts;
  if (decode(v, &val, &len, &clts) < 0)
    return inject_gp(v, e);   // a CR0 write we cannot decode (LMSW from memory) is refused
  int r = nested_cr0_sel_write(v, e, val, clts);   // lab 9: L2's write, L1's selective intercept
  if (r >= 0)
    return r;
  if ((val & CR0_RESERVED) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)) ||
      ((s->efer & EFER_LMA) && !(val & CR0_PG)))
    return inject_gp(v, e);
  if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && v->lme_pending) {
    if (!(s->cr4 & CR4_PAE))
      return inject_gp(v, e);   // long mode needs PAE (§14.6.1)
    s->efer |= EFER_LME | EFER_LMA;   // long mode is active from this write on
    v->lme_pending = 0;
    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;   // paging changed under the guest
  }
  s->cr0 = val;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_CR);
  return svm_emulated(v, e, len);
}

// Sets the bits `mask` of intercept word `word` to `want`.
static void set_intercepts(struct vcpu *v, int word, uint32 mask, uint32 want)
{
  struct vmcb_control *c = &v->vmcb->control;
  if ((c->intercepts[word] & mask) != want) {
    c->intercepts[word] = (c->intercepts[word] & ~mask) | want;
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  }
}

// Before each VMRUN: while EFER.LME=1 or pending, CR0 writes that change a
// bit other than TS and MP exit, through the selective CR0 write intercept
// (APM Vol. 2 §15.9.1 "Selective CR0 Write Intercept"; CLTS never triggers
// it). That catches every write the handler refuses or acts on: clearing
// PG, setting PG (the step into long mode), reserved bits, NW, PE; a write
// that changes only TS or MP is legal in every mode and needs no check, and
// the guest's FPU switches (CLTS, TS on) then cost no exit.
void svm_cr0_guard(struct vcpu *v)
{
  uint32 sel = ((v->vmcb->save.efer & EFER_LME) || v->lme_pending) ? INTERCEPT_CR0_SEL : 0;
  // lab 9: on vmcb02 L1's own CR0 write intercepts stay (an L2 entering long
  // mode by itself needs L1's cr0.c as much as L1 needs this one); merged
  // from vmcb01, L0's bits for L1 are recomputed here for L2
  uint32 all = nested_l1_intercepts(v, INTERCEPT_WORD_CR) & INTERCEPT_CR_WRITE(0);
  sel |= nested_l1_intercepts(v, INTERCEPT_WORD_MISC1) & INTERCEPT_CR0_SEL;
  set_intercepts(v, INTERCEPT_WORD_CR, INTERCEPT_CR_WRITE(0), all);
  set_intercepts(v, INTERCEPT_WORD_MISC1, INTERCEPT_CR0_SEL, sel);
}

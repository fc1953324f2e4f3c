// Lab 9 (nested), infrastructure: L1's CLGI and STGI without exits, by the
// CPU's virtual GIF (APM Vol. 2 §15.33.2 "Virtual GIF"). With V_GIF_ENABLE
// in int_ctl and the CLGI/STGI intercepts clear, the CPU runs L1's CLGI and
// STGI by clearing and setting V_GIF (int_ctl bit 9) instead of exiting.
// svmlab as L1 runs both around every exit of L2's: two world switches to
// L0 each saved (KVM svm.c does the same with its vgif option).
//
// The kernel's idea of L1's GIF stays nested_svm.gif, which every reader
// (nested_blocks_irq, nested_blocks_nmi, nested_has_events) and writer
// (emulated VMRUN and #VMEXIT, intercepted CLGI/STGI) keeps using: it is
// copied into V_GIF before each entry of L1 on vmcb01 and back after each
// exit. vmcb02 never has V_GIF_ENABLE (L2's CLGI/STGI stay intercepted).
//
// An interrupt or NMI waiting for L1's GIF needs L0 to see STGI: the STGI
// intercept stays on then (KVM intercepts STGI for a waiting NMI). A CPU
// lets an L1 without EFER.SVME, or in real mode, #UD on CLGI/STGI; vmcb01
// always has SVME (VMRUN needs it), so L0 keeps both intercepted until L1
// has SVME and CR0.PE and emulates the checks (nested_svm_insn).
//
// Virtual VMLOAD/VMSAVE (§15.33.1) is not used: QEMU 7.2's CPU model does
// not offer it (CPUID 8000_000Ah EDX bit 15 clear) and QEMU then runs an
// unintercepted VMLOAD/VMSAVE of a guest with nested paging on the *host*
// physical address in rAX; L0 must keep intercepting them.
//
// `nested_vgif=0` on the kernel cmdline keeps both intercepted, as without
// the feature (the lab 9 grader boots one test so).
#include "defs.h"
#include "svm/nested.h"
#include "../lib/string.h"

static int vgif_wanted(void)
{
  static int wanted = -1;   // computed once; a race computes the same value
  if (wanted >= 0)
    return wanted;
  char buf[4];
  int w = svm_has(SVM_FEAT_VGIF);
  if (cmdline_get("nested_vgif", buf, sizeof buf))
    w = w && strcmp(buf, "0") != 0;
  wanted = w;
  return w;
}

// Before L1's entry on vmcb01 (interrupts off, after the kernel decided what
// to inject): hand L1's GIF to the CPU when it can run CLGI/STGI itself.
// Returns 1 if vmcb01 runs with V_GIF_ENABLE (nested_vgif_exit reads it).
int nested_vgif_enter(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  if (!n || n->guest_mode)
    return 0;
  struct vmcb_control *c = &v->vmcb->control;
  uint32 before = c->intercepts[INTERCEPT_WORD_MISC2], misc2 = before | INTERCEPT_CLGI | INTERCEPT_STGI;
  uint64 ctl = c->int_ctl;
  c->int_ctl &= ~(V_GIF_ENABLE | V_GIF);
  int on = vgif_wanted() && n->svme && (v->vmcb->save.cr0 & CR0_PE);
  if (on) {
    int waits = !n->gif && ((v->irq_line && !v->irq_acked) || v->nmi_pending);
    misc2 &= ~INTERCEPT_CLGI;
    if (!waits)
      misc2 &= ~INTERCEPT_STGI;
    c->int_ctl |= V_GIF_ENABLE | (n->gif ? V_GIF : 0);
  }
  c->intercepts[INTERCEPT_WORD_MISC2] = misc2;
  if (misc2 != before)
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  if (c->int_ctl != ctl)
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
  return on;
}

// After L1's exit from vmcb01 entered with V_GIF_ENABLE: its CLGI/STGI may
// have changed V_GIF; that is L1's GIF now. vmcb01 gets both intercepts and
// no V_GIF_ENABLE back, so that outside the entry it looks as without the
// feature (vmcb02 is built from it, the VMM may read it).
void nested_vgif_exit(struct vcpu *v, int on)
{
  if (!on)
    return;
  struct vmcb *vmcb = v->vmcb01.ptr;
  v->nested->gif = (vmcb->control.int_ctl & V_GIF) != 0;
  vmcb->control.int_ctl &= ~(V_GIF_ENABLE | V_GIF);
  vmcb->control.intercepts[INTERCEPT_WORD_MISC2] |= INTERCEPT_CLGI | INTERCEPT_STGI;
  vmcb_mark_dirty(vmcb, VMCB_CLEAN_INTERCEPTS);
  vmcb_mark_dirty(vmcb, VMCB_CLEAN_INTR);
}

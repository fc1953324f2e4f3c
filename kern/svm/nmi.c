// NMIs for the guest, with the blocking a CPU does (KVM svm.c without vNMI:
// svm_inject_nmi, iret_interception, svm_enable_nmi_window, the
// awaiting_iret_completion check in svm_complete_interrupts).
//
// A CPU that takes an NMI blocks further NMIs until the handler's IRET has
// completed; one NMI arriving meanwhile stays pending, more are lost (APM
// Vol. 2 §8.2.3 "Non-Maskable-Interrupt Exception (Vector 2)"). EVENTINJ
// delivers an NMI whenever we put it there (§15.20 "Event Injection"), and
// QEMU has no vNMI to track the blocking (§15.21.10), so we do:
//   - vcpu_inject(VM_EVENT_NMI) -- the VMM's own NMIs and its local APIC's
//     (ICR, LINT1) -- only counts the NMI in nmi_pending (at most one behind
//     one in progress, as KVM's process_nmi);
//   - before each entry a pending NMI goes into EVENTINJ if the guest can
//     take it: not blocked, not in an interrupt shadow, EVENTINJ free. That
//     blocks NMIs (nmi_masked) and intercepts IRET (§15.9 "Instruction
//     Intercepts");
//   - the IRET exit comes before IRET runs: NMIs stay blocked until RIP has
//     moved past it (nmi_awaiting_iret), seen at a later exit;
//   - if an NMI is pending but cannot go in, we make the guest exit as soon
//     as it could: the IRET intercept while blocked; one instruction of
//     single-step (TF, #DB intercepted) to get past the IRET or a shadow;
//     an IPI that forces an exit right after EVENTINJ's event is delivered
//     (the same trick as svm_exit_after_intr, irq.c);
//   - an NMI whose delivery an exit cut short comes back from EXITINTINFO
//     (svm_after_exit) with NMIs still blocked: it was injected by us.
// The single-step is invisible to the guest: its TF and DR6 are restored at
// the #DB exit, and a #DB that was its own (TF set before the instruction,
// or a breakpoint) is given to it.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "trap.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"

#define DR6_BS (1UL << 14)
#define DR6_BREAKPOINTS 0xFUL   // B0..B3
#define EVTINJ_NMI (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2)
#define EVTINJ_DB (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1)
#define DB_INTERCEPT INTERCEPT_EXC(1)

static int evtinj_busy(struct vcpu *v) { return (v->vmcb->control.eventinj & SVM_EVTINJ_VALID) != 0; }

static int evtinj_type(uint64 inj) { return inj & SVM_EVTINJ_TYPE_MASK; }

// vcpu_inject(VM_EVENT_NMI): one more NMI for the guest. NMIs beyond the one
// a CPU latches are lost, as on a CPU: never an error.
void vcpu_queue_nmi(struct vcpu *v)
{
  int busy = v->nmi_masked || evtinj_type(v->vmcb->control.eventinj) == SVM_EVTINJ_TYPE_NMI;
  int limit = busy ? 1 : 2;   // one delivered at once, one latched behind it
  if (v->nmi_pending < limit)
    v->nmi_pending++;
}

// 1 if the guest is in an interrupt shadow: the instruction after STI or
// MOV SS has not completed yet. An NMI is not injected there (KVM's
// svm_nmi_blocked; kvm-unit-tests' apic "nmi-after-sti"), although the CPU
// would deliver EVENTINJ's event in a shadow (APM Vol. 2 §15.20 "Event
// Injection"; §15.21.5 "Interrupt Shadows": INTERRUPT_SHADOW says so).
// QEMU 7.2 forgets the shadow at VMRUN and so reports none at an exit that
// came before the guest ran an instruction (a host interrupt pending at
// VMRUN): the shadow we entered with still holds then (nmi_shadow).
static int in_shadow(struct vcpu *v)
{
  return (v->vmcb->control.int_state & SVM_INTERRUPT_SHADOW) ||
         (v->nmi_shadow && v->vmcb->save.rip == v->nmi_shadow_rip);
}

// 1 if the guest cannot take an NMI now (KVM svm_nmi_blocked).
static int nmi_blocked(struct vcpu *v)
{
  return v->nmi_masked || in_shadow(v) || evtinj_busy(v);
}

// 1 if a halted vcpu has something of ours to deliver (halt.c).
int svm_events_waiting(struct vcpu *v)
{
  return v->held_event || (v->nmi_pending && !v->nmi_masked);
}

static void set_intercept(struct vcpu *v, int word, uint32 bit, int on)
{
  struct vmcb_control *c = &v->vmcb->control;
  if (!on)   // lab 9: on vmcb02, an intercept L1 asked for stays
    bit &= ~nested_l1_intercepts(v, word);
  uint32 want = on ? (c->intercepts[word] | bit) : (c->intercepts[word] & ~bit);
  if (want != c->intercepts[word]) {
    c->intercepts[word] = want;
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  }
}

// Before each entry (IF=0), ahead of the external interrupt line: an event
// held behind a #DB trap (step.c), then a pending NMI, into EVENTINJ.
void svm_inject_nmi(struct vcpu *v)
{
  svm_release_held_event(v);
  if (v->nmi_pending && !nmi_blocked(v) && !nested_blocks_nmi(v)) {   // lab 9: GIF, L1's NMI exit
    v->vmcb->control.eventinj = EVTINJ_NMI;
    v->nmi_pending--;
    v->nmi_masked = 1;
    v->nnmis++;
  }
  set_intercept(v, INTERCEPT_WORD_MISC1, INTERCEPT_IRET, v->nmi_masked && !v->nmi_awaiting_iret);
}

// One instruction of single-step: TF on, #DB intercepted (KVM's
// nmi_singlestep). The guest's TF and DR6 are kept to be restored.
static void nmi_step_arm(struct vcpu *v)
{
  struct vmcb_save *s = &v->vmcb->save;
  v->nmi_step = 1;
  v->nmi_step_rflags = s->rflags;
  v->nmi_step_rip = s->rip;
  v->nmi_step_dr6 = s->dr6;
  v->nmi_step_db_ours = !(v->vmcb->control.intercepts[INTERCEPT_WORD_EXC] & DB_INTERCEPT);
  set_intercept(v, INTERCEPT_WORD_EXC, DB_INTERCEPT, 1);
  s->rflags |= FL_TF;
}

// Right before VMRUN, after the line's injection (IF=0, v on cpu): if an NMI
// still waits, make the guest exit at the first point it could take it.
void svm_nmi_window(struct vcpu *v, int cpu)
{
  v->nmi_shadow = in_shadow(v);   // what the next exit must remember if no instruction ran
  v->nmi_shadow_rip = v->vmcb->save.rip;
  if (!v->nmi_pending && !v->held_event)
    return;
  if (evtinj_busy(v)) {   // the exit right after this delivery
    if (evtinj_type(v->vmcb->control.eventinj) != SVM_EVTINJ_TYPE_INTR)   // (that one IPIs already)
      lapic_ipi(cpus[cpu].apicid, T_IPI_REEXIT);
    return;
  }
  if (v->nmi_masked && !v->nmi_awaiting_iret)
    return;   // the IRET intercept is the window
  nmi_step_arm(v);   // past the IRET, or out of the shadow
}

// The #DB exit of our single-step: the stepped instruction is done. A #DB
// the guest would have had anyway goes to the guest.
static void nmi_step_db(struct vcpu *v)
{
  struct vmcb_save *s = &v->vmcb->save;
  uint64 dr6 = s->dr6;
  int guests = (v->nmi_step_rflags & FL_TF) || (dr6 & ~v->nmi_step_dr6 & DR6_BREAKPOINTS);
  if (guests) {
    v->vmcb->control.eventinj = EVTINJ_DB;   // EVENTINJ was free: we step only then
  } else {
    s->dr6 = v->nmi_step_dr6;
  }
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_DR);
}

// After each #VMEXIT, before the exit is handled: undo the single-step and
// see whether NMIs are unblocked. Returns 1 if the exit was ours (IRET, or
// the single-step #DB) and the guest just runs on.
int svm_nmi_after_exit(struct vcpu *v, struct vm_exit *e)
{
  struct vmcb_control *c = &v->vmcb->control;
  struct vmcb_save *s = &v->vmcb->save;
  int mine = 0;
  if (v->nmi_step) {
    v->nmi_step = 0;
    if (v->nmi_step_db_ours)
      set_intercept(v, INTERCEPT_WORD_EXC, DB_INTERCEPT, 0);
    // An IRET that ran replaced RFLAGS with the image it popped; otherwise
    // the guest gets its own TF back.
    int ran = s->rip != v->nmi_step_rip;
    if (!(ran && v->nmi_awaiting_iret))
      s->rflags = (s->rflags & ~FL_TF) | (v->nmi_step_rflags & FL_TF);
    if (c->exitcode == SVM_EXIT_EXCP_BASE + 1 && !(c->exitintinfo & SVM_EVTINJ_VALID)) {
      nmi_step_db(v);
      mine = 1;
      v->nmi_shadow = 0;   // the stepped instruction completed: the shadow is over
    }
  }
  if (s->rip != v->nmi_shadow_rip)
    v->nmi_shadow = 0;   // an instruction or an event moved RIP
  if (v->nmi_awaiting_iret && s->rip != v->nmi_iret_rip) {
    v->nmi_awaiting_iret = 0;   // the IRET completed (KVM's RIP test)
    v->nmi_masked = 0;
  }
  if (evtinj_type(c->eventinj) == SVM_EVTINJ_TYPE_NMI && (c->eventinj & SVM_EVTINJ_VALID))
    v->nmi_masked = 1;   // re-queued from EXITINTINFO: still the one in progress
  if (c->exitcode == SVM_EXIT_IRET) {
    if (v->nmi_masked) {
      v->nmi_awaiting_iret = 1;   // it runs once we re-enter; NMIs stay blocked until it did
      v->nmi_iret_rip = s->rip;
    }
    mine = 1;
  }
  v->exit_rflags = s->rflags;
  if (mine)
    e->kexits++;
  return mine;
}

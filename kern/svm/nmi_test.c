// ktest=nmi_step: the NMI blocking (nmi.c) and the finished-instruction
// rules (step.c) on a vcpu that never runs, exits simulated by writing the
// VMCB as the CPU would: the decisions themselves, including the single-step
// that a guest never sees.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "ktest.h"
#include "errno.h"
#include "trap.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define EVT_NMI (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2)
#define EVT_DB (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1)
#define EVT_INTR (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x40)
#define DR6_INIT 0xFFFF0FF0UL
#define DR6_BS (1UL << 14)

static int iret_intercepted(struct vcpu *v)
{
  return (v->vmcb->control.intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_IRET) != 0;
}

static int db_intercepted(struct vcpu *v)
{
  return (v->vmcb->control.intercepts[INTERCEPT_WORD_EXC] & INTERCEPT_EXC(1)) != 0;
}

// An exit as svm_after_exit leaves it: code, RIP, EVENTINJ re-queued or 0.
static int exit_at(struct vcpu *v, uint64 code, uint64 rip, uint64 requeued)
{
  struct vm_exit e = {0};
  v->vmcb->control.exitcode = code;
  v->vmcb->control.exitintinfo = requeued;
  v->vmcb->control.eventinj = requeued;
  v->vmcb->save.rip = rip;
  return svm_nmi_after_exit(v, &e);
}

static void window(struct vcpu *v)
{
  pushcli();
  svm_nmi_window(v, cpuid_self());
  popcli();
}

// Entered in a shadow at 0x1400 with an NMI pending; QEMU 7.2 then reports
// no shadow at an exit that came before the guest ran an instruction.
static void check_shadow_kept(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  struct vm_event nmi = {VM_EVENT_NMI, 2, 0, 0};
  v->vmcb->save.dr6 = DR6_INIT;
  window(v);
  c->int_state = 0;
  exit_at(v, SVM_EXIT_INTR, 0x1400, 0);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == 0, "an exit before the instruction in the shadow ran, no shadow reported: still no NMI");
  window(v);
  KCHECK(v->nmi_step, "and single-step again");
  v->vmcb->save.dr6 = DR6_INIT | DR6_BS;
  exit_at(v, SVM_EXIT_EXCP_BASE + 1, 0x1400, 0);   // it ran (a jump to itself)
  svm_inject_nmi(v);
  KCHECK(c->eventinj == EVT_NMI, "the step's #DB: that instruction completed, the NMI goes in (0x%lx)", c->eventinj);
  c->eventinj = 0, v->nmi_masked = 0;
  c->int_state = SVM_INTERRUPT_SHADOW;
  vcpu_inject_event(v, &nmi);
  window(v);
  c->int_state = 0;
  exit_at(v, SVM_EXIT_INTR, 0x1402, 0);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == EVT_NMI, "entered in a shadow, RIP moved at the exit: the NMI goes in (0x%lx)", c->eventinj);
  c->eventinj = 0, v->nmi_masked = 0;
  c->int_state = SVM_INTERRUPT_SHADOW;
  vcpu_inject_event(v, &nmi);
}

static void check_nmi(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  struct vm_event nmi = {VM_EVENT_NMI, 2, 0, 0};
  int r = vcpu_inject_event(v, &nmi) | vcpu_inject_event(v, &nmi) | vcpu_inject_event(v, &nmi);
  KCHECK(r == 0 && v->nmi_pending == 2, "three NMIs at once: never -EBUSY (%d), two kept (%d)", r, v->nmi_pending);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == EVT_NMI && v->nmi_masked && v->nmi_pending == 1 && iret_intercepted(v),
         "an NMI goes in, blocks NMIs and intercepts IRET (eventinj 0x%lx, masked %d, pending %d)", c->eventinj,
         v->nmi_masked, v->nmi_pending);
  r = exit_at(v, SVM_EXIT_NPF, 0x1000, EVT_NMI);
  KCHECK(r == 0 && v->nmi_masked && c->eventinj == EVT_NMI,
         "an NMI cut short comes back from EXITINTINFO with NMIs still blocked");
  r = exit_at(v, SVM_EXIT_CPUID, 0x1100, 0);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == 0 && v->nmi_pending == 1, "no second NMI inside the handler (eventinj 0x%lx)", c->eventinj);
  r = exit_at(v, SVM_EXIT_IRET, 0x1200, 0);
  KCHECK(r == 1 && v->nmi_awaiting_iret && v->nmi_masked, "the IRET exit: NMIs still blocked until it ran");
  svm_inject_nmi(v);
  KCHECK(c->eventinj == 0 && !iret_intercepted(v), "at the IRET: nothing injected, IRET intercept off");
  v->vmcb->save.dr6 = DR6_INIT;
  window(v);
  KCHECK(v->nmi_step && (v->vmcb->save.rflags & FL_TF) && db_intercepted(v),
         "an NMI waits behind the IRET: one instruction of single-step (TF, #DB intercepted)");
  v->vmcb->save.rflags = FL_RSVD1;   // the IRET popped the interrupted RFLAGS
  v->vmcb->save.dr6 = DR6_INIT | DR6_BS;   // the CPU's single-step
  r = exit_at(v, SVM_EXIT_EXCP_BASE + 1, 0x1300, 0);
  KCHECK(r == 1 && !v->nmi_masked && !v->nmi_step && !db_intercepted(v) && c->eventinj == 0,
         "the step's #DB: consumed, NMIs unblocked, #DB intercept off, nothing given to the guest");
  KCHECK(v->vmcb->save.dr6 == DR6_INIT && !(v->vmcb->save.rflags & FL_TF),
         "the step leaves the guest's DR6 (0x%lx) and TF alone", v->vmcb->save.dr6);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == EVT_NMI && v->nmi_pending == 0 && v->nmi_masked, "then the held NMI goes in");
  c->eventinj = 0;
  v->nmi_masked = 0;
  c->int_state = SVM_INTERRUPT_SHADOW;
  vcpu_inject_event(v, &nmi);
  svm_inject_nmi(v);
  KCHECK(c->eventinj == 0, "no NMI in an interrupt shadow");
  window(v);
  KCHECK(v->nmi_step, "an NMI behind a shadow: single-step");
  r = exit_at(v, SVM_EXIT_CPUID, 0x1400, 0);   // the shadowed instruction exited before it ran
  KCHECK(r == 0 && !(v->vmcb->save.rflags & FL_TF) && v->exit_rflags == v->vmcb->save.rflags,
         "an exit before the step ran: the guest's TF back before the handler sees RFLAGS");
  check_shadow_kept(v);
  c->int_state = 0;
  v->halted = 1;
  KCHECK(svm_events_waiting(v), "a deliverable NMI wakes a halted vcpu");
  v->nmi_masked = 1;
  KCHECK(!svm_events_waiting(v), "a blocked one does not");
  v->halted = 0, v->nmi_masked = 0, v->nmi_pending = 0;
}

static void check_step(struct vcpu *v)
{
  struct vmcb *m = v->vmcb;
  m->save.rip = 0x2000;
  m->save.dr6 = DR6_INIT;
  m->control.int_state = SVM_INTERRUPT_SHADOW;
  svm_insn_done(v, 0x2002, FL_RSVD1);
  KCHECK(m->save.rip == 0x2002 && m->control.int_state == 0 && m->control.eventinj == 0 && m->save.dr6 == DR6_INIT,
         "finished without TF: RIP moved, shadow over, no #DB");
  svm_insn_done(v, 0x2004, FL_RSVD1 | FL_TF);
  KCHECK(m->control.eventinj == EVT_DB && (m->save.dr6 & DR6_BS) && m->save.rip == 0x2004,
         "finished with TF: a #DB trap after it, DR6.BS (eventinj 0x%lx, dr6 0x%lx)", m->control.eventinj, m->save.dr6);
  m->control.eventinj = EVT_INTR;
  svm_insn_done(v, 0x2006, FL_RSVD1 | FL_TF);
  struct vm_event ex = {VM_EVENT_EXCEPTION, 6, 0, 0};
  KCHECK(m->control.eventinj == EVT_DB && v->held_event == EVT_INTR && vcpu_inject_event(v, &ex) == -EBUSY,
         "an event queued to follow the instruction waits behind its #DB");
  m->control.eventinj = 0;   // the #DB was delivered
  svm_inject_nmi(v);
  KCHECK(m->control.eventinj == EVT_INTR && v->held_event == 0, "then it goes in (eventinj 0x%lx)",
         m->control.eventinj);
  m->control.eventinj = 0;
}

// The guest breakpoints svm_dr_arm leaves off for the world switch: those
// on host memory it (or an NMI in its window) touches. A guest address that
// is none of these stays armed.
static void check_dr_switch(struct vcpu *v)
{
  extern void trap(struct trapframe *);
  struct { const char *what; uint64 addr; int armed; } cases[] = {
    {"a guest address (0x7000)", 0x7000, 1},
    {"the kernel's trap()", (uint64)trap, 0},
    {"the vcpu itself", (uint64)v + 8, 0},
    {"its VMCB", (uint64)v->vmcb + 0x400, 0},
    {"this CPU's NMI stack", mycpu()->ts.ist[IST_NMI - 1] - 8, 0},
    {"this CPU's #MC stack", mycpu()->ts.ist[IST_MC - 1] - 64, 0},
  };
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    v->dr[0] = cases[i].addr;
    v->vmcb->save.dr7 = 0x400 | 0x2 | (3UL << 16) | (3UL << 18);   // G0, R/W 11, LEN 11
    uint64 dr7 = svm_dr7_for_switch(v);
    KCHECK(((dr7 & 3) != 0) == cases[i].armed, "DR0 on %s (0x%lx): %s for the switch (DR7 0x%lx)",
           cases[i].what, cases[i].addr, cases[i].armed ? "armed" : "left off", dr7);
  }
  v->dr[0] = 0;
  v->vmcb->save.dr7 = 0x400;
}

KTEST(nmi_step)
{
  struct vcpu *v = vcpu_alloc();
  KCHECK(v != NULL, "a vcpu");
  if (!v)
    return;
  v->vmcb->save.rflags = FL_RSVD1;
  check_nmi(v);
  check_step(v);
  check_dr_switch(v);
  vcpu_free(v);
}

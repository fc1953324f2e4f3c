// Event injection for vcpu_inject (APM Vol. 2 §15.20 "Event Injection",
// §15.21.4 "Injecting Virtual (INTR) Interrupts") and the intercepts the
// kernel insists on whatever the VMM wants (NOVA style).
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

// Intercepts the kernel needs to stay in control of the CPU (host interrupts
// and NMIs, triple faults, the SVM instructions, everything the VMM emulates:
// vmcb_required_intercepts), re-applied over whatever the VMM asked for. V_INTR_MASKING makes the guest's IF mask only virtual interrupts,
// so a guest with IF=0 cannot keep a host interrupt from forcing an exit
// (§15.21.1 "Physical (INTR) Interrupt Masking in EFLAGS").
void svm_force_intercepts(struct vmcb *vmcb)
{
  struct vmcb_control *c = &vmcb->control;
  vmcb_required_intercepts(c);   // lab 2's list (vmcb.c): one place says what is required
  c->int_ctl |= V_INTR_MASKING;
  c->intercepts[INTERCEPT_WORD_CR] |= INTERCEPT_CR_WRITE(8);   // cr0.c: cr8_write_interception
  c->intercepts[INTERCEPT_WORD_CR] |= INTERCEPT_CR_WRITE(4);   // cr4.c
  c->intercepts[INTERCEPT_WORD_DR] |= 0x00FF00FF;              // dr.c: DR0-7 reads and writes
  vmcb_mark_all_dirty(vmcb);
}

// Builds the EVENTINJ value for an exception, or returns 0 if ev is invalid.
static uint64 exception_event(const struct vm_event *ev)
{
  if (ev->vector >= 32 || ev->vector == 2)
    return 0;
  uint64 inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | ev->vector;
  if (ev->flags & VM_EVENT_F_ERROR)
    inj |= SVM_EVTINJ_VALID_ERR | ((uint64)ev->error << SVM_EVTINJ_ERR_SHIFT);
  return inj;
}

// Queues ev for the next VMRUN of v. 0, -EINVAL for a bad event, -EBUSY when
// an event of the same kind is already waiting. NMIs are never busy: nmi.c
// holds them back while the guest is in its NMI handler.
int vcpu_inject_event(struct vcpu *v, const struct vm_event *ev)
{
  struct vmcb_control *c = &v->vmcb->control;
  if (ev->flags & ~(VM_EVENT_F_ERROR | VM_EVENT_F_FAULT) || ev->vector > 255)
    return -EINVAL;
  if (ev->type == VM_EVENT_VIRQ) {
    if (ev->vector < 16 || ev->flags)
      return -EINVAL;
    if (c->int_ctl & V_IRQ)
      return -EBUSY;
    c->int_ctl = (c->int_ctl & ~(V_INTR_VECTOR_MASK | V_INTR_PRIO_MASK)) | V_IRQ | V_IGN_TPR |
                 ((uint64)0xF << V_INTR_PRIO_SHIFT) | ((uint64)ev->vector << V_INTR_VECTOR_SHIFT);
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
    return 0;
  }
  if (ev->type == VM_EVENT_NMI) {
    if (ev->flags)
      return -EINVAL;
    vcpu_queue_nmi(v);   // nmi.c: held back while the guest handles one
    return 0;
  }
  uint64 inj;
  if (ev->type == VM_EVENT_INTR)
    inj = ev->vector >= 16 && !ev->flags ? SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | ev->vector : 0;
  else if (ev->type == VM_EVENT_EXCEPTION)
    inj = exception_event(ev);
  else
    inj = 0;
  if (!inj)
    return -EINVAL;
  if ((c->eventinj & SVM_EVTINJ_VALID) || v->held_event)
    return -EBUSY;
  if (ev->flags & VM_EVENT_F_FAULT)
    vcpu_cancel_completion(v);
  c->eventinj = inj;
  return 0;
}

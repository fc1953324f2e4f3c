// The INIT signal's effect on the kernel's side of a vcpu (VM_RUN_INIT,
// kern/vmabi.h). A CPU that receives INIT drops what it was doing: it leaves
// HLT, forgets an event it was about to deliver and any NMI blocking, and
// waits for a startup IPI in its reset state (Intel SDM Vol. 3A §9.1 "INIT"
// and Table 9-1; AMD APM Vol. 2 §16.5 "Interprocessor Interrupts", §14.1.3
// "Processor Initialization State"). The user-space VMM models the INIT-SIPI
// protocol and sets the registers (vcpu_setregs); this clears what only the
// kernel holds, so that the vcpu starts at the SIPI vector instead of going
// on waiting in a HLT or delivering a vector from before the INIT.
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

void vcpu_init_signal(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  v->halted = 0;
  v->pending = 0;              // no completion of the exit before the INIT
  v->irq_acked = 0;
  v->held_event = 0;
  v->nmi_pending = v->nmi_masked = v->nmi_awaiting_iret = 0;
  c->eventinj = 0;             // an event queued for the next entry is lost, as on a CPU
  v->lme_pending = 0;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
}

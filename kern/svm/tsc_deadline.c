// WRMSR IA32_TSC_DEADLINE finished in the kernel (VM_RUN_TSC_DEADLINE,
// kern/vmabi.h). A Linux guest on the TSC-deadline timer (KVM's interface,
// user/vmm/kvmpv.c) writes the MSR once per timer tick; KVM finishes that
// write in its in-kernel LAPIC. Here the LAPIC stays in user space: the
// kernel only stores the value in the exit record, where the VMM's model
// takes it after the run, and makes the run end by that time (its
// deadline), so that the VMM fires the timer when it is due. Mechanism
// only: the VMM asks for it while its LAPIC's timer is in TSC-deadline mode
// (Intel SDM Vol. 3A §10.5.4.1), and every other access to the MSR still
// exits.
#include "defs.h"
#include "x86.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"

#define MSR_TSC_DEADLINE 0x6E0

// clock_ns() at the moment the host's TSC reads t (its own formula, with
// the TSC's rate as ns_to_tsc has it); 0 stays 0 ("none").
static uint64 tsc_ns(uint64 t)
{
  uint64 khz = ns_to_tsc(1000000);
  return t && khz ? t / khz * 1000000 + t % khz * 1000000 / khz : 0;
}

// The run's deadline: the VMM's (e->deadline_ns) or the TSC deadline's
// time, whichever comes first (0: none).
static void set_run_deadline(struct vcpu *v, const struct vm_exit *e)
{
  uint64 d = e->deadline_ns, t = tsc_ns(e->tsc_deadline);
  v->run_deadline = !d ? t : !t ? d : (t < d ? t : d);
}

// At the start of vcpu_run, after vcpu_run_start.
void svm_tsc_deadline_start(struct vcpu *v, struct vm_exit *e)
{
  if (v->run_flags & VM_RUN_TSC_DEADLINE)
    set_run_deadline(v, e);
}

// An MSR exit: 1 if it was a WRMSR of IA32_TSC_DEADLINE the run's flag lets
// the kernel finish (the caller moves RIP past it), else 0. The guest's TSC
// is the host's plus the VMCB's TSC offset (APM Vol. 2 §15.30.5).
int svm_tsc_deadline_write(struct vcpu *v, uint32 msr, int write, struct vm_exit *e)
{
  if (msr != MSR_TSC_DEADLINE || !write || !(v->run_flags & VM_RUN_TSC_DEADLINE) || nested_guest_mode(v))
    return 0;
  uint64 val = (uint64)(uint32)v->gprs.rdx << 32 | (uint32)v->vmcb->save.rax;
  e->tsc_deadline = val ? val - v->vmcb->control.tsc_offset : 0;
  if (val && !e->tsc_deadline)
    e->tsc_deadline = 1;   // "now", not "disarmed"
  e->tsc_deadline_ns = tsc_ns(e->tsc_deadline);
  e->tsc_deadline_writes++;
  e->kexits++;
  set_run_deadline(v, e);
  return 1;
}

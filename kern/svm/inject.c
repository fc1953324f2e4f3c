// Event injection for vcpu_inject (APM Vol. 2 §15.20 "Event Injection",
// §15.21.4 "Injecting Virtual (INTR) Interrupts") and the intercepts the
// kernel insists on whatever the VMM wants (NOVA style).
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

// Intercepts the kernel needs to stay in control of the CPU: host interrupts
// and NMIs, triple faults, the SVM instructions, and everything the VMM
// emulates. V_INTR_MASKING makes the guest's IF mask only virtual interrupts,
// so a guest with IF=0 cannot keep a host interrupt from forcing an exit
// (§15.21.1 "Physical (INTR) Interrupt Masking in EFLAGS").
void svm_force_intercepts(struct vmcb *vmcb)
{
  struct vmcb_control *c = &vmcb->control;
  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SHUTDOWN |
                                         INTERCEPT_CPUID | INTERCEPT_HLT | INTERCEPT_IOIO_PROT |
                                         INTERCEPT_MSR_PROT | INTERCEPT_INVLPGA;
  c->intercepts[INTERCEPT_WORD_MISC2] |= INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD |
                                         INTERCEPT_VMSAVE | INTERCEPT_STGI | INTERCEPT_CLGI |
                                         INTERCEPT_SKINIT;
  c->int_ctl |= V_INTR_MASKING;
  vmcb_mark_all_dirty(vmcb);
}

// Lets the guest read and write msr without an exit. The MSRPM (§15.11 "MSR
// Intercepts") holds 2 bits per MSR (read, then write) for three ranges of
// 8 Ki MSRs: 0000_0000h at byte 0, C000_0000h at 0x800, C001_0000h at 0x1000.
static void msrpm_allow(uint8 *msrpm, uint32 msr)
{
  uint32 base = msr < 0x2000 ? 0 : (msr >> 16) == 0xC000 ? 0x800 : 0x1000;
  uint32 bit = 2 * (msr & 0x1FFF);
  msrpm[base + bit / 8] &= ~(3u << (bit % 8));
}

// The MSRs that VMLOAD/VMSAVE switch need no intercept: the guest has its
// own copies in its VMCB and the host gets its own back (§15.5.2).
void svm_msrpm_passthrough(uint8 *msrpm)
{
  static const uint32 msrs[] = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_FS_BASE, MSR_GS_BASE,
                                MSR_KERNEL_GS_BASE, 0x174, 0x175, 0x176};   // + SYSENTER_CS/ESP/EIP
  for (uint32 i = 0; i < ARRAY_SIZE(msrs); i++)
    msrpm_allow(msrpm, msrs[i]);
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
// an event of the same kind is already waiting.
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
  uint64 inj;
  if (ev->type == VM_EVENT_INTR)
    inj = ev->vector >= 16 && !ev->flags ? SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | ev->vector : 0;
  else if (ev->type == VM_EVENT_EXCEPTION)
    inj = exception_event(ev);
  else if (ev->type == VM_EVENT_NMI)
    inj = ev->flags ? 0 : SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
  else
    inj = 0;
  if (!inj)
    return -EINVAL;
  if (c->eventinj & SVM_EVTINJ_VALID)
    return -EBUSY;
  if (ev->flags & VM_EVENT_F_FAULT)
    vcpu_cancel_completion(v);
  c->eventinj = inj;
  return 0;
}

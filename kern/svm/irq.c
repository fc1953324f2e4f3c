// Lab 5 (irq): delivering the external interrupt line to the guest.
//
// The VMM's PIC model drives one line per vcpu (vcpu_irq, v->irq_line). Right
// before each VMRUN, with interrupts off, the kernel decides (KVM
// vcpu_enter_guest -> inject_pending_event):
//   - an event already in EVENTINJ (one an exit cut short, re-queued from
//     EXITINTINFO; or an exception/NMI from vcpu_inject) goes first: EVENTINJ
//     holds one event (APM Vol. 2 §15.20 "Event Injection");
//   - the line's vector is injected through EVENTINJ when the guest can take
//     it: IF=1, no interrupt shadow, EVENTINJ free (KVM svm_interrupt_allowed,
//     svm_inject_irq). EVENTINJ ignores IF and the shadow, so this check is
//     ours. Injecting is the PIC's INTA cycle: the line drops and the vector
//     is reported to user space (vm_exit.irq_acked);
//   - otherwise an interrupt window is opened: V_IRQ with the VINTR intercept
//     makes the CPU exit as soon as the guest could take a virtual interrupt
//     (§15.21.4 "Injecting Virtual (INTR) Interrupts"; KVM
//     svm_enable_irq_window). The exit closes it again (svm_complete_interrupts).
// The guest's GIF is always 1: it cannot run CLGI (intercepted, #UD).
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "trap.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"
#include "../lib/string.h"

// 1 if the guest can take an external interrupt right now, as the CPU would
// decide for a maskable interrupt at this instruction boundary, and EVENTINJ
// has room for it (KVM svm_interrupt_allowed; §15.20, §15.21).
int svm_interrupt_allowed(struct vcpu *v)
{
  int nested = nested_interrupt_allowed(v);   // lab 9: L1's interrupt into L2 (nested.c)
  if (nested >= 0)
    return nested;
  // LAB 5 BEGIN
  struct vmcb *vmcb = v->vmcb;
  if (!(vmcb->save.rflags & FL_IF))
    return 0;
  if (vmcb->control.int_state & SVM_INTERRUPT_SHADOW)
    return 0;
  return !(vmcb->control.eventinj & SVM_EVTINJ_VALID);
  // LAB 5 STUB
  // // LAB 5: 1 if the guest can take an external interrupt now: its IF, the interrupt shadow and
  // //   EVENTINJ decide (APM Vol. 2 §15.20, §15.21).
  // (void)v;
  // return 0;
  // LAB 5 END
}

// Puts the external interrupt `vector` into EVENTINJ (KVM svm_inject_irq).
__attribute__((unused)) static void svm_inject_irq(struct vcpu *v, int vector)
{
  // LAB 5 BEGIN
  v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (uint32)vector;
  // LAB 5 STUB
  // // LAB 5: make the next VMRUN deliver external interrupt `vector` (EVENTINJ, §15.20).
  // (void)v, (void)vector;
  // LAB 5 END
}

// Opens an interrupt window (KVM svm_enable_irq_window, svm_set_vintr): a
// V_IRQ the guest's IF and shadow hold back, with the VINTR intercept, so
// that the guest exits the moment it becomes interruptible. A V_IRQ the VMM
// queued itself (VM_EVENT_VIRQ) is left alone: its delivery ends in an exit
// of its own soon enough.
__attribute__((unused)) static void svm_enable_irq_window(struct vcpu *v)
{
  // LAB 5 BEGIN
  struct vmcb_control *c = &v->vmcb->control;
  if (v->irq_window || (c->int_ctl & V_IRQ))
    return;
  c->int_ctl = (c->int_ctl & ~(V_INTR_VECTOR_MASK | V_INTR_PRIO_MASK)) | V_IRQ | V_IGN_TPR |
               ((uint64)0xF << V_INTR_PRIO_SHIFT);
  c->intercepts[INTERCEPT_WORD_MISC1] |= INTERCEPT_VINTR;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  v->irq_window = 1;
  v->nwindows++;
  // LAB 5 STUB
  // // LAB 5: open an interrupt window (v->irq_window = 1): the guest must exit as soon as it could
  // //   take an interrupt (§15.21.4). Leave a V_IRQ of the VMM's own alone. Count it in nwindows.
  // (void)v;
  // LAB 5 END
}

// Closes our interrupt window (KVM svm_clear_vintr).
__attribute__((unused)) static void svm_clear_irq_window(struct vcpu *v)
{
  // LAB 5 BEGIN
  struct vmcb_control *c = &v->vmcb->control;
  if (!v->irq_window)
    return;
  c->int_ctl &= ~V_IRQ;
  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  v->irq_window = 0;
  // LAB 5 STUB
  // // LAB 5: undo svm_enable_irq_window, if the window is ours.
  // (void)v;
  // LAB 5 END
}

// The line's vector into the guest now, or a window to do it at the first
// chance (KVM inject_pending_event). kern/vmabi.h says how many INTAs one
// vcpu_run may report.
static void inject_pending_event(struct vcpu *v)
{
  int vector = v->irq_line;
  if (!vector || nested_blocks_irq(v))   // lab 9: L1's GIF is 0, or L1's exit comes first (nested.c)
    return;
  // LAB 5 BEGIN
  if (v->irq_acked)
    return;
  if (svm_interrupt_allowed(v)) {
    svm_inject_irq(v, vector);
    v->irq_line = 0;
    v->irq_acked = vector;
    v->nirqs++;
  } else {
    svm_enable_irq_window(v);
  }
  // LAB 5 STUB
  // // LAB 5: deliver the line's vector now if the guest can take it (the INTA: the line drops,
  // //   irq_acked and nirqs record it), else open a window. One INTA per vcpu_run.
  // static int once;
  // if (!once++)
  //   lab_missing(5, "inject_pending_event");
  // LAB 5 END
}

// QEMU 7.2's VMRUN delivers an EVENTINJ external interrupt at once but
// leaves the vector in its "pending exception" slot (cs->exception_index,
// target/i386/tcg/sysemu/svm_helper.c helper_vmrun); when its CPU loop is
// asked to stop before anything else overwrites that slot (another vCPU's
// IPI or TLB flush, the round-robin scheduler of -accel tcg,thread=single),
// it delivers the vector a second time, ignoring IF: the guest takes its
// own interrupt again on the first instruction of the handler (Linux then
// deadlocks on the irq descriptor's lock or faults, and the host has died
// of it too; measured with two Linux guests, one per CPU, docs/svm-primer.md §11).
// A host interrupt pending at VMRUN is taken (as an INTR #VMEXIT, §15.21.1)
// before that can happen, and the exit overwrites the slot: so after an
// INTR injection this CPU sends itself an IPI, which GIF=0 holds until the
// VMRUN. On hardware it costs one exit per injected interrupt.
//
// Under svmlab's own VMM (CPUID 4000_0000h says "SvmLabVMM v1", vmm -N) the
// IPI is skipped: there our VMRUN is emulated (kern/svm/nested.c), EVENTINJ
// is copied into the VMCB the outer kernel runs, and that kernel sends the
// IPI itself before its real VMRUN (it runs this function on that VMCB).
// The APM delivers EVENTINJ once (§15.20), so the emulation needs nothing
// more; each IPI of ours would cost the outer level an ICR write, an INTR
// exit and an EOI, all emulated. `evtinj_ipi=1` on the cmdline keeps it on
// anywhere (the lab 9 graders use it to keep that path tested).
static int exit_after_intr_wanted(void)
{
  static int wanted = -1;   // computed once; a race computes the same value
  if (wanted >= 0)
    return wanted;
  char buf[4];
  int w = 1;
  if (cmdline_get("evtinj_ipi", buf, sizeof buf))
    w = strcmp(buf, "0") != 0;
  else if (cpuid(1, 0).ecx & (1u << 31)) {   // the hypervisor bit
    struct cpuid_regs r = cpuid(0x40000000, 0);
    w = !(r.ebx == 0x4c6d7653 && r.ecx == 0x4d566261 && r.edx == 0x3176204d);   // "SvmL" "abVM" "M v1"
  }
  wanted = w;
  return w;
}

void svm_exit_after_intr(struct vcpu *v, int cpu)
{
  uint64 inj = v->vmcb->control.eventinj;
  if (((inj & SVM_EVTINJ_VALID) && (inj & SVM_EVTINJ_TYPE_MASK) == SVM_EVTINJ_TYPE_INTR &&
       exit_after_intr_wanted()) ||
      nested_irq_held(v))   // lab 9: L1's interrupt for L2 waits for the shadow or EVENTINJ only
    lapic_ipi(cpus[cpu].apicid, T_IPI_REEXIT);
}

// Right before VMRUN (IF=0, v loaded on cpu): enter guest mode, so that a
// kick from now on sends an IPI (the exit it forces is immediate: GIF=0
// holds it until VMRUN); 0 if a request came in first, so vcpu_run's loop
// handles it. Then inject, and make the timer fire by the run's deadline.
int svm_prepare_entry(struct vcpu *v, int cpu)
{
  // LAB 5 BEGIN
  __atomic_store_n(&v->guest_cpu, cpu + 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&v->kick, __ATOMIC_SEQ_CST) || v->halted) {
    __atomic_store_n(&v->guest_cpu, 0, __ATOMIC_SEQ_CST);
    return 0;
  }
  inject_pending_event(v);
  if (v->run_deadline)
    lapic_deadline_arm(ns_to_tsc(v->run_deadline));
  return 1;
  // LAB 5 STUB
  // // LAB 5: enter guest mode (guest_cpu) so that kicks IPI this CPU, unless a kick or HLT came
  // //   first (return 0); inject; make this CPU's timer fire by the run's deadline. Returns 1.
  // (void)cpu;
  // inject_pending_event(v);
  // return 1;
  // LAB 5 END
}

// After each #VMEXIT (IF=0), before svm_after_exit re-queues an interrupted
// event (EXITINTINFO, §15.20; kern/svm/run.c calls both in that order):
// leave guest mode and close the interrupt window; the next entry decides
// again (KVM svm_complete_interrupts).
void svm_complete_interrupts(struct vcpu *v)
{
  __atomic_store_n(&v->guest_cpu, 0, __ATOMIC_SEQ_CST);
  // LAB 5 BEGIN
  svm_clear_irq_window(v);
  // LAB 5 STUB
  // // LAB 5: after each exit the window is closed; the next entry decides again.
  // LAB 5 END
}

// VINTR #VMEXIT: the window opened, the guest is interruptible. Re-enter:
// the next entry injects (KVM interrupt_window_interception).
int svm_vintr_interception(struct vcpu *v, struct vm_exit *e)
{
  e->kexits++;
  return 1;
}

// Finishing an instruction for the guest, as the CPU would have finished it
// (KVM kvm_skip_emulated_instruction -> kvm_vcpu_do_singlestep).
//
// The kernel (CPUID, RDMSR/WRMSR, IN/OUT, HLT, CR writes) and the VMM (MMIO
// accesses it emulates) complete intercepted instructions: RIP moves past
// them without the CPU executing them. Two things the CPU does at the end of
// every instruction must then be done here:
//   - the interrupt shadow of a preceding STI or MOV SS ends (APM Vol. 2
//     §15.21.5 "Interrupt Shadows");
//   - if RFLAGS.TF was set when the instruction began, a single-step #DB is
//     taken after it, as a trap: the pushed RIP is the next instruction and
//     DR6.BS is set (APM Vol. 2 §8.2.2 "Debug Exception (#DB)", §13.1.1
//     "Debug Registers": DR6). An instruction that sets TF itself
//     (POPF, IRET) is not followed by a trap; the CPU runs those natively,
//     and for an intercepted instruction the exit's RFLAGS is the TF it began
//     with. The trap goes through EVENTINJ like any event (§15.20).
// The single-step trap outranks NMIs and interrupts (APM Vol. 2 §8.5), so
// an event the VMM queued to follow the instruction is held back
// (held_event) until the #DB is delivered; nmi.c then makes the guest exit
// right after that delivery so that it goes in next.
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"

#define DR6_BS (1UL << 14)   // single step
#define EVTINJ_DB (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 1)

// Queues a #DB trap with the DR6 bits that say why (BS for single-step,
// Bn for an I/O breakpoint), #DB first in EVENTINJ; an event already there
// waits in held_event.
static void svm_queue_db_trap(struct vcpu *v, uint64 dr6_bits)
{
  struct vmcb_control *c = &v->vmcb->control;
  if (nested_db_trap(v, dr6_bits))   // lab 9: L2's trap, and L1 intercepts #DB
    return;
  if (c->eventinj & SVM_EVTINJ_VALID) {
    if (v->held_event)
      return;   // only a VMM breaking the ABI gets here: its events stay, the trap is dropped
    v->held_event = c->eventinj;
  }
  v->vmcb->save.dr6 |= dr6_bits;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_DR);
  c->eventinj = EVTINJ_DB;
  v->nsteps += (dr6_bits & DR6_BS) != 0;
}

// The guest's instruction at RIP is done; it continues at next_rip.
// rflags is the guest's RFLAGS when the instruction began (its TF decides).
// An IN/OUT the guest armed an I/O breakpoint for traps too (dr.c).
void svm_insn_done(struct vcpu *v, uint64 next_rip, uint64 rflags)
{
  v->vmcb->save.rip = next_rip;
  v->vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW;
  uint64 bits = svm_dr_io_hits(v) | ((rflags & FL_TF) ? DR6_BS : 0);
  if (bits)
    svm_queue_db_trap(v, bits);
}

// Before each entry: a held event goes into EVENTINJ once it is free.
void svm_release_held_event(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  if (v->held_event && !(c->eventinj & SVM_EVTINJ_VALID)) {
    c->eventinj = v->held_event;
    v->held_event = 0;
  }
}

// A guest's x87/SSE state is its own (as KVM's kvm_load_guest_fpu and
// kvm_put_guest_fpu make it): the vcpu keeps an FXSAVE image; VMRUN switches
// none of this state (APM Vol. 2 §15.5.1 "Basic Operation" lists what it
// saves and loads: no x87, SSE or XCR0), so without this two guests on one
// CPU, and host processes running x87 code, would read each other's
// registers.
//
// The switch is lazy, as Linux's was for years: a vcpu's state is loaded
// before its first VMRUN on a CPU and then stays in the registers across
// exits and entries (cpu.fpu_owner). It is saved, and the CPU given a clean
// state, only when something else needs the FPU:
//   - another vcpu is about to run on this CPU (svm_guest_fpu_load);
//   - the host touches the FPU: CR0.TS is set while a guest's state is
//     loaded, so the first x87/SSE instruction of a host process raises #NM
//     (APM Vol. 2 §8.2 "#NM"), and trap.c calls svm_guest_fpu_release;
//   - the process that ran the vcpu leaves the CPU (sched, proc.c) or frees
//     the vcpu: the state must be in memory before the vcpu can run anywhere
//     else, and no other process may find it in the registers. Leaving the
//     CPU parks it (svm_guest_fpu_park): saved, clean state in the
//     registers, but CR0.TS and CR4.OSFXSR stay as they were, so a process
//     that sleeps while its guest halts and runs it again costs no CR0 or
//     CR4 write, and the next host FPU use still traps.
// The eager switch around every VMRUN that this replaces also made QEMU 7.2
// (MTTCG, two CPUs each running a Linux guest) fault on the host's first
// instruction after #VMEXIT, page tables intact (docs/svm-primer.md §11).
//
// The host kernel runs with CR4.OSFXSR=0 (it is built -mgeneral-regs-only
// and never saves vector state), so SSE instructions #UD in host processes.
// FXSAVE/FXRSTOR move the XMM registers only with CR4.OSFXSR=1 (APM Vol. 4,
// FXSAVE and FXRSTOR): the kernel sets it when it loads a guest's state and
// clears it when the host takes the FPU back, so OSFXSR=1 only while CR0.TS=1
// too: a host process's SSE instruction meets TS first (#NM, APM Vol. 2
// §8.2), the handler gives the FPU back with both bits clear, and the retry
// is #UD as before. Every CR4 write of a guest exits (cr4.c):
// svmlab as L1 of svmlab once paid L0 four of them and three CR0 exits per
// L2 timer tick for this switch (docs/internals/vmm-nested.md).
// Guests get no XSAVE (the VMM's CPUID hides it) and XSETBV is intercepted
// and raises #UD, so XCR0 stays at its reset value (x87) for
// every guest and the host, and no state beyond FXSAVE's exists to switch.
#include "defs.h"
#include "../lib/string.h"
#include "mmu.h"
#include "cpu.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

// The state a CPU has after FNINIT and reset of MXCSR: what every guest
// starts with and what the host gets back: FCW 0x037F at byte 0, MXCSR
// 0x1F80 (all SIMD exceptions masked, round to nearest) at byte 24.
static const uint8 clean_fpu[512] __attribute__((aligned(16))) = {[0] = 0x7F, [1] = 0x03, [24] = 0x80, [25] = 0x1F};

static inline uint64 rcr4(void)
{
  uint64 v;
  asm volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
static inline void lcr4(uint64 v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }
static inline uint64 rcr0(void)
{
  uint64 v;
  asm volatile("mov %%cr0, %0" : "=r"(v));
  return v;
}
static inline void lcr0(uint64 v) { asm volatile("mov %0, %%cr0" ::"r"(v) : "memory"); }
static inline void clts(void) { asm volatile("clts" ::: "memory"); }
static inline void fxsave(void *p) { asm volatile("fxsave64 (%0)" ::"r"(p) : "memory"); }
static inline void fxrstor(const void *p) { asm volatile("fxrstor64 (%0)" ::"r"(p) : "memory"); }

// IF=0. Saves the loaded guest state, if any, into its vcpu and puts a
// clean state in the registers; CR0.TS and CR4.OSFXSR stay as they are.
static void fpu_park(struct cpu *c)
{
  struct vcpu *v = c->fpu_owner;
  if (!v)
    return;
  clts();            // CR0.TS only: no exit under cr0.c's selective intercept
  fxsave(v->fpu);    // OSFXSR is on from svm_guest_fpu_load
  fxrstor(clean_fpu);
  lcr0(rcr0() | CR0_TS);
  c->fpu_owner = NULL;
}

// IF=0. fpu_park, and the FPU is the host's again: CR0.TS and CR4.OSFXSR clear.
static void fpu_release(struct cpu *c)
{
  fpu_park(c);
  clts();
  uint64 cr4 = rcr4();
  if (cr4 & CR4_OSFXSR)
    lcr4(cr4 & ~CR4_OSFXSR);
}

// Before VMRUN (IF=0): the guest's FPU state on the CPU, and the XSETBV
// intercept that keeps XCR0 out of the guest's hands.
void svm_guest_fpu_load(struct vcpu *v)
{
  struct cpu *c = mycpu();
  v->vmcb->control.intercepts[INTERCEPT_WORD_MISC2] |= INTERCEPT_XSETBV;
  if (c->fpu_owner == v)
    return;
  if (!v->fpu_ready) {
    memmove(v->fpu, clean_fpu, sizeof v->fpu);
    v->fpu_ready = 1;
  }
  fpu_park(c);   // another vcpu's state goes back to it
  clts();
  uint64 cr4 = rcr4();
  if (!(cr4 & CR4_OSFXSR))
    lcr4(cr4 | CR4_OSFXSR);   // off since the host last used the FPU
  fxrstor(v->fpu);
  c->fpu_owner = v;
  lcr0(rcr0() | CR0_TS);   // VMRUN keeps it in the host save area for after the exit
}

// #NM in the host, or its process leaving the CPU (IF=0): the guest's state
// goes back to its vcpu. 1 if there was one (the #NM was ours).
int svm_guest_fpu_release(void)
{
  struct cpu *c = mycpu();
  int had = c->fpu_owner != NULL || (rcr0() & CR0_TS);
  fpu_release(c);
  return had;
}

// The process running on this CPU leaves it (sched, IF=0): a guest's state
// goes back to its vcpu, and the CPU stays armed (TS) for the next FPU user.
void svm_guest_fpu_park(void)
{
  fpu_park(mycpu());
}

// v is being freed by its process: its state must not stay on this CPU.
void svm_guest_fpu_forget(struct vcpu *v)
{
  pushcli();
  struct cpu *c = mycpu();
  if (c->fpu_owner == v)
    fpu_release(c);
  popcli();
}

// XSETBV: there is no XSAVE for guests, so it is #UD as on such a CPU.
int xsetbv_interception(struct vcpu *v, struct vm_exit *e)
{
  return svm_inject_fault(v, e, 6, 0);
}

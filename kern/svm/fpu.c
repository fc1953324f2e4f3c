// A guest's x87/SSE state is its own (as KVM's kvm_load_guest_fpu and
// kvm_put_guest_fpu make it): the vcpu keeps an FXSAVE image that is loaded
// right before each VMRUN and saved right after the #VMEXIT, and the CPU
// gets a clean state back before anything else runs. VMRUN switches none of
// it (the state it saves and loads is listed in APM Vol. 2 §15.5.1 "Basic
// Operation": no x87, SSE or XCR0), so without this two guests on one CPU,
// and host processes running x87 code, would read each other's registers.
//
// The host kernel runs with CR4.OSFXSR=0 (it is built -mgeneral-regs-only
// and never saves vector state), so SSE instructions #UD in host processes.
// FXSAVE/FXRSTOR move the XMM registers only with CR4.OSFXSR=1 (APM Vol. 4,
// FXSAVE and FXRSTOR): the kernel sets it just for the switch, with
// interrupts off. Guests get no XSAVE (the VMM's CPUID hides it) and XSETBV
// is intercepted and raises #UD, so XCR0 stays at its reset value (x87) for
// every guest and the host, and no state beyond FXSAVE's exists to switch.
#include "defs.h"
#include "../lib/string.h"
#include "mmu.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define MXCSR_RESET 0x1F80   // all SIMD exceptions masked, round to nearest
#define FCW_RESET 0x037F     // FNINIT's control word

// The state a CPU has after FNINIT and reset of MXCSR: what every guest
// starts with and what the host gets back after each exit.
static uint8 clean_fpu[512] __attribute__((aligned(16)));

static inline uint64 rcr4(void)
{
  uint64 v;
  asm volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
static inline void lcr4(uint64 v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }
static inline void fxsave(void *p) { asm volatile("fxsave64 (%0)" ::"r"(p) : "memory"); }
static inline void fxrstor(const void *p) { asm volatile("fxrstor64 (%0)" ::"r"(p) : "memory"); }

static void fpu_image_reset(uint8 *img)
{
  memset(img, 0, 512);
  *(uint16 *)img = FCW_RESET;
  *(uint32 *)(img + 24) = MXCSR_RESET;
}

// Before VMRUN (IF=0): the guest's FPU state on the CPU, and the XSETBV
// intercept that keeps XCR0 out of the guest's hands.
void svm_guest_fpu_load(struct vcpu *v)
{
  if (!v->fpu_ready) {
    fpu_image_reset(v->fpu);
    v->fpu_ready = 1;
  }
  if (!clean_fpu[0])
    fpu_image_reset(clean_fpu);
  v->vmcb->control.intercepts[INTERCEPT_WORD_MISC2] |= INTERCEPT_XSETBV;
  lcr4(rcr4() | CR4_OSFXSR);
  fxrstor(v->fpu);
}

// After #VMEXIT (IF=0): keep the guest's state, leave a clean one behind.
void svm_guest_fpu_put(struct vcpu *v)
{
  fxsave(v->fpu);
  fxrstor(clean_fpu);
  lcr4(rcr4() & ~CR4_OSFXSR);
}

// XSETBV: there is no XSAVE for guests, so it is #UD as on such a CPU.
int xsetbv_interception(struct vcpu *v, struct vm_exit *e)
{
  v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 6;
  e->kexits++;
  return 1;
}

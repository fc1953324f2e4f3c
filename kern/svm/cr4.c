// Guest CR4 writes, intercepted and checked as a CPU (and KVM's
// kvm_is_valid_cr4 / kvm_set_cr4) would (APM Vol. 2 §3.1.3 "CR4 Register",
// and MOV CRn in Vol. 3: #GP(0) for a reserved bit or one whose feature
// CPUID does not report, and for clearing PAE in long mode).
//
// Why intercept: VMRUN takes CR4 from the VMCB as it is, so unchecked a
// guest could turn on features its CPUID hides (OSXSAVE without XSAVE: the
// kernel does not switch XSAVE state, PKE without its PKRU), and a reserved
// bit made the next VMRUN fail (VMEXIT_INVALID, the guest dead) where a CPU
// raises #GP. The bits a guest may own are VM_CR4_GUEST_BITS (kern/vmabi.h),
// those the host CPU has; the VMM's CPUID reports no feature outside them.
// Reads are not intercepted: they return the VMCB's CR4, what the guest
// wrote.
#include "defs.h"
#include "x86.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define CR4_FSGSBASE (1UL << 16)
#define CR4_SMEP (1UL << 20)
#define CR4_SMAP (1UL << 21)
// Changing these changes how the guest's linear addresses translate or are
// checked: its TLB entries go (§5.5 "Translation-Lookaside Buffer").
#define CR4_TLB_BITS (CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP)

// VM_CR4_GUEST_BITS less the features this CPU lacks (CPUID 7.0 EBX).
static uint64 cr4_allowed(void)
{
  static uint64 allowed;
  if (!allowed) {
    struct cpuid_regs l7 = cpuid(0, 0).eax >= 7 ? cpuid(7, 0) : (struct cpuid_regs){0};
    uint64 a = VM_CR4_GUEST_BITS & ~(CR4_FSGSBASE | CR4_SMEP | CR4_SMAP);
    a |= (l7.ebx & (1u << 0)) ? CR4_FSGSBASE : 0;
    a |= (l7.ebx & (1u << 7)) ? CR4_SMEP : 0;
    a |= (l7.ebx & (1u << 20)) ? CR4_SMAP : 0;
    allowed = a & VM_CR4_GUEST_BITS;
  }
  return allowed;
}

// SVM_EXIT_WRITE_CR4 handler (run.c's table): 1, the guest runs on.
int cr4_write_interception(struct vcpu *v, struct vm_exit *e)
{
  struct vmcb_save *s = &v->vmcb->save;
  struct svm_insn d;
  if (svm_decode_0f(v, &d) < 0 || d.op != 0x22 || d.reg != 4)
    return svm_inject_fault(v, e, 13, 1);   // not a MOV to CR4 we can decode
  uint64 val = svm_gpr(v, d.rm);
  if (!svm_guest_64bit(v))
    val = (uint32)val;
  if ((val & ~cr4_allowed()) || ((s->efer & EFER_LMA) && !(val & CR4_PAE)))
    return svm_inject_fault(v, e, 13, 1);
  if ((val ^ s->cr4) & CR4_TLB_BITS)
    vcpu_flush_tlb(v);
  s->cr4 = val;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_CR);
  return svm_emulated(v, e, d.len);
}

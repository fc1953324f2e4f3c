// The guest's TSC_AUX (MSR C000_0103h): the value RDTSCP returns in ECX and
// RDPID in RAX. The VMCB has no field for it and VMLOAD/VMSAVE do not switch
// it (APM Vol. 2 §15.5.2 lists what they do), so a guest's RDTSCP would read
// the host's value. As KVM does (its "user return" MSRs), the kernel keeps
// the guest's value in the vcpu, puts it in the MSR before VMRUN and gives
// the host its own back after #VMEXIT; only a non-zero guest value costs the
// two WRMSRs (svmlab itself never sets TSC_AUX). The guest's RDMSR/WRMSR of
// it are answered here (the MSRPM intercepts them: they are not VMLOAD's),
// RDTSCP and RDPID run without an exit. On a host CPU with neither RDTSCP
// nor RDPID the MSR does not exist and the access goes to the VMM (#GP).
#include "defs.h"
#include "x86.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define CPUID_RDTSCP_EDX (1u << 27)   // CPUID 8000_0001h EDX
#define CPUID_RDPID_ECX (1u << 22)    // CPUID 7.0 ECX

static int host_has_tsc_aux(void)
{
  return (cpuid(0x80000001, 0).edx & CPUID_RDTSCP_EDX) || (cpuid(7, 0).ecx & CPUID_RDPID_ECX);
}

// RDMSR/WRMSR of TSC_AUX: 1 when answered (the caller moves RIP on), 0 to
// let the VMM answer. Bits 63:32 are dropped and read as 0, as AMD CPUs and
// KVM (for a non-Intel guest) do.
int svm_tsc_aux_msr(struct vcpu *v, int write)
{
  if (!host_has_tsc_aux())
    return 0;
  if (write) {
    v->tsc_aux = (uint32)v->vmcb->save.rax;
  } else {
    v->vmcb->save.rax = v->tsc_aux;
    v->gprs.rdx = 0;
  }
  return 1;
}

// Right before VMRUN (IF=0): the guest's value in the MSR. Returns the
// host's, for svm_tsc_aux_exit.
uint64 svm_tsc_aux_enter(struct vcpu *v)
{
  if (!v->tsc_aux)
    return 0;
  uint64 host = rdmsr(MSR_TSC_AUX);
  wrmsr(MSR_TSC_AUX, v->tsc_aux);
  return host;
}

// Right after #VMEXIT: the host's value back.
void svm_tsc_aux_exit(struct vcpu *v, uint64 host)
{
  if (v->tsc_aux)
    wrmsr(MSR_TSC_AUX, host);
}

// Inline wrappers for the SVM instructions, each named after its instruction
// (APM Vol. 3 "General-Purpose and System Instructions"; Vol. 2 §15.5, §15.17).
// rdmsr/wrmsr/cpuid are in x86.h. All of these fault (#UD) unless EFER.SVME=1.
#pragma once
#include "types.h"

// VMLOAD rAX: loads FS, GS, TR, LDTR (with hidden state), KernelGsBase,
// STAR/LSTAR/CSTAR/SFMASK and SYSENTER_* from the VMCB at physical vmcb_pa.
static inline void vmload(uint64 vmcb_pa) { asm volatile("vmload %%rax" : : "a"(vmcb_pa) : "memory"); }

// VMSAVE rAX: stores the same state into the VMCB at vmcb_pa.
static inline void vmsave(uint64 vmcb_pa) { asm volatile("vmsave %%rax" : : "a"(vmcb_pa) : "memory"); }

// CLGI/STGI clear and set the global interrupt flag (§15.17 "Global Interrupt
// Flag"): while GIF=0 no interrupt, NMI or SMI is taken, even with IF=1.
static inline void clgi(void) { asm volatile("clgi" ::: "memory"); }
static inline void stgi(void) { asm volatile("stgi" ::: "memory"); }

// INVLPGA rAX, ECX: invalidates the TLB entry of virtual address va in
// address space asid (§15.16.2 "Invalidate Page, Alternate ASID").
static inline void invlpga(uint64 va, uint32 asid) { asm volatile("invlpga %%rax, %%ecx" : : "a"(va), "c"(asid) : "memory"); }

// VMRUN rAX: runs the guest described by the VMCB at vmcb_pa until #VMEXIT.
// The host's RAX, RSP, RIP, RFLAGS, CR0/3/4, EFER, GDTR/IDTR and ES/CS/SS/DS
// come back from the host save area (VM_HSAVE_PA); every other general
// register holds whatever the guest left in it, hence the clobber list (RBP
// is the frame pointer, so it is saved by hand). The caller must have done
// CLGI and VMLOAD (see vcpu_run in run.c for the full sequence); this wrapper
// suits guests whose registers nobody cares about (tests, VMEXIT_INVALID).
// A vcpu that keeps its registers uses vmenter.S instead.
static inline void vmrun(uint64 vmcb_pa)
{
  asm volatile("push %%rbp\n\tvmrun %%rax\n\tpop %%rbp"
               : "+a"(vmcb_pa)
               :
               : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
                 "r14", "r15", "memory", "cc");
}

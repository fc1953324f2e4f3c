// hostile_lme: a 32-bit guest with paging off sets EFER.LME, the first step
// into long mode, and then turns paging on without CR4.PAE, which a CPU
// refuses with #GP (APM Vol. 2 §14.6.1). svmlab notes the LME but keeps it out
// of the VMCB until paging is on (kern/svm/cr0.c: with LME=1 and paging off
// QEMU could be left unable to restore the host's paging at #VMEXIT), and
// must raise the #GP; this guest has no IDT, so the #GP ends in a triple
// fault, which the VMM reports. Before the first fix the host CPU hung here.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x10000, 0, 0x8000, 0)
  .code32
  .globl start
start:
  mov $0xC0000080, %ecx
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000000, %eax                  // PG with LME but without PAE: #GP
  mov %eax, %cr0
  mov $1, %al                           // not reached: #GP, no IDT, shutdown
  out %al, $GUEST_EXIT_PORT
1:
  jmp 1b

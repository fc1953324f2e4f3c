// rdtscp: RDTSCP and TSC_AUX as a guest with CPUID's RDTSCP bit may use them.
// TSC_AUX (MSR C000_0103h) is what RDTSCP returns in ECX (APM Vol. 3
// "RDTSCP"); it is neither in the VMCB nor switched by VMLOAD/VMSAVE (APM
// Vol. 2 §15.5.2), so the kernel must load the guest's own value around
// each VMRUN (kern/svm/tsc_aux.c) or the guest reads the host's, or another
// guest's. The guest checks: CPUID 8000_0001h EDX.RDTSCP is set (QEMU's
// `-cpu max` has it, so the VMM must pass it on); WRMSR of a value with
// bits 63:32 set is taken and reads back with them clear (AMD, KVM); then
// RDTSCP returns that value in ECX every time, across exits to the VMM
// (OUT to port 0x80) and across the host switching to another guest: the
// graded run puts two of these guests, with different values (from the
// TSC at start), on one CPU. With RDPID in CPUID, RDPID must agree.
// Prints "rdtscp: start", then "rdtscp: N reads of TSC_AUX, M wrong" and
// exits with 0 if nothing was wrong.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "msrgp.inc"
#include "pc.inc"

#define TSC_AUX 0xC0000103
#define ROUNDS 200          // each ends with an exit to the VMM
#define PER_ROUND 1000      // RDTSCPs between exits

  .globl start
start:
  MSRGP_START
  SAY start_msg
  mov $0x80000001, %eax
  cpuid
  bt $27, %edx
  jnc no_rdtscp
  mov $7, %eax
  xor %ecx, %ecx
  cpuid
  shr $22, %ecx
  and $1, %ecx
  mov %rcx, has_rdpid(%rip)
  // A value of our own: the TSC's low bits (two guests started apart
  // differ), never 0, with junk in bits 63:32 that must not stick.
  rdtsc
  or $1, %eax
  mov %eax, value(%rip)
  mov $0xdeadbeef, %edx
  mov $TSC_AUX, %ecx
  wrmsr
  xor %eax, %eax
  mov $-1, %edx
  rdmsr
  cmpq $0, gps(%rip)
  jne msr_gp
  test %edx, %edx
  jnz upper_kept
  cmp value(%rip), %eax
  jne readback_bad

  mov $ROUNDS, %r12d
1:
  mov $PER_ROUND, %r13d
2:
  rdtscp
  incq reads(%rip)
  cmp value(%rip), %ecx
  je 3f
  incq wrong(%rip)
3:
  cmpq $0, has_rdpid(%rip)
  je 4f
  rdpid %rax
  incq reads(%rip)
  cmp value(%rip), %eax
  je 4f
  incq wrong(%rip)
4:
  dec %r13d
  jnz 2b
  out %al, $0x80                   // an exit to the VMM
  dec %r12d
  jnz 1b

  SAY done_pre
  SAYNUM reads(%rip)
  SAY done_mid
  SAYNUM wrong(%rip)
  SAY done_post
  cmpq $0, wrong(%rip)
  setne %al
  jmp guest_exit

no_rdtscp:
  PRINT_EXIT no_rdtscp_msg, 2
msr_gp:
  PRINT_EXIT msr_gp_msg, 3
upper_kept:
  PRINT_EXIT upper_msg, 4
readback_bad:
  PRINT_EXIT readback_msg, 5

start_msg:
  .asciz "rdtscp: start\n"
done_pre:
  .asciz "rdtscp: "
done_mid:
  .asciz " reads of TSC_AUX, "
done_post:
  .asciz " wrong\n"
no_rdtscp_msg:
  .asciz "rdtscp: CPUID 8000_0001h EDX.RDTSCP is clear\n"
msr_gp_msg:
  .asciz "rdtscp: WRMSR/RDMSR of TSC_AUX raised #GP\n"
upper_msg:
  .asciz "rdtscp: TSC_AUX kept bits 63:32\n"
readback_msg:
  .asciz "rdtscp: TSC_AUX read back a different value\n"
  .data
value: .quad 0
has_rdpid: .quad 0
reads: .quad 0
wrong: .quad 0

// cpuidloop: executes CPUID 100,000 times (each one an exit to the VMM), then
// exits with code 0. Used to measure the cost of an exit round trip.
#include "guest.h"
#define COUNT 100000
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $COUNT, %r12
1:
  mov $1, %eax
  xor %ecx, %ecx
  cpuid
  dec %r12
  jnz 1b
  PRINT_EXIT msg, 0
msg:
  .asciz "cpuidloop: 100000 cpuid done\n"

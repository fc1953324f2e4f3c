// msr: writes a 64-bit value to a VMM-emulated MSR (0x40000100, outside every
// MSRPM range, so always intercepted: APM Vol. 2 §15.11 "MSR Intercepts"),
// reads it back and compares. Exits: 1 WRMSR + 1 RDMSR + 1 per byte + 1.
#include "guest.h"
#define MSR_SCRATCH 0x40000100
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $MSR_SCRATCH, %ecx
  mov $0x9abcdef0, %eax
  mov $0x12345678, %edx
  wrmsr
  xor %eax, %eax
  xor %edx, %edx
  rdmsr
  cmp $0x9abcdef0, %eax
  jne bad
  cmp $0x12345678, %edx
  jne bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1
ok:
  .asciz "msr: 0x40000100 reads back 0x123456789abcdef0\n"
fail:
  .asciz "msr: read back a different value\n"

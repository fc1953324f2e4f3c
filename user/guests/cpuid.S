// cpuid: asks the VMM's CPUID policy for leaf 0 (vendor), leaf 1 (the
// hypervisor-present bit, ECX bit 31) and leaf 0x40000000 (hypervisor vendor),
// prints what it saw and exits with code 0. Exits: 3 CPUID + 1 per byte + 1.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  xor %eax, %eax
  xor %ecx, %ecx
  cpuid
  mov %ebx, vendor(%rip)                 // vendor string order: EBX, EDX, ECX
  mov %edx, vendor+4(%rip)
  mov %ecx, vendor+8(%rip)
  mov $1, %eax
  xor %ecx, %ecx
  cpuid
  bt $31, %ecx
  jnc nohv
  mov $0x40000000, %eax
  xor %ecx, %ecx
  cpuid
  mov %ebx, hvvendor(%rip)
  mov %ecx, hvvendor+4(%rip)
  mov %edx, hvvendor+8(%rip)
  PRINT_EXIT msg, 0
nohv:
  PRINT_EXIT nohvmsg, 1
msg:
  .ascii "cpuid: vendor \""
vendor:
  .ascii "????????????"
  .ascii "\", hypervisor \""
hvvendor:
  .ascii "????????????"
  .asciz "\"\n"
nohvmsg:
  .asciz "cpuid: hypervisor bit clear\n"

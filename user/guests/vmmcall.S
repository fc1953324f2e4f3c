// vmmcall: prints through the HC_PRINT hypercall (no port I/O at all), checks
// the returned byte count, then ends with HC_EXIT and code 3.
// Exits: 2 VMMCALL.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $HC_PRINT, %eax
  lea msg(%rip), %rbx
  mov $(msgend - msg), %ecx
  HYPERCALL
  cmp $(msgend - msg), %rax
  jne bad
  mov $HC_EXIT, %eax
  mov $3, %ebx
  HYPERCALL
bad:
  mov $1, %al
  jmp guest_exit
msg:
  .ascii "vmmcall: hello through a hypercall\n"
msgend:

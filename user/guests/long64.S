// long64: starts in 64-bit mode on page tables that come with the image
// (long64.inc). Checks it really runs 64-bit code (a 64-bit multiply whose
// high half is nonzero), prints a line and exits with code 0 (1 if not).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $0x100000001, %rax
  mov $0x300000000, %rbx
  add %rbx, %rax                         // 0x400000001: needs 64-bit registers
  shr $32, %rax
  cmp $4, %rax
  jne bad
  PRINT_EXIT msg, 0
bad:
  mov $1, %al
  jmp guest_exit
msg:
  .asciz "long64: hello from 64-bit mode\n"

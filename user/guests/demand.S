// demand: only the image is mapped at start (GUEST_F_DEMAND). The guest writes
// a different word to three pages outside it; each first touch is a nested page
// fault that the VMM answers by mapping a page. Then it reads all three back.
// Exits: 3 NPF + 1 per byte + 1.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, stacktop, GUEST_F_DEMAND)
#include "long64.inc"
  .globl start
start:
  lea stacktop(%rip), %rsp
  movq $0x1111, 0x100000
  movq $0x2222, 0x150008
  movq $0x3333, 0x1ff010
  cmpq $0x1111, 0x100000
  jne bad
  cmpq $0x2222, 0x150008
  jne bad
  cmpq $0x3333, 0x1ff010
  jne bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1
ok:
  .asciz "demand: 3 pages faulted in, contents read back ok\n"
fail:
  .asciz "demand: read back a different value\n"
  .bss
  .balign 16
  .space 1024
stacktop:

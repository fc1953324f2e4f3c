// outs: prints its line with one `rep outsb` (a string, repeated I/O exit:
// APM Vol. 2 §15.10.2 "IN and OUT Intercepts"), then checks that RSI and RCX
// were advanced as the instruction requires. Exits: 1 OUTS + 1.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  cld
  lea msg(%rip), %rsi
  mov $(msgend - msg), %rcx
  mov $GUEST_UART, %dx
  rep outsb
  test %rcx, %rcx
  jnz bad
  lea msgend(%rip), %rax
  cmp %rax, %rsi
  jne bad
  mov $0, %al
  jmp guest_exit
bad:
  mov $1, %al
  jmp guest_exit
msg:
  .ascii "outs: one rep outsb for the whole line\n"
msgend:

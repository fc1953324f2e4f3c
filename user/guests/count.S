// count: for the multi-VM tests. Writes a private pattern over 64 KiB of its
// memory, then 8 times: burns CPU time, prints a line through HC_PRINT and
// checks the pattern is intact (another VM running at the same time on the
// same guest-physical addresses must not disturb it). Exits code 0.
#include "guest.h"
#define AREA 0x100000
#define WORDS 8192
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  rdtsc                                 // a per-VM pattern seed
  shl $32, %rdx
  or %rax, %rdx
  mov %rdx, %r15
  mov $AREA, %rdi
  mov $WORDS, %rcx
  mov %r15, %rax
1:
  mov %rax, (%rdi)
  add $8, %rdi
  inc %rax
  loop 1b
  movb $'0', line+6(%rip)
  mov $8, %r13
round:
  mov $10000000, %ecx                   // burn time so that timer ticks hit the guest
2:
  loop 2b
  mov $AREA, %rdi                       // check the pattern
  mov $WORDS, %rcx
  mov %r15, %rax
3:
  cmp %rax, (%rdi)
  jne bad
  add $8, %rdi
  inc %rax
  loop 3b
  mov $HC_PRINT, %eax
  lea line(%rip), %rbx
  mov $(lineend - line), %ecx
  HYPERCALL
  incb line+6(%rip)
  dec %r13
  jnz round
  mov $HC_EXIT, %eax
  mov $0, %ebx
  HYPERCALL
bad:
  mov $HC_EXIT, %eax
  mov $1, %ebx
  HYPERCALL
  .data
line:
  .ascii "count 0 pattern ok\n"
lineend:

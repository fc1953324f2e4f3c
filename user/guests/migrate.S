// migrate: 6 steps; at each one HC_YIELD lets the VMM move the vcpu to another
// CPU (vmm -m). Keeps a running sum in a register and in memory, which must
// survive every move. Prints one line at the end and exits 0 (1 on mismatch).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  xor %r12, %r12
  movq $0, sum(%rip)
  mov $1, %r13
1:
  add %r13, %r12
  add %r13, sum(%rip)
  mov $HC_YIELD, %eax
  mov %r13, %rbx
  HYPERCALL
  mov $300000, %ecx
2:
  loop 2b
  inc %r13
  cmp $7, %r13
  jne 1b
  cmp $21, %r12
  jne bad
  cmpq $21, sum(%rip)
  jne bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1
ok:
  .asciz "migrate: 6 steps, sum 21 in register and memory\n"
fail:
  .asciz "migrate: state lost across a move\n"
  .data
sum: .quad 0

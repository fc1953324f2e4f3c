// hostile_lcg: a computing guest for the concurrency checks (hostile smp):
// from the seed in EBX it steps a linear congruential generator ECX times,
// sending each value out of port 0x80 (one I/O exit each), then halts. The
// harness knows the sequence and checks every value, whichever CPU ran it.
// Under `vmm` (EBX = ECX = 0) it sends 2^32 values: use a budget.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x10000, 0, 0x8000, 0)
  .code32
  .globl start
start:
  imul $1103515245, %ebx, %ebx
  add $12345, %ebx
  mov %ebx, %eax
  out %eax, $0x80
  dec %ecx
  jnz start
  hlt
  jmp start

// fpu: the guest's x87/SSE state must be its own (kern/svm/fpu.c). Enables
// SSE (CR4.OSFXSR), loads a per-VM pattern (from RDTSC) into XMM0-15, two
// x87 registers, FCW and MXCSR, then 8 times: burns CPU time (host ticks
// bring INTR exits, and another VM or process may run on this CPU), FXSAVEs
// and compares with the image taken right after loading. Prints one line a
// round through HC_PRINT; exit code 0, or 1 at the first difference.
#include "guest.h"
#define PAT 0x100000     // 256 bytes of pattern
#define REF 0x101000     // FXSAVE image after loading (512 bytes, aligned)
#define CUR 0x102000     // FXSAVE image of this round
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov %cr4, %rax
  or $0x600, %rax                       // OSFXSR, OSXMMEXCPT
  mov %rax, %cr4
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  mov %rdx, %r15
  mov $PAT, %rdi                        // 32 quadwords of seed, seed+1, ...
  mov $32, %ecx
  mov %r15, %rax
1:
  mov %rax, (%rdi)
  add $8, %rdi
  inc %rax
  loop 1b
  movdqu PAT+0x00, %xmm0
  movdqu PAT+0x10, %xmm1
  movdqu PAT+0x20, %xmm2
  movdqu PAT+0x30, %xmm3
  movdqu PAT+0x40, %xmm4
  movdqu PAT+0x50, %xmm5
  movdqu PAT+0x60, %xmm6
  movdqu PAT+0x70, %xmm7
  movdqu PAT+0x80, %xmm8
  movdqu PAT+0x90, %xmm9
  movdqu PAT+0xa0, %xmm10
  movdqu PAT+0xb0, %xmm11
  movdqu PAT+0xc0, %xmm12
  movdqu PAT+0xd0, %xmm13
  movdqu PAT+0xe0, %xmm14
  movdqu PAT+0xf0, %xmm15
  fninit
  fldcw fcw(%rip)
  fildq PAT
  fildq PAT+8
  ldmxcsr mxcsr(%rip)
  fxsave64 REF
  movb $'0', line+5(%rip)
  mov $8, %r13
round:
  mov $10000000, %ecx                   // burn time so that timer ticks hit the guest
2:
  loop 2b
  fxsave64 CUR
  lea REF, %rsi                         // FCW..MXCSR (bytes 0-31, less FOP/FIP/FDP),
  lea CUR, %rdi                         // ST0-7 (32-159), XMM0-15 (160-415)
  mov (%rsi), %ax
  cmp (%rdi), %ax
  jne bad
  mov 24(%rsi), %eax
  cmp 24(%rdi), %eax
  jne bad
  add $32, %rsi
  add $32, %rdi
  mov $384, %ecx
  repe cmpsb
  jne bad
  mov $HC_PRINT, %eax
  lea line(%rip), %rbx
  mov $(lineend - line), %ecx
  HYPERCALL
  incb line+5(%rip)
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
fcw:
  .word 0x027F                          // 53-bit precision: not the reset value
mxcsr:
  .long 0x7F80                          // round toward zero: not the reset value
line:
  .ascii "fpu: 0 x87/SSE state intact\n"
lineend:

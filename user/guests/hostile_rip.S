// hostile_rip: the guest jumps to a non-canonical RIP (#GP at the jump, APM
// Vol. 2 §3.2.1 "Canonical Address Form") and to the top canonical page,
// which its page tables do not map (#PF with CR2 = RIP). Both faults must
// reach the guest's own IDT, not the host: the handlers report and resume.
// Exit code = number of faults that did not arrive as expected.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(13, on_gp)
  SETGATE(14, on_pf)
  call load_gdt_idt
  lea 1f(%rip), %rbx                    // resume point for the handler
  movq $0, vec(%rip)
  mov $0x8000000000000000, %rax
  jmp *%rax
1:
  cmpq $13, vec(%rip)
  je 2f
  incq fails(%rip)
2:
  lea 3f(%rip), %rbx
  movq $0, vec(%rip)
  mov $0xFFFFFFFFFFFFF000, %rax
  jmp *%rax
3:
  cmpq $14, vec(%rip)
  jne 4f
  mov %cr2, %rax
  cmp $0xFFFFFFFFFFFFF000, %rax
  je 5f
4:
  incq fails(%rip)
5:
  mov fails(%rip), %al
  jmp guest_exit

// Both handlers: note the vector, print, resume at %rbx (error code dropped).
on_gp:
  movq $13, vec(%rip)
  lea gp_msg(%rip), %rsi
  jmp resume
on_pf:
  movq $14, vec(%rip)
  lea pf_msg(%rip), %rsi
resume:
  call puts
  add $8, %rsp
  mov %rbx, (%rsp)
  iretq

gp_msg:
  .asciz "hostile_rip: jump to non-canonical 0x8000000000000000: #GP in the guest\n"
pf_msg:
  .asciz "hostile_rip: jump to unmapped 0xfffffffffffff000: #PF in the guest\n"
  .data
vec: .quad 0
fails: .quad 0

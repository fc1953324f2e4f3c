// hostile_cr8: writes CR8 (the TPR) while a virtual interrupt is pending.
// Unintercepted, QEMU 7.2 aborts on such a write (kern/svm/cr0.c,
// cr8_write_interception): a guest must not be able to do that to the host.
// The VMM queues vector 0x41 as a V_IRQ while IF=0; the guest then writes
// CR8 and reads it back, lowers it again, and exits. Nothing may arrive
// while IF=0.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x41, on_virq)
  call load_gdt_idt
  mov $HC_RAISE, %eax                   // a V_IRQ, held back by IF=0
  mov $0x41, %ebx
  mov $RAISE_VIRQ, %ecx
  HYPERCALL
  mov $7, %eax
  mov %rax, %cr8                        // with the V_IRQ pending
  mov %cr8, %rbx
  cmp $7, %rbx
  jne bad
  xor %eax, %eax
  mov %rax, %cr8
  mov %cr8, %rbx
  test %rbx, %rbx
  jne bad
  cmpq $0, got(%rip)
  jne bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1

on_virq:
  movq $1, got(%rip)
  iretq
ok:
  .asciz "hostile_cr8: CR8 written and read back with a V_IRQ pending; nothing arrived with IF=0\n"
fail:
  .asciz "hostile_cr8: CR8 did not read back, or an interrupt arrived with IF=0\n"
  .data
got: .quad 0

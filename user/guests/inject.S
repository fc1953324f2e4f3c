// inject: installs an IDT, enables interrupts and asks the VMM (HC_RAISE) to
// inject vector 0x30 as an external interrupt through EVENTINJ (APM Vol. 2
// §15.20 "Event Injection"), then exception #BP (vector 3). Each handler
// acknowledges with HC_ACK(vector). Prints what it received and exits 0.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x30, on_irq)
  SETGATE(3, on_bp)
  call load_gdt_idt
  sti
  mov $HC_RAISE, %eax                   // please inject vector 0x30 as an interrupt
  mov $0x30, %ebx
  mov $RAISE_INTR, %ecx
  HYPERCALL
1:
  cmpq $0, got_irq(%rip)
  jne 2f
  hlt                                    // the interrupt ends the hlt
  jmp 1b
2:
  mov $HC_RAISE, %eax                   // now an exception
  mov $3, %ebx
  mov $RAISE_EXCEPTION, %ecx
  HYPERCALL
  cmpq $0, got_bp(%rip)
  je bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1

on_irq:
  push %rax
  push %rbx
  movq $1, got_irq(%rip)
  mov $HC_ACK, %eax
  mov $0x30, %ebx
  HYPERCALL
  pop %rbx
  pop %rax
  iretq
on_bp:
  push %rax
  push %rbx
  movq $1, got_bp(%rip)
  mov $HC_ACK, %eax
  mov $3, %ebx
  HYPERCALL
  pop %rbx
  pop %rax
  iretq

ok:
  .asciz "inject: interrupt 0x30 and exception 3 delivered\n"
fail:
  .asciz "inject: exception 3 not delivered\n"
  .data
got_irq: .quad 0
got_bp: .quad 0

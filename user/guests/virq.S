// virq: like inject, but the VMM raises vector 0x41 as a virtual interrupt
// through V_IRQ / V_INTR_VECTOR in the VMCB (APM Vol. 2 §15.21.4 "Injecting
// Virtual (INTR) Interrupts"): the guest takes it only once IF=1.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x41, on_virq)
  call load_gdt_idt
  mov $HC_RAISE, %eax                   // request with IF=0: must stay pending
  mov $0x41, %ebx
  mov $RAISE_VIRQ, %ecx
  HYPERCALL
  mov $1000, %ecx                       // interrupts off: nothing may arrive
1:
  cmpq $0, got(%rip)
  jne early
  loop 1b
  sti
2:                                      // spin, not hlt: the interrupt may come between
  cmpq $0, got(%rip)                    // the check and a hlt, which would then sleep
  je 2b

  PRINT_EXIT ok, 0
early:
  PRINT_EXIT fail, 1

on_virq:
  push %rax
  push %rbx
  movq $1, got(%rip)
  mov $HC_ACK, %eax
  mov $0x41, %ebx
  HYPERCALL
  pop %rbx
  pop %rax
  iretq
ok:
  .asciz "virq: V_IRQ vector 0x41 taken after sti\n"
fail:
  .asciz "virq: interrupt arrived while IF=0\n"
  .data
got: .quad 0

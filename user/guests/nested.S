// nested: 8259A priorities and EOI ordering with IRQ0 (PIT) and IRQ4 (UART
// THRE), both taken through the vcpu's interrupt line.
//  A. The UART's THRE interrupt (IER.ETBEI with OUT2) enters IRQ4's handler,
//     which sets IF and starts a 1 ms PIT one-shot: IRQ0 has the higher
//     priority and must nest inside it (ISR = IRQ0|IRQ4 in IRQ0's handler; a
//     non-specific EOI clears IRQ0 only); IRQ4 ends with a specific EOI.
//  B. A PIT one-shot enters IRQ0's handler, which sets IF and asks for THRE:
//     IRQ4 must wait in IRR for 2 ms (lower priority than IRQ0 in service)
//     and arrive right after IRQ0's EOI, still inside IRQ0's handler.
// Prints "nested: irq0 N, irq4 M, failed checks F" (N = M = 2 expected) and,
// if any failed, the number of the first one; exits 0 iff none failed.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"

// CHECK n: a failed check number n (first one remembered).
.macro FAILED n
  incq failed(%rip)
  cmpq $0, first(%rip)
  jne 99f
  movq $\n, first(%rip)
99:
.endm

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x20, on_irq0)
  SETGATE(0x24, on_irq4)
  SETGATE(0x27, on_spurious)
  call load_gdt_idt
  mov $0xEE, %al                        // IRQ0 and IRQ4
  call pic_init
  call gate2_on
  mov $0x08, %al                        // UART MCR: OUT2 (the IRQ gate)
  mov $GUEST_UART + 4, %dx
  out %al, %dx
  movq $1, phase(%rip)
  sti
  mov $0x02, %al                        // A: IER.ETBEI, THR is empty: IRQ4
  mov $GUEST_UART + 1, %dx
  out %al, %dx
1:
  cli                                   // check, then sti; hlt: an interrupt
  cmpq $0, done(%rip)                   // between the check and the hlt
  jne 2f                                // would leave the hlt asleep
  sti
  hlt
  jmp 1b
2:
  movq $2, phase(%rip)                  // B
  movq $0, done(%rip)
  mov $0x30, %al
  mov $1193, %cx
  call pit_start
3:
  cli
  cmpq $0, done(%rip)
  jne 4f
  sti
  hlt
  jmp 3b
4:
  SAY msg_a
  SAYNUM n0(%rip)
  SAY msg_b
  SAYNUM n4(%rip)
  SAY msg_c
  SAYNUM failed(%rip)
  cmpq $0, failed(%rip)
  je 5f
  SAY msg_first
  SAYNUM first(%rip)
5:
  SAY msg_nl
  cmpq $2, n0(%rip)
  je 6f
  FAILED 20
6:
  cmpq $2, n4(%rip)
  je 7f
  FAILED 21
7:
  cmpq $0, failed(%rip)
  setnz %al
  jmp guest_exit

// IRQ4 (vector 0x24): A, the outer handler; B, the one that must wait.
on_irq4:
  push %rax
  push %rcx
  push %rdx
  push %rsi
  incq n4(%rip)
  xor %eax, %eax                        // IER = 0: the UART stops asking
  mov $GUEST_UART + 1, %dx
  out %al, %dx
  cmpq $1, phase(%rip)
  jne 4f
  call read_isr
  cmp $0x10, %al
  je 1f
  FAILED 1                              // only IRQ4 in service
1:
  sti
  mov $0x30, %al                        // PIT one-shot, 1 ms
  mov $1193, %cx
  call pit_start
2:
  cli
  cmpq $0, n0(%rip)
  jne 22f
  sti
  hlt
  jmp 2b
22:
  call read_isr
  cmp $0x10, %al
  je 3f
  FAILED 2                              // IRQ0's EOI left IRQ4 in service
3:
  mov $0x64, %al                        // specific EOI, IRQ4
  out %al, $0x20
  call read_isr
  test %al, %al
  jz 9f
  FAILED 3
  jmp 9f
4:
  cmpq $0, eoi0(%rip)
  jne 5f
  FAILED 4                              // IRQ4 came before IRQ0's EOI
5:
  EOI
  movq $1, got4(%rip)
9:
  movq $1, done(%rip)
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rax
  iretq

// IRQ0 (vector 0x20): A, nested in IRQ4; B, the outer handler.
on_irq0:
  push %rax
  push %rcx
  push %rdx
  push %rsi
  incq n0(%rip)
  cmpq $1, phase(%rip)
  jne 4f
  call read_isr
  cmp $0x11, %al
  je 1f
  FAILED 5                              // IRQ0 nested in IRQ4: both in service
1:
  EOI
  call read_isr
  cmp $0x10, %al
  je 9f
  FAILED 6                              // non-specific EOI clears the highest only
  jmp 9f
4:
  sti
  mov $0x02, %al                        // THRE: IRQ4 requested now
  mov $GUEST_UART + 1, %dx
  out %al, %dx
  mov $2386, %cx                        // 2 ms with IF=1
  call pit2_wait
  cmpq $0, got4(%rip)
  je 5f
  FAILED 7                              // IRQ4 nested inside IRQ0
5:
  in $0x20, %al                         // IRR
  test $0x10, %al
  jnz 6f
  FAILED 8                              // IRQ4 should wait in IRR
6:
  movq $1, eoi0(%rip)
  EOI
7:
  cli                                   // IRQ4 now
  cmpq $0, got4(%rip)
  jne 9f
  sti
  hlt
  jmp 7b
9:
  pop %rsi
  pop %rdx
  pop %rcx
  pop %rax
  iretq

on_spurious:
  iretq

msg_a: .asciz "nested: irq0 "
msg_b: .asciz ", irq4 "
msg_c: .asciz ", failed checks "
msg_first: .asciz ", first check "
msg_nl: .asciz "\n"
  .data
phase: .quad 0
done: .quad 0
n0: .quad 0
n4: .quad 0
eoi0: .quad 0
got4: .quad 0
failed: .quad 0
first: .quad 0

// echo: an interactive 16550A guest. The UART's receive interrupt (IER
// ERBFI, FIFO at trigger level 1, MCR OUT2) comes in on IRQ4; the handler
// drains the FIFO while LSR.DR is set and echoes each byte (a CR as CR LF).
// Ctrl-D ends it: prints "echo: N bytes" (Ctrl-D not counted) and exits 0.
// The VMM feeds the receive FIFO from svmlab's console (`vmm echo` at the
// shell).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x24, on_uart)
  SETGATE(0x27, on_spurious)
  call load_gdt_idt
  mov $0xEF, %al                        // IRQ4 only
  call pic_init
  mov $GUEST_UART + 2, %dx              // FCR: FIFOs on, cleared, trigger 1
  mov $0x07, %al
  out %al, %dx
  mov $GUEST_UART + 4, %dx              // MCR: DTR, RTS, OUT2
  mov $0x0B, %al
  out %al, %dx
  mov $GUEST_UART + 1, %dx              // IER: received data available
  mov $0x01, %al
  out %al, %dx
  SAY banner
1:
  cli                                   // check with IF=0, then sti; hlt (the
  cmpq $0, quit(%rip)                   // STI shadow keeps an interrupt from
  jne 2f                                // slipping in before the hlt)
  sti
  hlt
  jmp 1b
2:
  SAY msg_n
  SAYNUM count(%rip)
  SAY msg_bytes
  mov $0, %al
  jmp guest_exit

on_uart:
  push %rax
  push %rdx
1:
  mov $GUEST_UART + 5, %dx              // LSR.DR: a byte waits
  in %dx, %al
  test $1, %al
  jz 3f
  mov $GUEST_UART, %dx
  in %dx, %al
  cmp $4, %al                           // Ctrl-D
  jne 2f
  movq $1, quit(%rip)
  jmp 1b
2:
  incq count(%rip)
  out %al, %dx
  cmp $'\r', %al
  jne 1b
  mov $'\n', %al
  out %al, %dx
  jmp 1b
3:
  EOI
  pop %rdx
  pop %rax
  iretq
on_spurious:
  iretq

banner: .asciz "echo: type; Ctrl-D ends\n"
msg_n: .asciz "\necho: "
msg_bytes: .asciz " bytes\n"
  .data
quit: .quad 0
count: .quad 0

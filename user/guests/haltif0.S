// haltif0: a guest that stops. It first sleeps in `sti; hlt` through 50
// ticks of a 1 kHz PIT (HLT with IF=1 blocks in the kernel until IRQ0), then
// masks IRQ0 at the PIC, prints the ticks it took and executes HLT with IF=0: nothing can wake it
// now, so the kernel reports VM_EXIT_HLT instead of blocking the vcpu
// forever, and the VMM says "halted" (vmm -e halt).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x20, on_tick)
  SETGATE(0x27, on_spurious)
  call load_gdt_idt
  mov $0xFE, %al
  call pic_init
  mov $0x34, %al
  mov $1193, %cx
  call pit_start
1:
  cli
  cmpq $50, ticks(%rip)
  jae 2f
  sti
  hlt
  jmp 1b
2:
  mov $0xFF, %al                        // mask IRQ0: nothing can come now
  out %al, $0x21
  SAY msg
  SAYNUM ticks(%rip)
  SAY msg2
  cli
  hlt
  SAY late                              // never: nothing wakes a HLT with IF=0
  mov $1, %al
  jmp guest_exit

on_tick:
  incq ticks(%rip)
  EOI
  iretq
on_spurious:
  iretq

msg: .asciz "haltif0: "
msg2: .asciz " ticks in sti;hlt, now cli;hlt\n"
late: .asciz "haltif0: woke up from a HLT with IF=0\n"
  .data
ticks: .quad 0

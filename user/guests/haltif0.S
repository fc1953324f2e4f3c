// haltif0: HLT with IF=0 and nothing to wake it: the guest has stopped for
// good, and the kernel reports it to the VMM (VM_EXIT_HLT) instead of
// blocking the vcpu. The PIC is programmed but every IRQ masked, so no
// interrupt can come. The VMM must report "halted" (vmm -e halt).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"
  .globl start
start:
  mov $0x8000, %rsp
  call load_gdt_idt
  mov $0xFF, %al
  call pic_init
  SAY msg
  cli
  hlt
  SAY late                              // never: nothing wakes a HLT with IF=0
  mov $1, %al
  jmp guest_exit
msg: .asciz "haltif0: cli; hlt\n"
late: .asciz "haltif0: woke up from a HLT with IF=0\n"

// mmio_bad: a DIV with its operand in the MMIO test device. The VMM's
// emulator does not cover DIV, so the VMM must end the guest with a report
// naming the instruction's bytes (f7 33), and the host must go on.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, GUEST_F_TESTDEV)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $GUEST_TESTDEV_GPA, %rbx
  mov $1, %eax
  xor %edx, %edx
  divl (%rbx)
  lea msg(%rip), %rsi
  call puts
  mov $1, %al
  jmp guest_exit
msg:
  .asciz "mmio_bad: the DIV on the device went through\n"

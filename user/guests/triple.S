// triple: loads an empty IDT and executes UD2. #UD cannot be delivered, nor the
// #GP and #DF that follow, so the CPU shuts down (triple fault); the kernel
// intercepts SHUTDOWN (APM Vol. 2 §15.9 "Instruction Intercepts") and the host
// carries on.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov $msg, %si
  mov $GUEST_UART, %dx
1:
  lodsb
  test %al, %al
  jz 2f
  out %al, %dx
  jmp 1b
2:
  lidt idtr
  ud2
  mov $1, %al                           // never reached
  out %al, $GUEST_EXIT_PORT
idtr:
  .short 0
  .long 0
msg:
  .asciz "triple: about to triple fault\n"

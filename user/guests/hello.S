// hello: a real-mode guest. Prints a banner through the 16550 UART at 0x3F8,
// polling the line status register before each byte as a driver on real
// hardware would, then ends through the debug-exit port with code 0.
// Exits: 2 I/O per byte (LSR read, THR write) + 1 for the exit port.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov %ax, %ss
  mov $0x8000, %sp
  mov $msg, %si
next:
  lodsb
  test %al, %al
  jz done
  mov %al, %bl
wait:
  mov $(GUEST_UART + 5), %dx   // LSR: bit 5 = transmitter holding register empty
  in %dx, %al
  test $0x20, %al
  jz wait
  mov %bl, %al
  mov $GUEST_UART, %dx
  out %al, %dx
  jmp next
done:
  mov $0, %al
  out %al, $GUEST_EXIT_PORT
  hlt
  jmp done
msg:
  .asciz "Hello from a real-mode guest on svmlab!\n"

// hostile_ioflood: with interrupts off, an endless stream of OUTs to port
// 0x80, each one an I/O exit to the VMM (all ports are intercepted: APM
// Vol. 2 §15.10 "I/O Intercepts"). Nothing ends it but the VMM's budget
// (vmm -t / -n); meanwhile the host must go on scheduling its processes.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  cli
  xor %ax, %ax
1:
  out %al, $0x80
  inc %ax
  jmp 1b

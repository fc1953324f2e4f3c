// spin: a hostile guest. Interrupts off, then an endless loop with no exiting
// instruction. Only the host timer (an INTR exit) takes the CPU back; the VMM
// stops it when its time budget is used up.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  cli
1:
  jmp 1b

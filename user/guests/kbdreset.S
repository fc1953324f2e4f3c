// kbdreset: reboots the way Linux's reboot=k does: 0xFE (pulse the reset
// line) to the i8042's command port 0x64. The VMM has no i8042 but this
// command; it ends the guest as "reset" (vmm -e reset). A first write of
// another command (0xAA, self-test) must be ignored, and the read of the
// absent controller's status must give all ones.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  cli
  in $0x64, %al                 // status of an absent i8042: 0xFF
  cmp $0xFF, %al
  jne bad
  mov $0xAA, %al                // self-test: ignored
  out %al, $0x64
  mov $0xFE, %al                // pulse reset
  out %al, $0x64
bad:
  mov $1, %al                   // not reset: exit code 1
  out %al, $GUEST_EXIT_PORT
  hlt

// hostile_badmagic: broken image: "SVMH" instead of the magic "SVMG".
// vmm must refuse it with a clear message (user/vmm/image.c).
#include "guest.h"
  .section .header, "a"
  .globl start
start:
  .ascii "SVMH"
  .short GUEST_VERSION, GUEST_MODE_REAL
  .quad GUEST_LOAD, start, 0x10000, 0, 0x8000
  .long 0, 0
  .quad 0
  hlt

// hostile_badver: broken image: header version 2.
#include "guest.h"
  .section .header, "a"
  .globl start
start:
  .long GUEST_MAGIC
  .short 2, GUEST_MODE_REAL
  .quad GUEST_LOAD, start, 0x10000, 0, 0x8000
  .long 0, 0
  .quad 0
  hlt

// hostile_oddmem: broken image: memsize 0x10001 is not a page multiple.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x10001, 0, 0x8000, 0)
  .globl start
start:
  hlt

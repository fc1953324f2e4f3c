// hostile_nomem: broken image: memsize 0x1000 cannot hold the image at 0x1000.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x1000, 0, 0x8000, 0)
  .globl start
start:
  hlt

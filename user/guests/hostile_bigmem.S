// hostile_bigmem: broken image: 1 GiB of guest RAM (at most 16 MiB).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, start, 0x40000000, 0, 0x8000, 0)
  .globl start
start:
  hlt

// hostile_badmode: broken image: mode 7 (there are 0..2).
#include "guest.h"
GUEST_HEADER(7, start, 0x10000, 0, 0x8000, 0)
  .globl start
start:
  hlt

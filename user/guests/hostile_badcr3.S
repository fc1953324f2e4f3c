// hostile_badcr3: broken image: long mode with CR3 at 0x100000, outside the image.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, 0x100000, 0x8000, 0)
  .globl start
start:
  hlt

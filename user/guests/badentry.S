// badentry: a broken image for the VMM's header checks. Its entry point lies
// outside the image; `vmm badentry` must refuse it with a clear message.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_REAL, 0x9000, 0x10000, 0, 0x8000, 0)
  .code16
  .globl start
start:
  hlt

// badtrunc: a broken image for the VMM's header checks: the right magic but
// only 8 bytes, shorter than the 64-byte header.
#include "guest.h"
  .section .header, "a"
  .globl start
start:
  .long GUEST_MAGIC
  .short GUEST_VERSION, GUEST_MODE_REAL

// System-state programs for guestfuzz (sysprog.c): short runs of the
// instructions that change a guest's mode and that the kernel checks or
// emulates itself (kern/svm/cr0.c, run.c's EFER and CR intercepts).
#pragma once
#include "../../kern/types.h"

// Writes a program for code of `bits` (16, 32 or 64) at p, at most
// end - p bytes, ending in HLT; memory operands point into guest
// addresses [scratch, scratch + 256). Returns the end of what it wrote.
uint8 *sysprog_emit(uint8 *p, uint8 *end, int bits, uint64 scratch, uint64 (*rnd)(void));

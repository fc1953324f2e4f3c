// Guest-linear to guest-physical translation (gva.c).
#pragma once
#include "vmm.h"

// Access kinds, in the bit positions of a #PF error code (APM Vol. 2 §8.4.2
// "Page-Fault Error Code"): W is bit 1, I/D (instruction fetch) bit 4.
#define GVA_READ 0x0
#define GVA_WRITE 0x2
#define GVA_FETCH 0x10
// Error code bits.
#define GVA_PF_P 0x1           // the page was present: a protection violation
#define GVA_PF_U 0x4           // the access was made at CPL 3
// Results: 0 (translated), GVA_FAULT | error code (the guest takes #PF),
// GVA_BADTABLE (a page table lies outside guest RAM, or, for an exit of L2's,
// L1's nested table refuses a step: the VMM gives up).
#define GVA_FAULT 0x10000
#define GVA_PF_NOTPRESENT GVA_FAULT
#define GVA_BADTABLE (-1)

int gva_translate(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa);

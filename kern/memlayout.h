// Virtual memory layout.
//
//   0x0000000000000000 .. USERTOP          user space (per process)
//   0xFFFF800000000000 .. +4 GiB           PHYSBASE: all physical memory and MMIO, 2 MiB pages
//   0xFFFFFFFF80000000 .. +1 GiB           KERNBASE: the kernel image (linked at KERNLINK)
//
// The kernel image is loaded at physical 1 MiB by the multiboot loader.
#pragma once
#include "const.h"
#define EXTMEM    _UL(0x100000)
#define KERNBASE  _UL(0xFFFFFFFF80000000)
#define KERNLINK  (KERNBASE + EXTMEM)
#define PHYSBASE  _UL(0xFFFF800000000000)
#define PHYSTOP   _UL(0x100000000)          // physical memory the kernel maps (4 GiB)
#define USERTOP   _UL(0x0000800000000000)   // first non-canonical user address
#define USERSTACK _UL(0x00007FFFFFFF0000)   // top of the user stack
#define USERBASE  _UL(0x400000)             // lowest user text address
#define APENTRY_PA _UL(0x7000)              // low page where APs start (entryother.S)

#ifndef __ASSEMBLER__
#include "types.h"
// Physical <-> kernel virtual. P2V always goes through the PHYSBASE map;
// V2P accepts both PHYSBASE and KERNBASE addresses.
static inline uint64 V2P(const void *va)
{
  uint64 a = (uint64)va;
  return a >= KERNBASE ? a - KERNBASE : a - PHYSBASE;
}
static inline void *P2V(uint64 pa) { return (void *)(pa + PHYSBASE); }
#endif

// Kernel page tables. Boot's static tables get us to main(); kvminit builds
// the real ones: every physical page at PHYSBASE (2 MiB pages, no execute)
// and the kernel image at KERNBASE with 4 KiB pages, text read-only and
// executable, everything else no-execute (APM Vol. 2 §5.3 "Long-Mode Page
// Translation"). Every process's table shares the upper half (slots 256..511).
#include "defs.h"
#include "memlayout.h"
#include "mmu.h"
#include "x86.h"
#include "../lib/string.h"

pte_t *kpml4;

// Returns the PTE for va at level 0 in the 4-level table pml4, creating
// intermediate tables (with perm on each) when alloc is set; NULL if absent
// or out of memory. Intermediate entries get PTE_U only when perm has it.
pte_t *walk_level(pte_t *pml4, uint64 va, int level, int alloc, uint64 perm)
{
  pte_t *table = pml4;
  for (int l = 3; l > level; l--) {
    pte_t *pte = &table[PX(l, va)];
    if (*pte & PTE_P) {
      if (*pte & PTE_PS)
        return NULL;
      *pte |= perm & (PTE_U | PTE_W);
    } else {
      if (!alloc)
        return NULL;
      void *next = kalloc();
      if (!next)
        return NULL;
      *pte = V2P(next) | PTE_P | PTE_W | (perm & PTE_U);
    }
    table = P2V(PTE_ADDR(*pte));
  }
  return &table[PX(level, va)];
}

pte_t *walk(pte_t *pml4, uint64 va, int alloc) { return walk_level(pml4, va, 0, alloc, PTE_U); }

// Maps [va, va+size) to [pa, pa+size) with 4 KiB pages. Returns 0, or -1 when
// out of memory (the caller frees the table) or a page is already mapped.
int mappages(pte_t *pml4, uint64 va, uint64 size, uint64 pa, uint64 perm)
{
  uint64 a = PGROUNDDOWN(va), last = PGROUNDDOWN(va + size - 1);
  for (;; a += PGSIZE, pa += PGSIZE) {
    pte_t *pte = walk_level(pml4, a, 0, 1, perm);
    if (!pte || (*pte & PTE_P))
      return -1;
    *pte = pa | perm | PTE_P;
    if (a == last)
      return 0;
  }
}

static void map_physbase(void)
{
  for (uint64 pa = 0; pa < PHYSTOP; pa += 0x200000) {
    pte_t *pde = walk_level(kpml4, PHYSBASE + pa, 1, 1, 0);
    if (!pde)
      panic("kvminit: out of memory");
    uint64 cache = pa >= 0xC0000000 ? (PTE_PCD | PTE_PWT) : 0;  // MMIO hole
    *pde = pa | PTE_P | PTE_W | PTE_PS | PTE_G | PTE_NX | cache;
  }
}

static void map_kernel(void)
{
  extern char __kernel_start[], __text_end[], __rodata_end[], __bss_end[];
  struct {
    char *start, *end;
    uint64 perm;
  } segs[] = {
    {(char *)KERNBASE, __kernel_start, PTE_W | PTE_NX},  // low memory: multiboot data
    {__kernel_start, __text_end, 0},
    {__text_end, __rodata_end, PTE_NX},
    {__rodata_end, __bss_end, PTE_W | PTE_NX},
  };
  for (uint64 i = 0; i < ARRAY_SIZE(segs); i++) {
    uint64 va = (uint64)segs[i].start, size = segs[i].end - segs[i].start;
    if (mappages(kpml4, va, size, V2P(segs[i].start), segs[i].perm | PTE_G) < 0)
      panic("kvminit: cannot map the kernel");
  }
}

void kvminit(void)
{
  kpml4 = kalloc();
  if (!kpml4)
    panic("kvminit: out of memory");
  map_physbase();
  map_kernel();
  kvmswitch();
}

// Loads the kernel-only page table (used by the scheduler and idle CPUs).
void kvmswitch(void) { lcr3(V2P(kpml4)); }

// A new top-level table sharing the kernel half; NULL when out of memory.
pte_t *pml4_new(void)
{
  pte_t *pml4 = kalloc();
  if (pml4)
    memcpy(pml4 + 256, kpml4 + 256, 256 * sizeof(pte_t));
  return pml4;
}

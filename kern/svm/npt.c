// Lab 2 (vmcb): nested page tables, guest-physical -> host-physical.
//
// With NP_ENABLE set, every guest-physical address the guest produces (after
// its own paging, if any) is translated through the table at N_CR3 (APM Vol. 2
// §15.25 "Nested Paging"). The nested table has the format of the host's
// paging mode at VMRUN: our host runs in long mode, so it is an ordinary
// 4-level table (PML4, PDPT, PD, PT) with 4 KiB leaves:
//
//   gPA bits  47..39   38..30   29..21   20..12   11..0
//             PML4     PDPT     PD       PT       offset
//
// What the processor demands of each entry on a nested walk is in §15.25.5
// "Nested Table Walk". Table pages come from kalloc and are counted in
// npt->npages so tests can check that npt_free returns them all.
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"

#define NPT_LEVELS 4
#define NPT_GPA_LIMIT (_UL(1) << 48)   // 4 levels translate 48 bits

// Allocates the root of an empty table. Returns 0 or -ENOMEM.
int npt_init(struct npt *npt)
{
  // LAB 2 BEGIN
  npt->pml4 = kalloc();
  if (!npt->pml4)
    return -ENOMEM;
  npt->pml4_pa = V2P(npt->pml4);
  npt->npages = 1;
  return 0;
  // LAB 2 STUB
  // // LAB 2: allocate the root table (npages counts it); -ENOMEM keeps nothing.
  // npt->pml4 = NULL;
  // npt->pml4_pa = 0;
  // npt->npages = 0;
  // return lab_missing(2, "npt_init");
  // LAB 2 END
}

// LAB 2 BEGIN
// Returns the level-0 entry for gpa, creating missing tables when alloc is
// set; NULL if a table is missing (alloc=0) or memory ran out (alloc=1).
static pte_t *npt_walk(struct npt *npt, uint64 gpa, int alloc)
{
  pte_t *table = npt->pml4;
  for (int level = NPT_LEVELS - 1; level > 0; level--) {
    pte_t *pte = &table[PX(level, gpa)];
    if (!(*pte & PTE_P)) {
      if (!alloc)
        return NULL;
      pte_t *next = kalloc();
      if (!next)
        return NULL;
      npt->npages++;
      *pte = V2P(next) | PTE_P | PTE_W | PTE_U;   // the leaf decides W and NX
    }
    table = P2V(PTE_ADDR(*pte));
  }
  return &table[PX(0, gpa)];
}
// LAB 2 STUB
// // LAB 2: (a helper) walk the 4 levels to gpa's leaf entry, allocating missing tables
// // when asked; every non-leaf entry must let a nested walk (a user access) through.
// LAB 2 END

static int npt_range_ok(uint64 gpa, uint64 size)
{
  return size && !(gpa % PGSIZE) && !(size % PGSIZE) && gpa < NPT_GPA_LIMIT &&
         size <= NPT_GPA_LIMIT - gpa;
}

// Maps [gpa, gpa+size) to [hpa, hpa+size), page by page, with perm (NPT_W,
// NPT_NX). All three must be page-aligned. Returns 0; -EINVAL for a bad
// range; -EEXIST if a page is already mapped; -ENOMEM. On error nothing of
// this call stays mapped (table pages stay until npt_free).
int npt_map(struct npt *npt, uint64 gpa, uint64 hpa, uint64 size, uint64 perm)
{
  if (!npt_range_ok(gpa, size) || (hpa % PGSIZE) || (perm & ~(NPT_W | NPT_NX)))
    return -EINVAL;
  // LAB 2 BEGIN
  for (uint64 off = 0; off < size; off += PGSIZE) {
    pte_t *pte = npt_walk(npt, gpa + off, 1);
    int err = !pte ? -ENOMEM : (*pte & PTE_P) ? -EEXIST : 0;
    if (err) {
      if (off)
        npt_unmap(npt, gpa, off);
      return err;
    }
    *pte = (hpa + off) | PTE_P | PTE_U | perm;
  }
  return 0;
  // LAB 2 STUB
  // // LAB 2: map each page present + user + perm; -EEXIST if one is mapped, -ENOMEM;
  // // on error undo this call's mappings.
  // return lab_missing(2, "npt_map");
  // LAB 2 END
}

// Removes the mappings of [gpa, gpa+size); pages not mapped are skipped.
// The caller flushes the guest's TLB (TLB_CONTROL) before the next VMRUN.
// Returns 0 or -EINVAL.
int npt_unmap(struct npt *npt, uint64 gpa, uint64 size)
{
  if (!npt_range_ok(gpa, size))
    return -EINVAL;
  // LAB 2 BEGIN
  for (uint64 off = 0; off < size; off += PGSIZE) {
    pte_t *pte = npt_walk(npt, gpa + off, 0);
    if (pte)
      *pte = 0;
  }
  return 0;
  // LAB 2 STUB
  // // LAB 2: clear the leaf entry of every mapped page in the range (allocate nothing).
  // return lab_missing(2, "npt_unmap");
  // LAB 2 END
}

// Translates gpa: *hpa = host-physical address (offset kept), *perm = leaf
// flags. Returns 0, or -ENOENT if gpa is not mapped, -EINVAL if out of range.
int npt_lookup(struct npt *npt, uint64 gpa, uint64 *hpa, uint64 *perm)
{
  if (gpa >= NPT_GPA_LIMIT)
    return -EINVAL;
  // LAB 2 BEGIN
  pte_t *pte = npt_walk(npt, gpa, 0);
  if (!pte || !(*pte & PTE_P))
    return -ENOENT;
  *hpa = PTE_ADDR(*pte) | (gpa % PGSIZE);
  *perm = PTE_FLAGS(*pte);
  return 0;
  // LAB 2 STUB
  // // LAB 2: the host-physical address (with gpa's page offset) and leaf flags, or -ENOENT.
  // return lab_missing(2, "npt_lookup");
  // LAB 2 END
}

// LAB 2 BEGIN
// Frees the table at `table` (a level-`level` table) and every table below
// it; the mapped guest frames belong to the caller and are not freed.
static void npt_free_level(struct npt *npt, pte_t *table, int level)
{
  if (level > 0)
    for (int i = 0; i < 512; i++)
      if (table[i] & PTE_P)
        npt_free_level(npt, P2V(PTE_ADDR(table[i])), level - 1);
  kfree(table);
  npt->npages--;
}
// LAB 2 STUB
// // LAB 2: (a helper for npt_free) free a table and all tables below it, not the guest's frames.
// LAB 2 END

// Frees every table page (not the guest's memory). Safe on a zeroed or
// already freed struct npt.
void npt_free(struct npt *npt)
{
  if (!npt->pml4)
    return;
  // LAB 2 BEGIN
  npt_free_level(npt, npt->pml4, NPT_LEVELS - 1);
  // LAB 2 STUB
  // // LAB 2: free every table page, root included, so that npages drops to 0.
  // lab_missing(2, "npt_free");
  // LAB 2 END
  npt->pml4 = NULL;
  npt->pml4_pa = 0;
}

// Guest-linear to guest-physical translation through the guest's own page
// tables, in every paging mode, as the CPU would do it for an access the VMM
// emulates (KVM's paging_tmpl.h walker). Used to fetch the instruction behind
// an MMIO exit and to reach its memory operands.
//
// Modes (APM Vol. 2 §5.1 "Page Translation Overview"): paging off (linear =
// physical); 32-bit legacy paging with 4 KiB and, with CR4.PSE, 4 MiB pages
// (§5.2); PAE with its 4-entry PDPT (§5.3); 4-level long mode (§5.3.3).
// Protection (§5.6 "Page-Protection Checks"): P, R/W (supervisor writes too
// when CR0.WP), U/S for CPL 3, NX for fetches when EFER.NXE. Accessed and
// dirty bits are set as the CPU sets them (§5.4.2).
#include "vmm.h"
#include "gva.h"
#include "x86emu.h"

#define PTE_P 0x1UL
#define PTE_W 0x2UL
#define PTE_U 0x4UL
#define PTE_A 0x20UL
#define PTE_D 0x40UL
#define PTE_PS 0x80UL
#define PTE_NX (1UL << 63)
#define ADDR_MASK 0x000FFFFFFFFFF000UL   // physical-address bits of a 64-bit entry

#define CR0_PG (1UL << 31)
#define CR0_WP (1UL << 16)
#define CR4_PSE (1UL << 4)
#define CR4_PAE (1UL << 5)
#define EFER_LMA (1UL << 10)
#define EFER_NXE (1UL << 11)

// L2-physical to L1-physical (lab 9): while the exit is L2's and L2 runs on
// L1's nested page table (the exit record's nested.l2_np), every physical
// address L2's walk or access produces is L2's and goes through L1's table
// as the CPU's nested walk would (APM Vol. 2 §15.25.5): 4 levels (L1 is in
// long mode, the kernel refuses nested paging otherwise), each entry present
// and U (nested walks are user accesses), W on every level for a write, no
// NX for a fetch (NX with L1's EFER.NXE clear is a reserved bit), leaves of
// 1 GiB and 2 MiB; A set on each entry used, D on the leaf of a write. 0, or
// -1 where the CPU would give L1 a nested page fault (the VMM cannot: it
// gives up on the instruction). Without nested paging L2's addresses are L1's.
static int l2_to_l1(struct guest *g, uint64 *gpa, int acc)
{
  uint32 np = g->e.nested.l2_np;
  if (!(np & VM_NESTED_L2_NP))
    return 0;
  uint64 table = g->e.nested.l2_ncr3 & ADDR_MASK, a = *gpa;
  for (int lvl = 4; lvl >= 1; lvl--) {
    int shift = 12 + 9 * (lvl - 1);
    uint64 at = table + 8 * ((a >> shift) & 511);
    if (at + 8 > g->hdr.memsize || at + 8 < at)
      return -1;   // L1's table outside its RAM: the kernel's walk refused it too
    uint64 *p = (uint64 *)(g->mem + at), e = *p;
    if (!(e & PTE_P) || !(e & PTE_U) || ((e & PTE_NX) && !(np & VM_NESTED_L1_NXE)) ||
        ((acc & GVA_WRITE) && !(e & PTE_W)) || ((acc & GVA_FETCH) && (e & PTE_NX)))
      return -1;
    *p |= PTE_A;
    if (lvl == 1 || (lvl <= 3 && (e & PTE_PS))) {
      if (acc & GVA_WRITE)
        *p |= PTE_D;
      *gpa = (e & ADDR_MASK & ~((1UL << shift) - 1)) | (a & ((1UL << shift) - 1));
      return 0;
    }
    table = e & ADDR_MASK;
  }
  return -1;
}

// One entry of a guest page table in guest RAM, or NULL when the table is
// not in RAM (then the walk fails: the VMM does not emulate tables in MMIO).
// An L2's table is at an L2-physical address (l2_to_l1).
// (unused: only the walks below call it, and a lab 7 handout has none yet.)
__attribute__((unused)) static void *entry_at(struct guest *g, uint64 gpa, int size)
{
  if (l2_to_l1(g, &gpa, GVA_READ) < 0)
    return NULL;
  if (gpa + size > g->hdr.memsize || gpa + size < gpa)
    return NULL;
  return g->mem + gpa;
}

// LAB 7 BEGIN
// Checks the rights the walk collected against the access; 0 or a #PF error
// code (P=1: the page was present, a protection violation).
// The error code's access bits: W/R, U/S, and I/D, which the CPU reports
// only where fetches can be told apart, with EFER.NXE under PAE paging
// (§8.4.2; legacy 32-bit paging has no NX).
static int access_code(const struct vm_regs *r, int acc, int cpl3)
{
  int fetch = (acc & GVA_FETCH) && (r->efer & EFER_NXE) && (r->cr4 & CR4_PAE);
  return (acc & GVA_WRITE) | (fetch ? GVA_FETCH : 0) | (cpl3 ? GVA_PF_U : 0);
}

static int rights(const struct vm_regs *r, uint64 all, int acc, int cpl3)
{
  int err = GVA_FAULT | GVA_PF_P | access_code(r, acc, cpl3);
  if ((acc & GVA_WRITE) && !(all & PTE_W) && (cpl3 || (r->cr0 & CR0_WP)))
    return err;
  if (cpl3 && !(all & PTE_U))
    return err;
  if ((acc & GVA_FETCH) && (r->efer & EFER_NXE) && (all & PTE_NX))
    return err;
  return 0;
}

// Walks levels of 8-byte entries (PAE and long mode). top: the table's gpa;
// shift: the address bits the first level indexes.
static int walk64(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 top,
                  int levels, uint64 *gpa)
{
  int cpl3 = ((r->cs.attr >> 5) & 3) == 3;
  uint64 table = top, all = PTE_W | PTE_U, e = 0;
  uint64 *leaf = NULL;
  for (int lvl = levels; lvl >= 1; lvl--) {
    int shift = 12 + 9 * (lvl - 1);
    uint64 *p = entry_at(g, table + 8 * ((la >> shift) & 511), 8);
    if (!p)
      return GVA_BADTABLE;
    e = *p;
    if (!(e & PTE_P))
      return access_code(r, acc, cpl3) | GVA_PF_NOTPRESENT;
    all = (all & e & (PTE_W | PTE_U)) | ((all | e) & PTE_NX);
    *p |= PTE_A;
    leaf = p;
    if (lvl > 1 && lvl <= 3 && (e & PTE_PS)) {   // 1 GiB or 2 MiB page
      *gpa = (e & ADDR_MASK & ~((1UL << shift) - 1)) | (la & ((1UL << shift) - 1));
      goto found;
    }
    table = e & ADDR_MASK;
  }
  *gpa = (e & ADDR_MASK) | (la & 0xFFF);
found:;
  int err = rights(r, all, acc, cpl3);
  if (!err && (acc & GVA_WRITE))
    *leaf |= PTE_D;
  return err;
}

// PAE outside long mode: CR3 points at 4 PDPT entries (32-byte aligned).
static int walk_pae(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
{
  uint64 *pdpte = entry_at(g, (r->cr3 & 0xFFFFFFE0UL) + 8 * ((la >> 30) & 3), 8);
  if (!pdpte)
    return GVA_BADTABLE;
  if (!(*pdpte & PTE_P))
    return access_code(r, acc, ((r->cs.attr >> 5) & 3) == 3) | GVA_PF_NOTPRESENT;
  return walk64(g, r, la, acc, *pdpte & ADDR_MASK, 2, gpa);
}

// 32-bit legacy paging: 4-byte entries, 4 MiB pages with CR4.PSE.
static int walk32(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
{
  int cpl3 = ((r->cs.attr >> 5) & 3) == 3;
  uint32 *pde = entry_at(g, (r->cr3 & 0xFFFFF000UL) + 4 * ((la >> 22) & 1023), 4);
  if (!pde)
    return GVA_BADTABLE;
  int np = access_code(r, acc, cpl3) | GVA_PF_NOTPRESENT;
  if (!(*pde & PTE_P))
    return np;
  *pde |= PTE_A;
  uint32 *leaf = pde;
  uint64 all = *pde & (PTE_W | PTE_U);
  if ((*pde & PTE_PS) && (r->cr4 & CR4_PSE)) {
    *gpa = (*pde & 0xFFC00000UL) | (la & 0x3FFFFF);
  } else {
    uint32 *pte = entry_at(g, (*pde & 0xFFFFF000UL) + 4 * ((la >> 12) & 1023), 4);
    if (!pte)
      return GVA_BADTABLE;
    if (!(*pte & PTE_P))
      return np;
    *pte |= PTE_A;
    all &= *pte;
    leaf = pte;
    *gpa = (*pte & 0xFFFFF000UL) | (la & 0xFFF);
  }
  int err = rights(r, all, acc, cpl3);
  if (!err && (acc & GVA_WRITE))
    *leaf |= PTE_D;
  return err;
}
// LAB 7 STUB
// // LAB 7: the walks. walk64() follows `levels` levels of 8-byte entries from the table at
// // `top` (4 for long mode, 2 below a PAE PDPT entry), walk_pae() starts at the PAE PDPT,
// // walk32() does legacy 32-bit paging with 4 MiB pages when CR4.PSE. Each returns 0 with *gpa
// // set, GVA_FAULT | a #PF error code (APM Vol. 2 §8.4.2) for a not-present entry or a
// // protection violation (R/W with CR0.WP, U/S at CPL 3, NX on fetches with EFER.NXE), or
// // GVA_BADTABLE for a table outside guest RAM (entry_at() returns NULL); and sets the
// // accessed bits of the entries it used and the dirty bit of the leaf on a write (§5.4.2).
// static int walk64(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 top,
//                   int levels, uint64 *gpa)
// {
//   x86_missing("walk64 (user/vmm/gva.c)");
// }
//
// static int walk_pae(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
// {
//   x86_missing("walk_pae (user/vmm/gva.c)");
// }
//
// static int walk32(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
// {
//   x86_missing("walk32 (user/vmm/gva.c)");
// }
// LAB 7 END

// Translates la for an access of kind acc (GVA_READ/GVA_WRITE/GVA_FETCH).
// 0 with *gpa set; a #PF error code when the guest must take a page
// fault (GVA_FAULT | error code); GVA_BADTABLE when a table lies outside
// guest RAM or L1's nested table refuses L2's access.
static int translate(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
{
  if (!(r->cr0 & CR0_PG)) {
    *gpa = (r->efer & EFER_LMA) ? la : (uint32)la;
    return 0;
  }
  if (r->efer & EFER_LMA)
    return walk64(g, r, la, acc, r->cr3 & ADDR_MASK, 4, gpa);
  if (r->cr4 & CR4_PAE)
    return walk_pae(g, r, (uint32)la, acc, gpa);
  return walk32(g, r, (uint32)la, acc, gpa);
}

// The result is an L1-physical address for an exit of L2's (l2_to_l1).
int gva_translate(struct guest *g, const struct vm_regs *r, uint64 la, int acc, uint64 *gpa)
{
  int t = translate(g, r, la, acc, gpa);
  if (t == 0 && l2_to_l1(g, gpa, acc) < 0)
    return GVA_BADTABLE;
  return t;
}

// User address spaces: the lower half of a process's page table (slots
// 0..255 of its PML4; the upper half is the shared kernel map, vm.c).
// Every present leaf below USERTOP is a page the process owns (kalloc'd),
// so freeing and copying walk the whole lower half.
//
// The kernel never dereferences a user pointer: copyin/copyout translate
// each page through the table and touch it through the PHYSBASE map, so a
// bad pointer is an -EFAULT and never a kernel page fault.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "errno.h"
#include "../lib/string.h"

#define USERSLOTS 256   // PML4 slots below USERTOP

// The level-0 PTE for user va, or NULL when a table on the way is absent.
// Unlike walk() it never changes an entry.
pte_t *uvm_lookup(pte_t *pml4, uint64 va)
{
  if (va >= USERTOP)
    return NULL;
  pte_t *table = pml4;
  for (int l = 3; l > 0; l--) {
    pte_t e = table[PX(l, va)];
    if (!(e & PTE_P) || (e & PTE_PS))
      return NULL;
    table = P2V(PTE_ADDR(e));
  }
  return &table[PX(0, va)];
}

// Maps fresh zeroed pages over [start, end) (page-rounded) with perm.
// Returns 0 or -ENOMEM; on failure the pages mapped so far stay mapped
// and are freed with the address space.
int uvm_alloc(pte_t *pml4, uint64 start, uint64 end, uint64 perm)
{
  for (uint64 a = PGROUNDDOWN(start); a < end; a += PGSIZE) {
    void *page = kalloc();
    if (!page)
      return -ENOMEM;
    if (mappages(pml4, a, PGSIZE, V2P(page), perm | PTE_U) < 0) {
      kfree(page);
      return -ENOMEM;
    }
  }
  return 0;
}

// Unmaps and frees the pages of [start, end) (page-rounded) that are mapped.
void uvm_dealloc(pte_t *pml4, uint64 start, uint64 end)
{
  for (uint64 a = PGROUNDUP(start); a < end; a += PGSIZE) {
    pte_t *pte = uvm_lookup(pml4, a);
    if (pte && (*pte & PTE_P)) {
      kfree(P2V(PTE_ADDR(*pte)));
      *pte = 0;
    }
  }
}

// Drops this CPU's translations if it runs on the page table arg
// (smp_call from uvm_dealloc_shared).
static void flush_if_current(void *arg)
{
  if (rcr3() == V2P(arg))
    lcr3(rcr3());
}

// Every CPU forgets its translations of pml4: the threads sharing it may be
// running on any of them.
static void uvm_shootdown(pte_t *pml4)
{
  for (int c = 0; c < ncpu; c++)
    if (cpu_online(c))
      smp_call(c, flush_if_current, pml4);
}

// uvm_dealloc for a table other CPUs may be using right now (sibling
// threads): the pages go back to the allocator only after every CPU has
// dropped its translations of them, or a thread could still write a page
// the kernel has handed out again. Frames are batched a page of them at a
// time (one at a time when even that page is not to be had).
void uvm_dealloc_shared(pte_t *pml4, uint64 start, uint64 end)
{
  uint64 *batch = kalloc(), max = batch ? PGSIZE / sizeof(uint64) : 1, one, n = 0;
  uint64 *frames = batch ? batch : &one;
  for (uint64 a = PGROUNDUP(start); a < end; a += PGSIZE) {
    pte_t *pte = uvm_lookup(pml4, a);
    if (pte && (*pte & PTE_P)) {
      frames[n++] = PTE_ADDR(*pte);
      *pte = 0;
    }
    if (n == max || (n && a + PGSIZE >= end)) {
      uvm_shootdown(pml4);
      for (uint64 i = 0; i < n; i++)
        kfree(P2V(frames[i]));
      n = 0;
    }
  }
  if (batch)
    kfree(batch);
}

// Frees the table at level (3 = PML4) and everything it maps, visiting
// only the first n slots.
static void free_level(pte_t *table, int level, int n)
{
  for (int i = 0; i < n; i++) {
    if (!(table[i] & PTE_P))
      continue;
    void *next = P2V(PTE_ADDR(table[i]));
    if (level > 0)
      free_level(next, level - 1, 512);
    else
      kfree(next);
  }
  kfree(table);
}

// Frees every user page, every user page table and the PML4 itself.
// The caller must not be running on pml4 (kvmswitch first).
void uvm_free(pte_t *pml4)
{
  if (pml4)
    free_level(pml4, 3, USERSLOTS);
}

// Copies the user mappings below table (level l, base va) into dst.
static int copy_level(pte_t *dst, pte_t *table, int level, uint64 base, int n)
{
  for (int i = 0; i < n; i++) {
    if (!(table[i] & PTE_P))
      continue;
    uint64 va = base + ((uint64)i << (12 + 9 * level));
    void *next = P2V(PTE_ADDR(table[i]));
    if (level > 0) {
      if (copy_level(dst, next, level - 1, va, 512) < 0)
        return -1;
      continue;
    }
    void *page = kalloc();
    if (!page)
      return -1;
    memcpy(page, next, PGSIZE);
    if (mappages(dst, va, PGSIZE, V2P(page), PTE_FLAGS(table[i]) & (PTE_W | PTE_U | PTE_NX)) < 0) {
      kfree(page);
      return -1;
    }
  }
  return 0;
}

// A new address space with a copy of every user page of src, or NULL
// when out of memory (nothing is leaked).
pte_t *uvm_copy(pte_t *src)
{
  pte_t *dst = pml4_new();
  if (!dst)
    return NULL;
  if (copy_level(dst, src, 3, 0, USERSLOTS) < 0) {
    uvm_free(dst);
    return NULL;
  }
  return dst;
}

// Checks that [va, va+len) is user memory mapped with perm (PTE_U and,
// for writes, PTE_W): below USERTOP, no wrap-around, every page present.
int uvm_check(pte_t *pml4, uint64 va, uint64 len, uint64 perm)
{
  if (va >= USERTOP || len > USERTOP - va)
    return -EFAULT;
  perm |= PTE_P | PTE_U;
  for (uint64 a = PGROUNDDOWN(va); a < va + len; a += PGSIZE) {
    pte_t *pte = uvm_lookup(pml4, a);
    if (!pte || (*pte & perm) != perm)
      return -EFAULT;
  }
  return 0;
}

// Copies len bytes between kernel buffer k and user address u, in the
// direction given by out. Validates the whole range first.
static int copy_user(pte_t *pml4, uint64 u, void *k, uint64 len, int out)
{
  if (uvm_check(pml4, u, len, out ? PTE_W : 0) < 0)
    return -EFAULT;
  while (len > 0) {
    uint64 off = u & (PGSIZE - 1), n = PGSIZE - off;
    if (n > len)
      n = len;
    uint8 *p = (uint8 *)P2V(PTE_ADDR(*uvm_lookup(pml4, u))) + off;
    if (out)
      memcpy(p, k, n);
    else
      memcpy(k, p, n);
    u += n, k = (uint8 *)k + n, len -= n;
  }
  return 0;
}

// Kernel dst <- user src; 0 or -EFAULT.
int copyin(pte_t *pml4, void *dst, uint64 src, uint64 len) { return copy_user(pml4, src, dst, len, 0); }

// User dst <- kernel src; 0 or -EFAULT (the user pages must be writable).
int copyout(pte_t *pml4, uint64 dst, const void *src, uint64 len)
{
  return copy_user(pml4, dst, (void *)src, len, 1);
}

// Copies a NUL-terminated user string of at most max-1 characters into
// dst. Returns its length, -EFAULT for a bad pointer, -ERANGE if too long.
int copyinstr(pte_t *pml4, char *dst, uint64 src, uint64 max)
{
  for (uint64 i = 0; i < max; i++) {
    if (copyin(pml4, &dst[i], src + i, 1) < 0)
      return -EFAULT;
    if (dst[i] == 0)
      return i;
  }
  return -ERANGE;
}

// Makes p's address space and kernel stack current on this CPU: TSS.rsp0
// for traps from ring 3, kstack_top for SYSCALL, CR3 for its pages.
void switchuvm(struct proc *p)
{
  pushcli();
  struct cpu *c = mycpu();
  uint64 top = (uint64)p->kstack + KSTACKSIZE;
  c->ts.rsp0 = top;
  c->kstack_top = top;
  lcr3(V2P(p->pml4 ? p->pml4 : kpml4));   // exit() drops pml4 early
  popcli();
}

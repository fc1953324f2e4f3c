// Physical page allocator: one bit per 4 KiB page of RAM below PHYSTOP.
// Pages come from the multiboot memory map, minus the kernel image and the
// initrd. Every page handed out is zeroed, so no page ever carries one
// user's (or guest's) data to another. kfreecount() lets tests check for leaks.
//
// Memory debugging: a double free panics at once (the backtrace names the
// caller). With poisoning on (make SAN=1, or "kpoison=1" on the command
// line) every freed page is filled with POISON and checked when it is handed
// out again: a write after free (a stale mapping, a guest still running on a
// freed page) panics with the page and the first changed byte.
#include "defs.h"
#include "memlayout.h"
#include "mmu.h"
#include "multiboot.h"
#include "spinlock.h"
#include "cpu.h"
#include "proc.h"
#include "errno.h"
#include "../lib/string.h"

#define MAXPAGES (PHYSTOP / PGSIZE)
#define POISON 0x6B6B6B6B6B6B6B6BUL   // Linux's POISON_FREE byte

#ifdef SVMLAB_SAN
#define POISON_DEFAULT 1
#else
#define POISON_DEFAULT 0
#endif

static struct spinlock klock;
static uint8 used[MAXPAGES / 8];   // 1 = allocated or not RAM
static uint64 npages;              // pages below the top of usable RAM
static uint64 nfree;
static uint64 hint;                // where the next search starts
static uint8 poisoned[MAXPAGES / 8];  // 1 = freed with poisoning on, not handed out since
static int poison_on = POISON_DEFAULT;

static int page_used(uint64 pn) { return used[pn / 8] & (1 << (pn % 8)); }
static void page_set(uint64 pn) { used[pn / 8] |= 1 << (pn % 8); }
static void page_clear(uint64 pn) { used[pn / 8] &= ~(1 << (pn % 8)); }

// Marks [start, end) as free RAM, page-aligned inward.
static void free_range(uint64 start, uint64 end)
{
  start = PGROUNDUP(start);
  end = PGROUNDDOWN(end);
  if (end > PHYSTOP)
    end = PHYSTOP;
  for (uint64 pa = start; pa < end; pa += PGSIZE) {
    if (page_used(pa / PGSIZE)) {
      page_clear(pa / PGSIZE);
      nfree++;
    }
  }
  if (end / PGSIZE > npages)
    npages = end / PGSIZE;
}

// Keeps [start, end) out of the allocator.
static void reserve_range(uint64 start, uint64 end)
{
  for (uint64 pa = PGROUNDDOWN(start); pa < end && pa < PHYSTOP; pa += PGSIZE) {
    if (!page_used(pa / PGSIZE)) {
      page_set(pa / PGSIZE);
      nfree--;
    }
  }
}

void kinit(struct mb_info *mb)
{
  extern char __bss_end[];
  initlock(&klock, "kalloc");
  char v[4];
  if (cmdline_get("kpoison", v, sizeof v))
    poison_on = v[0] == '1';
  memset(used, 0xFF, sizeof used);
  if (!(mb->flags & MB_INFO_MEM_MAP))
    panic("kinit: the loader gave no memory map");
  uint8 *p = P2V(mb->mmap_addr), *end = p + mb->mmap_length;
  for (; p < end; p += ((struct mb_mmap_entry *)p)->size + 4) {
    struct mb_mmap_entry *e = (struct mb_mmap_entry *)p;
    if (e->type == 1 && e->addr + e->len > EXTMEM)
      free_range(e->addr < EXTMEM ? EXTMEM : e->addr, e->addr + e->len);
  }
  reserve_range(0, V2P(__bss_end));
  if (mb->flags & MB_INFO_MODS) {
    struct mb_module *m = P2V(mb->mods_addr);
    for (uint32 i = 0; i < mb->mods_count; i++)
      reserve_range(m[i].mod_start, m[i].mod_end);
    // The loader's info block and module list (QEMU puts them above the
    // modules) are read again by initrd_init, after kalloc is in use.
    reserve_range(V2P(mb), V2P(mb) + sizeof *mb);
    reserve_range(mb->mods_addr, mb->mods_addr + mb->mods_count * sizeof *m);
  }
  hint = 0;
}

static int page_poisoned(uint64 pn) { return poisoned[pn / 8] & (1 << (pn % 8)); }

// A page handed out again: it must still hold the poison its kfree wrote.
static void poison_check(uint64 pn)
{
  if (!page_poisoned(pn))
    return;
  poisoned[pn / 8] &= ~(1 << (pn % 8));
  uint64 *w = P2V(pn * PGSIZE);
  for (int i = 0; i < (int)(PGSIZE / 8); i++) {
    if (w[i] == POISON)
      continue;
    int b = 0;
    while (((w[i] >> (8 * b)) & 0xFF) == (POISON & 0xFF))
      b++;
    panic("kalloc: page %p (pa %lx) written after free: byte %d is 0x%lx, not the poison 0x6b",
          (void *)w, pn * PGSIZE, i * 8 + b, (w[i] >> (8 * b)) & 0xFF);
  }
}

// Finds n free pages in a row whose first page number is a multiple of
// align; marks them used and returns the first page number, or 0.
static uint64 find_run(uint64 n, uint64 align)
{
  for (uint64 pass = 0; pass < 2; pass++) {
    uint64 pn = pass ? 0 : (hint + align - 1) / align * align;
    for (; pn + n <= npages; pn += align) {
      uint64 k = 0;
      while (k < n && !page_used(pn + k))
        k++;
      if (k == n) {
        for (k = 0; k < n; k++) {
          page_set(pn + k);
          poison_check(pn + k);
        }
        nfree -= n;
        hint = pn + n;
        return pn;
      }
    }
  }
  return 0;
}

// Fault injection (kcov op KCOV_FAIL_NTH): p's n'th allocation from now on
// fails, so a test can walk n = 1, 2, ... through every allocation of a
// system call and check that each failure is clean. Every allocation made
// while p runs on this CPU counts. -EINVAL for n < 0.
static volatile int fail_used;   // 0 until a process first asks: kalloc skips the check

long kalloc_fail_nth(struct proc *p, int64 n)
{
  if (n < 0)
    return -EINVAL;
  p->fail_nth = n;
  if (n)
    fail_used = 1;
  return 0;
}

static int injected_failure(void)
{
  if (!fail_used)
    return 0;
  pushcli();   // an interrupt's allocation on this CPU counts for p too, but never twice
  struct proc *p = mycpu()->proc;
  int fail = p && p->fail_nth && --p->fail_nth == 0;
  popcli();
  return fail;
}

// Allocates n physically contiguous, zeroed pages aligned to align pages.
// Returns their kernel virtual address, or NULL when memory is exhausted.
void *kalloc_pages(uint64 n, uint64 align)
{
  if (n == 0 || align == 0 || injected_failure())
    return NULL;
  acquire(&klock);
  uint64 pn = find_run(n, align);
  release(&klock);
  if (!pn)
    return NULL;
  void *va = P2V(pn * PGSIZE);
  memset(va, 0, n * PGSIZE);
  return va;
}

void *kalloc(void) { return kalloc_pages(1, 1); }

void kfree_pages(void *va, uint64 n)
{
  uint64 pa = V2P(va);
  if ((pa & (PGSIZE - 1)) || pa / PGSIZE + n > npages)
    panic("kfree: bad address %p", va);
  acquire(&klock);
  for (uint64 k = 0; k < n; k++) {
    uint64 pn = pa / PGSIZE + k;
    if (!page_used(pn))
      panic("kfree: double free of %p (pa %lx, caller %p)", P2V(pn * PGSIZE), pn * PGSIZE,
            __builtin_return_address(0));
    if (poison_on) {
      memset(P2V(pn * PGSIZE), POISON & 0xFF, PGSIZE);
      poisoned[pn / 8] |= 1 << (pn % 8);
    }
    page_clear(pn);
  }
  nfree += n;
  release(&klock);
}

void kfree(void *va) { kfree_pages(va, 1); }

uint64 kfreecount(void) { return nfree; }
uint64 ktotalpages(void) { return npages; }

// kcov (see kcov.h): GCC calls __sanitizer_cov_trace_pc at the start of
// every basic block of the instrumented files. The sites are found once by
// scanning the kernel's text for `call __sanitizer_cov_trace_pc` (E8 rel32,
// exact target: a chance match is one in 2^32 per byte), so a site's number
// is its rank by address and the same numbers come out on every boot of one
// kernel.elf (tools/kcov_sites.py maps them to file:line on the host).
// A process's record: the sites it reached since its last collect, in the
// order first reached, plus a bitmap so that each is listed once.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "errno.h"
#include "kcov.h"
#include "spinlock.h"
#include "../lib/string.h"

struct kcov {
  uint64 pages;        // the allocation, in pages
  uint32 n;            // sites in list
  uint32 *list;        // nsites entries
  uint8 *seen;         // nsites bits
};

void __sanitizer_cov_trace_pc(void);

static struct spinlock kcovlock = {.name = "kcov"};
static uint32 *sites;            // return addresses minus __kernel_start, ascending
static uint32 nsites;
static int scanned;
static volatile int users;       // processes with kcov on (+1 for kcov=all): 0 keeps the hook cheap
static uint8 *allseen;           // kcov=all: every site reached by anything since boot

// Counts (and with out, records) every call to the hook in the text.
static uint32 scan_text(uint32 *out)
{
  extern char __kernel_start[], __text_end[];
  uint64 p = (uint64)__kernel_start, end = (uint64)__text_end - 5;
  uint64 target = (uint64)__sanitizer_cov_trace_pc;
  uint32 n = 0;
  for (; p <= end; p++) {
    if (*(uint8 *)p != 0xE8 || p + 5 + *(int32 *)(p + 1) != target)
      continue;
    if (out)
      out[n] = p + 5 - (uint64)__kernel_start;
    n++;
  }
  return n;
}

// The site table, built on first use. 0 when nothing is instrumented.
static uint32 kcov_sites(void)
{
  acquire(&kcovlock);
  if (!scanned) {
    uint32 n = scan_text(NULL);
    uint64 pages = (n * sizeof *sites + PGSIZE - 1) / PGSIZE;
    if (n && (sites = kalloc_pages(pages, 1)) != NULL) {
      scan_text(sites);
      nsites = n;
    }
    scanned = 1;
  }
  release(&kcovlock);
  return nsites;
}

// The site number of return address pc, or -1.
static int64 site_of(uint64 pc)
{
  extern char __kernel_start[];
  uint32 off = pc - (uint64)__kernel_start;
  uint32 lo = 0, hi = nsites;
  while (lo < hi) {
    uint32 mid = (lo + hi) / 2;
    if (sites[mid] < off)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < nsites && sites[lo] == off ? (int64)lo : -1;
}

// Interrupts off: the process cannot move to another CPU meanwhile.
void __sanitizer_cov_trace_pc(void)
{
  if (!users)
    return;
  uint64 pc = (uint64)__builtin_return_address(0), fl = rflags();
  if (allseen) {
    int64 s = site_of(pc);
    if (s >= 0)
      __atomic_fetch_or(&allseen[s / 8], (uint8)(1 << (s % 8)), __ATOMIC_RELAXED);
  }
  cli();
  struct proc *p = mycpu()->proc;
  struct kcov *k = p ? p->kcov : NULL;
  int64 s = k ? site_of(pc) : -1;
  if (s >= 0 && !(k->seen[s / 8] & (1 << (s % 8)))) {
    k->seen[s / 8] |= 1 << (s % 8);
    k->list[k->n++] = s;
  }
  if (fl & FL_IF)
    sti();
}

static long kcov_enable(struct proc *p)
{
  if (!kcov_sites())
    return -ENOSYS;
  if (!p->kcov) {
    uint64 bytes = sizeof(struct kcov) + nsites * sizeof(uint32) + nsites / 8 + 1;
    uint64 pages = (bytes + PGSIZE - 1) / PGSIZE;
    struct kcov *k = kalloc_pages(pages, 1);   // zeroed
    if (!k)
      return -ENOMEM;
    k->pages = pages;
    k->list = (uint32 *)(k + 1);
    k->seen = (uint8 *)(k->list + nsites);
    p->kcov = k;
    __sync_fetch_and_add(&users, 1);
  }
  return nsites;
}

// Copies out up to n of the sites reached and forgets them all.
static long kcov_collect(struct proc *p, uint64 buf, int64 n)
{
  struct kcov *k = p->kcov;
  if (!k)
    return -EINVAL;
  if (n < 0)
    return -EINVAL;
  uint64 fl = rflags();
  cli();
  uint32 got = k->n < (uint64)n ? k->n : n;
  long r = got;
  if (copyout(p->pml4, buf, k->list, got * sizeof(uint32)) < 0)
    r = -EFAULT;
  for (uint32 i = 0; i < k->n; i++)
    k->seen[k->list[i] / 8] = 0;
  k->n = 0;
  if (fl & FL_IF)
    sti();
  return r;
}

// Frees p's record (exit, KCOV_DISABLE); the hook stops seeing it first.
void kcov_free(struct proc *p)
{
  struct kcov *k = p->kcov;
  if (!k)
    return;
  uint64 fl = rflags();
  cli();
  p->kcov = NULL;
  if (fl & FL_IF)
    sti();
  __sync_fetch_and_sub(&users, 1);
  kfree_pages(k, k->pages);
}

uint64 sys_kcov(void)
{
  struct proc *p = myproc();
  switch (argint(0)) {
  case KCOV_ENABLE: return kcov_enable(p);
  case KCOV_COLLECT: return kcov_collect(p, argraw(1), arglong(2));
  case KCOV_DISABLE: kcov_free(p); return 0;
  case KCOV_FAIL_NTH: return kalloc_fail_nth(p, arglong(2));
  }
  return -EINVAL;
}

// kcov=all on the command line: from here on (after kinit, before the vmm's
// boot-time setup) every site any CPU reaches counts, whatever runs it: boot,
// ktests, processes without kcov, CPU enable/disable. kcov_dump prints them.
void kcov_boot(void)
{
  char v[8];
  if (!cmdline_get("kcov", v, sizeof v) || strcmp(v, "all") != 0 || !kcov_sites())
    return;
  allseen = kalloc_pages((nsites / 8 + PGSIZE) / PGSIZE, 1);
  if (allseen)
    __sync_fetch_and_add(&users, 1);
}

// At power-off with kcov=all: "kcov: kcov-map N HEX", site i = bit i % 8 of
// byte i / 8, the line tools/kcov_files.py reads.
void kcov_dump(void)
{
  static char line[2 * 4096 + 1];
  if (!allseen)
    return;
  uint32 bytes = (nsites + 7) / 8, n = 0;
  for (uint32 i = 0; i < bytes && n + 2 < sizeof line; i++) {
    line[n++] = "0123456789abcdef"[allseen[i] >> 4];
    line[n++] = "0123456789abcdef"[allseen[i] & 15];
  }
  line[n] = 0;
  printf("kcov: kcov-map %u %s\n", nsites, line);
}

// Runs the in-kernel test named on the command line (see ktest.h).
#include <stdarg.h>
#include "defs.h"
#include "ktest.h"
#include "spinlock.h"
#include "../lib/fmt.h"
#include "../lib/string.h"

extern const struct ktest __ktests_start[], __ktests_end[];
static struct spinlock ktlock;
static int nchecks, nfailed;

void kcheck(int ok, const char *file, int line, const char *fmt, ...)
{
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  acquire(&ktlock);
  nchecks++;
  if (!ok)
    nfailed++;
  release(&ktlock);
  if (ok)
    printf("ok: %s\n", msg);
  else
    printf("FAIL: %s (%s:%d)\n", msg, file, line);
}

int ktest_failures(void) { return nfailed; }

static const struct ktest *ktest_find(const char *name)
{
  for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
    if (strcmp(t->name, name) == 0)
      return t;
  return NULL;
}

// Runs ktest NAME and powers off: code 0 if every check passed, 1 otherwise.
void ktest_run(const char *name)
{
  initlock(&ktlock, "ktest");
  const struct ktest *t = ktest_find(name);
  if (!t) {
    printf("ktest %s: no such test; known tests:", name);
    for (t = __ktests_start; t < __ktests_end; t++)
      printf(" %s", t->name);
    printf("\n");
    poweroff(POWEROFF_FAIL);
  }
  printf("ktest %s: start\n", name);
  t->fn();
  printf("ktest %s: %d checks, %d failed\n", name, nchecks, nfailed);
  poweroff(nfailed || !nchecks ? POWEROFF_FAIL : POWEROFF_OK);
}

KTEST(kalloc_basic)
{
  uint64 before = kfreecount();
  void *a = kalloc(), *b = kalloc();
  KCHECK(a && b && a != b, "kalloc gives two distinct pages %p %p", a, b);
  KCHECK(kfreecount() == before - 2, "free count drops by 2 (%lu -> %lu)", before, kfreecount());
  void *c = kalloc_pages(3, 4);
  KCHECK(c && (V2P(c) % (4 * PGSIZE)) == 0, "3 contiguous pages 16 KiB aligned at pa %lx", c ? V2P(c) : 0);
  kfree(a);
  kfree(b);
  if (c)
    kfree_pages(c, 3);
  KCHECK(kfreecount() == before, "free count back to baseline %lu", kfreecount());
}

void *ktest_hog(uint64 leave)
{
  void *list = NULL;
  while (kfreecount() > leave) {
    void **p = kalloc();
    if (!p)
      break;
    *p = list;
    list = p;
  }
  return list;
}

void ktest_unhog(void *list)
{
  while (list) {
    void *next = *(void **)list;
    kfree(list);
    list = next;
  }
}

uint64 ktest_num(const char *key, uint64 dflt)
{
  char buf[24];
  if (!cmdline_get(key, buf, sizeof buf))
    return dflt;
  uint64 n = 0;
  for (char *p = buf; *p >= '0' && *p <= '9'; p++)
    n = n * 10 + (*p - '0');
  return n;
}

static uint64 rng = 1;

// The multiply spreads small seeds over all bits; | 1 keeps the state non-zero.
void ktest_seed(uint64 seed) { rng = seed * 0x9E3779B97F4A7C15UL | 1; }

uint64 ktest_rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

uint64 ktest_below(uint64 n) { return ktest_rnd() % n; }

// Spin locks with interrupt nesting, as in xv6: a CPU holding a lock never
// takes an interrupt, so an interrupt handler cannot deadlock against it.
//
// Lock-order checking, as Linux's lockdep: locks fall into classes by name
// (every VM's "vm" lock is one class). Each CPU keeps the classes it holds;
// taking class B while holding A records "A before B", and the transitive
// closure of that relation is kept as a bitmap per class. Taking B while
// holding A when "B before A" is already known is a cycle: two CPUs taking
// the locks in the two orders can deadlock, so it panics at once, with both
// names, the first time the inverted order happens (not only when it hangs).
// Nesting two locks of one class is not checked. Always on: the common case
// (an order already known) is one bit test per held lock.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "spinlock.h"
#include "../lib/string.h"

#define NCLASS 64
#define MAXHELD 16

static const char *classname[NCLASS];
static int nclass;
static uint64 before[NCLASS];      // before[a] bit b: a was held when b was taken (transitively)
static volatile uint32 ldlock;     // guards the three above; a raw lock (no recursion)
static uint8 held[NCPU][MAXHELD];  // classes each CPU holds, in order taken
static int nheld[NCPU];

static void ld_lock(void)
{
  while (xchg(&ldlock, 1) != 0)
    pause();
}

static void ld_unlock(void) { __sync_lock_release(&ldlock); }

// The class of lk, found by name the first time (0: table full).
static int lock_class(struct spinlock *lk)
{
  if (lk->cls)
    return lk->cls;
  const char *name = lk->name ? lk->name : "?";
  ld_lock();
  int c = 0;
  for (int i = 0; i < nclass && !c; i++)
    if (strcmp(classname[i], name) == 0)
      c = i + 1;
  if (!c && nclass < NCLASS) {
    classname[nclass++] = name;
    c = nclass;
  }
  ld_unlock();
  lk->cls = c;
  return c;
}

// Records "a before b" (class numbers); 0 if "b before a" is known: a cycle.
static int order_add(int a, int b)
{
  uint64 abit = 1UL << (a - 1), bbit = 1UL << (b - 1);
  if (before[a - 1] & bbit)
    return 1;
  if (before[b - 1] & abit)
    return 0;
  ld_lock();
  int ok = !(before[b - 1] & abit);   // again: another CPU may have added it meanwhile
  for (int x = 0; ok && x < nclass; x++)
    if (x == a - 1 || (before[x] & abit))
      before[x] |= bbit | before[b - 1];
  ld_unlock();
  return ok;
}

// Before waiting for lk: checks its class against every class this CPU holds.
static void lockdep_acquire(struct spinlock *lk)
{
  int c = lock_class(lk), id = mycpu() - cpus;
  if (!c || panicked)
    return;
  for (int i = 0; i < nheld[id] && i < MAXHELD; i++) {
    int h = held[id][i];
    if (h != c && !order_add(h, c))
      panic("lockdep: lock order cycle: taking \"%s\" while holding \"%s\", but \"%s\" was "
            "taken before while holding \"%s\"", classname[c - 1], classname[h - 1],
            classname[h - 1], classname[c - 1]);
  }
  if (nheld[id] < MAXHELD)
    held[id][nheld[id]] = c;
  nheld[id]++;
}

static void lockdep_release(struct spinlock *lk)
{
  int id = mycpu() - cpus, n = nheld[id] < MAXHELD ? nheld[id] : MAXHELD;
  if (!lk->cls || nheld[id] == 0)
    return;
  if (nheld[id] > MAXHELD) {   // deeper than we track: those were not recorded
    nheld[id]--;
    return;
  }
  for (int i = n - 1; i >= 0; i--) {
    if (held[id][i] == lk->cls) {
      for (int j = i; j < n - 1; j++)
        held[id][j] = held[id][j + 1];
      nheld[id]--;
      return;
    }
  }
}

void initlock(struct spinlock *lk, const char *name)
{
  lk->name = name;
  lk->locked = 0;
  lk->cpu = NULL;
  lk->cls = 0;
}

void acquire(struct spinlock *lk)
{
  pushcli();
  if (holding(lk))
    panic("acquire: %s already held", lk->name);
  lockdep_acquire(lk);
  while (xchg(&lk->locked, 1) != 0)
    pause();
  __sync_synchronize();
  lk->cpu = mycpu();
}

void release(struct spinlock *lk)
{
  if (!holding(lk))
    panic("release: %s not held", lk->name);
  lockdep_release(lk);
  lk->cpu = NULL;
  __sync_synchronize();
  asm volatile("movl $0, %0" : "+m"(lk->locked));
  popcli();
}

int holding(struct spinlock *lk)
{
  pushcli();
  int r = lk->locked && lk->cpu == mycpu();
  popcli();
  return r;
}

// pushcli/popcli are like cli/sti but matched: it takes two popcli to undo
// two pushcli, and interrupts stay off if they were off to begin with.
void pushcli(void)
{
  uint64 fl = rflags();
  cli();
  struct cpu *c = mycpu();
  if (c->ncli++ == 0)
    c->intena = fl & FL_IF;
}

void popcli(void)
{
  if (rflags() & FL_IF)
    panic("popcli: interruptible");
  struct cpu *c = mycpu();
  if (--c->ncli < 0)
    panic("popcli: unbalanced");
  if (c->ncli == 0 && c->intena)
    sti();
}

// Spin locks with interrupt nesting, as in xv6: a CPU holding a lock never
// takes an interrupt, so an interrupt handler cannot deadlock against it.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "spinlock.h"

void initlock(struct spinlock *lk, const char *name)
{
  lk->name = name;
  lk->locked = 0;
  lk->cpu = NULL;
}

void acquire(struct spinlock *lk)
{
  pushcli();
  if (holding(lk))
    panic("acquire: %s already held", lk->name);
  while (xchg(&lk->locked, 1) != 0)
    pause();
  __sync_synchronize();
  lk->cpu = mycpu();
}

void release(struct spinlock *lk)
{
  if (!holding(lk))
    panic("release: %s not held", lk->name);
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

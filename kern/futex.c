// Futexes: threads of one process sleep on a user address and wake each
// other, so that user-space locks need not spin (Linux futex(2), reduced to
// WAIT and WAKE).
//
// No wake-up is lost: futex_wait reads the word and queues itself under
// futex_lock, and futex_wake looks for waiters under the same lock. A
// waker changes the word before it calls futex_wake, so either the waiter
// read the new value (and does not sleep) or it was queued before the
// wake looked (and is woken). sleep() drops futex_lock only once the
// waiter is SLEEPING, with ptable.lock held.
//
// A waiter is keyed by its process (its leader) and the user address, and
// lives on its own kernel stack while it waits.
#include "defs.h"
#include "proc.h"
#include "spinlock.h"
#include "errno.h"

struct waiter {
  struct proc *p;
  struct proc *group;     // the process: futexes are private to it
  uint64 uaddr;
  int woken;              // futex_wake chose it
  void *chan;             // what it sleeps on: itself, or the tick channel if timed
  struct waiter *next;
};

static struct spinlock futex_lock = {0, "futex", 0};
static struct waiter *waiters;   // under futex_lock

// -EINVAL for a misaligned address, -EFAULT unless the word is user memory.
static int check_addr(struct proc *p, uint64 uaddr)
{
  if (uaddr % sizeof(int))
    return -EINVAL;
  return uvm_check(p->pml4, uaddr, sizeof(int), 0);
}

static void unqueue(struct waiter *w)
{
  for (struct waiter **pp = &waiters; *pp; pp = &(*pp)->next) {
    if (*pp == w) {
      *pp = w->next;
      return;
    }
  }
}

// Sleeps while *uaddr == expected, until futex_wake picks this thread: 0;
// -EAGAIN when the word differs at the start, -ETIMEDOUT after timeout_ns
// (<= 0: never; tick granularity), -EINTR when the process is killed.
int futex_wait(uint64 uaddr, int expected, int64 timeout_ns)
{
  struct proc *p = myproc();
  int r = check_addr(p, uaddr), val;
  if (r < 0)
    return r;
  uint64 deadline = timeout_ns > 0 ? clock_ns() + timeout_ns : 0;
  struct waiter w = {p, p->leader, uaddr, 0, NULL, NULL};
  w.chan = deadline ? ticks_chan() : (void *)&w;   // a timed waiter looks at the clock every tick
  acquire(&futex_lock);
  if (copyin(p->pml4, &val, uaddr, sizeof val) < 0) {
    release(&futex_lock);
    return -EFAULT;   // a sibling's sbrk took the page away
  }
  if (val != expected) {
    release(&futex_lock);
    return -EAGAIN;
  }
  struct waiter **tail = &waiters;   // first come, first woken
  while (*tail)
    tail = &(*tail)->next;
  *tail = &w;
  for (;;) {
    if (w.woken) {
      r = 0;
      break;
    }
    if (p->killed) {
      r = -EINTR;
      break;
    }
    if (deadline && clock_ns() >= deadline) {
      r = -ETIMEDOUT;
      break;
    }
    sleep(w.chan, &futex_lock);
  }
  unqueue(&w);
  release(&futex_lock);
  return r;
}

// Wakes up to n threads of the caller's process waiting on uaddr, the
// longest-waiting first; returns how many. -EINVAL for n < 0 or a
// misaligned address, -EFAULT for one outside user memory.
int futex_wake(uint64 uaddr, int n)
{
  struct proc *p = myproc();
  int r = check_addr(p, uaddr), woke = 0;
  if (r < 0)
    return r;
  if (n < 0)
    return -EINVAL;
  acquire(&futex_lock);
  for (struct waiter *w = waiters; w && woke < n; w = w->next) {
    if (w->group != p->leader || w->uaddr != uaddr || w->woken)
      continue;
    w->woken = 1;
    wakeup(w->chan);   // the tick channel wakes other sleepers too: they look and sleep on
    woke++;
  }
  release(&futex_lock);
  return woke;
}

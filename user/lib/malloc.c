// malloc/free: a first-fit free list over memory from sbrk. Each block
// starts with a header holding its size (in headers, header included);
// free() merges a block with free neighbours (the list is address-ordered).
// One mutex makes both safe to call from several threads.
#include "user.h"

union header {
  struct {
    union header *next;
    size_t units;
  } s;
  long align;
};

static union header base;
static union header *freep;
static struct mutex lock;

// fork() holds the lock across the system call, so that the child's copy
// of the heap is never one another thread was changing (user/lib/thread.c).
void malloc_lock(void) { mutex_lock(&lock); }
void malloc_unlock(void) { mutex_unlock(&lock); }

static void free_locked(void *ap)
{
  if (!ap)
    return;
  union header *bp = (union header *)ap - 1, *p = freep;
  for (; !(bp > p && bp < p->s.next); p = p->s.next)
    if (p >= p->s.next && (bp > p || bp < p->s.next))
      break;   // at the wrap-around point of the circular list
  if (bp + bp->s.units == p->s.next) {
    bp->s.units += p->s.next->s.units;
    bp->s.next = p->s.next->s.next;
  } else {
    bp->s.next = p->s.next;
  }
  if (p + p->s.units == bp) {
    p->s.units += bp->s.units;
    p->s.next = bp->s.next;
  } else {
    p->s.next = bp;
  }
  freep = p;
}

// Asks the kernel for at least units more headers; NULL when it refuses.
static union header *morecore(size_t units)
{
  if (units < 4096)
    units = 4096;
  long old = sbrk(units * sizeof(union header));
  if (old < 0)
    return NULL;
  union header *hp = (union header *)old;
  hp->s.units = units;
  free_locked(hp + 1);
  return freep;
}

void free(void *ap)
{
  mutex_lock(&lock);
  free_locked(ap);
  mutex_unlock(&lock);
}

static void *malloc_locked(size_t n);

void *malloc(size_t n)
{
  if (n == 0 || n > (1UL << 40))
    return NULL;
  mutex_lock(&lock);
  void *p = malloc_locked(n);
  mutex_unlock(&lock);
  return p;
}

static void *malloc_locked(size_t n)
{
  size_t units = (n + sizeof(union header) - 1) / sizeof(union header) + 1;
  if (!freep) {
    base.s.next = freep = &base;
    base.s.units = 0;
  }
  for (union header *prev = freep, *p = prev->s.next;; prev = p, p = p->s.next) {
    if (p->s.units >= units) {
      if (p->s.units == units) {
        prev->s.next = p->s.next;
      } else {
        p->s.units -= units;
        p += p->s.units;
        p->s.units = units;
      }
      freep = prev;
      return p + 1;
    }
    if (p == freep && !(p = morecore(units)))
      return NULL;
  }
}

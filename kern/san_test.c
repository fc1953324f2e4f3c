// ktests of the memory and lock debugging (kern/kalloc.c, kern/spinlock.c).
// Each plants one bug and must see the kernel catch it with a panic:
//   ktest=lockdep             A then B, later B then A: a lock-order cycle
//   ktest=kalloc_double_free  a page freed twice
//   ktest=kalloc_poison       (with kpoison=1, or SAN=1) a write to a freed page,
//                             seen when the allocator hands the page out again
// The grader (grade/lab_san.py) matches the panic lines; a check that runs
// on past the planted bug prints FAIL.
#include "defs.h"
#include "ktest.h"
#include "spinlock.h"

static struct spinlock lock_a, lock_b, lock_c;

KTEST(lockdep)
{
  initlock(&lock_a, "lockdep_test_a");
  initlock(&lock_b, "lockdep_test_b");
  initlock(&lock_c, "lockdep_test_c");
  for (int i = 0; i < 2; i++) {   // A -> B -> C, twice: a consistent order is fine
    acquire(&lock_a);
    acquire(&lock_b);
    acquire(&lock_c);
    release(&lock_c);
    release(&lock_b);
    release(&lock_a);
  }
  KCHECK(1, "A, B, C taken in one order twice: no report");
  acquire(&lock_c);               // C -> A closes the cycle A -> B -> C -> A
  acquire(&lock_a);
  KCHECK(0, "taking A while holding C (after A -> B -> C) was not reported");
  release(&lock_a);
  release(&lock_c);
}

KTEST(kalloc_double_free)
{
  char *p = kalloc();
  KCHECK(p != NULL, "kalloc gives a page");
  kfree(p);
  kfree(p);
  KCHECK(0, "kfree of a free page %p was not reported", p);
}

// Takes every free page (chained through their first word) until the
// allocator comes back to `target`; frees them again. 1 if it did.
static int take_all_until(void *target)
{
  void *head = NULL, *p;
  int found = 0;
  while (!found && (p = kalloc()) != NULL) {
    *(void **)p = head;
    head = p;
    found = p == target;
  }
  while (head) {
    p = *(void **)head;
    kfree(head);
    head = p;
  }
  return found;
}

KTEST(kalloc_poison)
{
  volatile char *p = kalloc();
  KCHECK(p != NULL, "kalloc gives a page at %p", p);
  kfree((void *)p);
  p[1234] = 0x42;                 // the planted use after free
  int found = take_all_until((void *)p);
  KCHECK(0, "the page written after its free came back (%s) without a report (boot with kpoison=1)",
         found ? "found" : "not found");
}

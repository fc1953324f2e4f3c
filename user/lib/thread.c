// Threads for user programs: thread_create/thread_spawn over the raw system
// call, the stacks thread_spawn allocates, atomics, and a futex mutex.
#include "user.h"

#define SPAWN_STACK (64 * 1024)
#define MAXSPAWN 64   // stacks thread_spawn keeps track of at once

// Where a thread's fn returns to (the kernel pushed this address): the
// thread ends with status 0. Its stack is 16-byte aligned here again.
__attribute__((noreturn)) static void thread_return(void) { thread_exit(0); }

int thread_create(void (*fn)(void *), void *arg, void *stack_top)
{
  return sys_thread_create(fn, arg, stack_top, thread_return);
}

int atomic_add(volatile int *p, int v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }

int atomic_cas(volatile int *p, int old, int new)
{
  __atomic_compare_exchange_n(p, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return old;   // the value found: == old exactly when it swapped
}

// Drepper's three-state mutex ("Futexes Are Tricky", mutex2): 0 free,
// 1 locked, 2 locked and someone may sleep. Unlock wakes only in state 2,
// so an uncontended lock and unlock make no system call.
void mutex_lock(struct mutex *m)
{
  int c = atomic_cas(&m->v, 0, 1);
  if (c == 0)
    return;
  if (c != 2)
    c = __atomic_exchange_n(&m->v, 2, __ATOMIC_SEQ_CST);
  while (c != 0) {
    futex_wait(&m->v, 2, 0);
    c = __atomic_exchange_n(&m->v, 2, __ATOMIC_SEQ_CST);
  }
}

void mutex_unlock(struct mutex *m)
{
  if (__atomic_exchange_n(&m->v, 0, __ATOMIC_SEQ_CST) == 2)
    futex_wake(&m->v, 1);
}

// The stacks of spawned threads, freed when the thread is joined (a thread
// never joined keeps its stack until the process ends).
static struct {
  int tid;
  void *stack;
} spawned[MAXSPAWN];
static struct mutex spawn_lock;

int thread_spawn(void (*fn)(void *), void *arg)
{
  mutex_lock(&spawn_lock);
  int slot = 0;
  while (slot < MAXSPAWN && spawned[slot].stack)
    slot++;
  if (slot == MAXSPAWN) {
    mutex_unlock(&spawn_lock);
    return -EAGAIN;
  }
  char *stack = malloc(SPAWN_STACK);
  if (!stack) {
    mutex_unlock(&spawn_lock);
    return -ENOMEM;
  }
  uint64 top = ((uint64)stack + SPAWN_STACK) & ~15UL;
  spawned[slot].stack = stack;   // before the thread runs: it may be joined at once
  int tid = thread_create(fn, arg, (void *)top);
  if (tid < 0) {
    spawned[slot].stack = NULL;
    free(stack);
  } else {
    spawned[slot].tid = tid;
  }
  mutex_unlock(&spawn_lock);
  return tid;
}

// The library's locks are held across the system call: the child is a copy
// of this thread alone, and a lock another thread held at that moment would
// stay locked in the child forever, its heap perhaps half changed.
int fork(void)
{
  mutex_lock(&spawn_lock);
  malloc_lock();
  int r = sys_fork();
  malloc_unlock();
  mutex_unlock(&spawn_lock);
  return r;
}

int thread_join(int tid, int *status)
{
  int r = sys_thread_join(tid, status);
  if (r < 0)
    return r;
  mutex_lock(&spawn_lock);
  for (int i = 0; i < MAXSPAWN; i++) {
    if (spawned[i].stack && spawned[i].tid == tid) {
      free(spawned[i].stack);
      spawned[i].stack = NULL;
    }
  }
  mutex_unlock(&spawn_lock);
  return r;
}

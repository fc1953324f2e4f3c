// threadtest: kernel threads and futexes (kern/proc.c, kern/futex.c).
// Each part prints "threadtest: PART: ok" when all its checks held, a
// "threadtest: PART: FAIL: ..." line per failed check otherwise, and the
// program ends with "threadtest: ok" only if every part passed. Expected
// values come from the test's own bookkeeping (counts it made, statuses it
// chose, clock_ns), never from the kernel under test.
#include "user.h"
#include "vm.h"

static const char *part;
static int part_failures, failures;

static void check(int ok, const char *what, long v)
{
  if (!ok) {
    printf("threadtest: %s: FAIL: %s (%ld)\n", part, what, v);
    part_failures++;
  }
}

static void begin(const char *name)
{
  part = name;
  part_failures = 0;
}

static void end(void)
{
  if (!part_failures)
    printf("threadtest: %s: ok\n", part);
  failures += part_failures;
}

// Waits (futex, 1 s at a time) until *w != v. Returns how many waits ran
// into their timeout although *w had changed: the waker's futex_wake came
// after the change and should have ended them, so each is a lost wake-up.
static int wait_change(volatile int *w, int v)
{
  int lost = 0;
  while (*w == v)
    lost += futex_wait(w, v, 1000000000L) == -ETIMEDOUT && *w != v;
  return lost;
}

// wait() for a child that must end soon: a watchdog thread fails the test
// (and ends it) should the child still be there after 15 s.
static volatile int wd_armed;

static volatile int wd_pid, wd_line;

static void watchdog_fn(void *arg)
{
  long t0 = clock_ns();
  while (wd_armed) {
    futex_wait(&wd_armed, 1, 100000000L);
    if (wd_armed && clock_ns() - t0 > 15000000000L) {
      printf("threadtest: %s: FAIL: child %d (line %d) still there after 15 s\n", part, wd_pid, wd_line);
      exit(1);
    }
  }
}

#define wait_child(pid, st) wait_child_at(pid, st, __LINE__)
static int wait_child_at(int pid, int *st, int line)
{
  wd_armed = 1;
  wd_pid = pid, wd_line = line;
  int wd = thread_spawn(watchdog_fn, NULL);
  int r = wait(st);
  wd_armed = 0;
  futex_wake(&wd_armed, 1);
  thread_join(wd, NULL);
  return r;
}

// ---- create and join -----------------------------------------------------

#define NCREATE 24
static volatile int slot[NCREATE];
static volatile int tids[NCREATE];

static void create_fn(void *arg)
{
  long i = (long)arg;
  tids[i] = gettid();
  slot[i] = getpid();
  if (i % 3 == 0)
    return;   // returning is thread_exit(0)
  thread_exit(1000 + (int)i);
}

static void create_join(void)
{
  begin("create_join");
  int tid[NCREATE];
  for (long round = 0; round < 4; round++) {   // 96 threads: more than NPROC in all
    for (long i = 0; i < NCREATE; i++) {
      slot[i] = tids[i] = 0;
      tid[i] = thread_spawn(create_fn, (void *)i);
      check(tid[i] > 0 && tid[i] != getpid(), "thread_spawn gives a new tid", tid[i]);
    }
    for (int i = NCREATE - 1; i >= 0; i--) {
      int st = -1;
      int r = thread_join(tid[i], &st);
      check(r == 0, "thread_join", r);
      check(st == (i % 3 == 0 ? 0 : 1000 + i), "join returns the thread's exit status", st);
      check(slot[i] == getpid(), "getpid() in a thread is the process's", slot[i]);
      check(tids[i] == tid[i], "gettid() in the thread is what thread_spawn returned", tids[i]);
      check(thread_join(tid[i], &st) == -ESRCH, "a second join of the same thread: -ESRCH", 0);
    }
  }
  check(gettid() == getpid(), "the first thread's tid is the pid", gettid());
  end();
}

// ---- a counter under a mutex, threads on every CPU -------------------------

#define NCOUNT 4
#define ROUNDS 20000
static struct mutex counter_lock;
static volatile int counter, cpu_seen[8], counter_go;

static void count_fn(void *arg)
{
  long i = (long)arg;
  setcpu(i % ncpu());
  cpu_seen[getcpu() & 7] = 1;
  while (!counter_go)
    ;
  for (int k = 0; k < ROUNDS; k++) {
    mutex_lock(&counter_lock);
    int v = counter;   // read, dawdle, write: unlocked, updates would be lost
    for (volatile int d = 0; d < 10; d++)
      ;
    counter = v + 1;
    mutex_unlock(&counter_lock);
  }
}

static void mutex_counter(void)
{
  begin("mutex_counter");
  int tid[NCOUNT];
  for (long i = 0; i < NCOUNT; i++)
    tid[i] = thread_spawn(count_fn, (void *)i);
  counter_go = 1;
  for (int i = 0; i < NCOUNT; i++)
    check(thread_join(tid[i], NULL) == 0, "join a counting thread", tid[i]);
  check(counter == NCOUNT * ROUNDS, "the counter under the mutex is exact", counter);
  int cpus = 0;
  for (int c = 0; c < 8; c++)
    cpus += cpu_seen[c];
  check(cpus >= (ncpu() < 2 ? 1 : 2), "the threads ran on 2 CPUs or more", cpus);
  check(counter_lock.v == 0, "the mutex is free at the end", counter_lock.v);
  printf("threadtest: %d increments by %d threads on %d cpus\n", counter, NCOUNT, cpus);
  end();
}

// ---- futex ping-pong: a lost wake-up stalls a side for a 1 s timeout -------

#define PINGPONG 1000
static volatile int turn, lost, pp_stop;

static void pong_fn(void *arg)
{
  setcpu(ncpu() > 1 ? 1 : 0);
  while (!pp_stop) {
    atomic_add(&lost, wait_change(&turn, 0));   // wait for my turn (1)
    turn = 0;
    futex_wake(&turn, 1);
  }
}

// Two threads on two CPUs hand a turn back and forth; each waits in
// futex_wait. The first lost wake-ups end the game (each costs a second).
static void futex_pingpong(void)
{
  begin("futex_pingpong");
  setcpu(0);
  turn = lost = pp_stop = 0;
  int tid = thread_spawn(pong_fn, NULL);
  long t0 = clock_ns();
  int k = 0;
  for (; k < PINGPONG && lost < 2; k++) {
    turn = 1;
    futex_wake(&turn, 1);
    atomic_add(&lost, wait_change(&turn, 1));
  }
  pp_stop = 1;
  turn = 1;   // the other player's last turn: it sees pp_stop
  futex_wake(&turn, 1);
  check(thread_join(tid, NULL) == 0, "join the other player", tid);
  setcpu(-1);
  check(lost == 0, "no wake-up lost (waits that ran into their 1 s timeout after the word changed)", lost);
  check(k == PINGPONG, "all round trips played", k);
  printf("threadtest: %d round trips in %ld ms\n", k, (clock_ns() - t0) / 1000000);
  end();
}

// ---- futex_wait/futex_wake contracts -----------------------------------------

static volatile int word, woken_ok, waiting;

// Sleeps once: word stays 0 until every sleeper was woken, so its
// futex_wait must come back with 0, and only because of a futex_wake.
static void waiter_fn(void *arg)
{
  atomic_add(&waiting, 1);
  if (futex_wait(&word, 0, 0) == 0)
    atomic_add(&woken_ok, 1);
}

static volatile int far_word, far_result;

static void far_fn(void *arg)
{
  far_result = 1;
  far_result = futex_wait(&far_word, 0, 0x7fffffffffffffffL);
}

static void futex_calls(void)
{
  begin("futex_calls");
  word = 5;
  check(futex_wait(&word, 6, 0) == -EAGAIN, "futex_wait with a wrong value: -EAGAIN", 0);
  check(futex_wait((int *)((char *)&word + 1), 5, 0) == -EINVAL, "misaligned address: -EINVAL", 0);
  check(futex_wait(NULL, 0, 0) == -EFAULT, "futex_wait(NULL): -EFAULT", 0);
  check(futex_wait((int *)0xffffffff80100000UL, 0, 0) == -EFAULT, "futex_wait on kernel memory: -EFAULT", 0);
  check(futex_wait((int *)0x8000000000000000UL, 0, 0) == -EFAULT, "non-canonical address: -EFAULT", 0);
  check(futex_wake((int *)0xffffffff80100000UL, 1) == -EFAULT, "futex_wake on kernel memory: -EFAULT", 0);
  check(futex_wake(&word, -1) == -EINVAL, "futex_wake of -1 waiters: -EINVAL", 0);
  check(futex_wake(&word, 10) == 0, "futex_wake without waiters wakes 0", 0);

  long t0 = clock_ns();
  int r = futex_wait(&word, 5, 50 * 1000000L);
  long dt = clock_ns() - t0;
  check(r == -ETIMEDOUT, "futex_wait with a 50 ms timeout: -ETIMEDOUT", r);
  check(dt >= 50 * 1000000L && dt < 3000 * 1000000L, "it slept at least 50 ms (and not seconds)", dt / 1000);

  // The largest timeout: the thread sleeps until woken.
  far_word = 0;
  far_result = 0;
  int far = thread_spawn(far_fn, NULL), got = 0;
  for (long t1 = clock_ns(); !got && clock_ns() - t1 < 5000000000L; yield())
    got = far_result == 1 && futex_wake(&far_word, 1) == 1;
  thread_join(far, NULL);
  check(got && far_result == 0, "futex_wait with a timeout of LONG_MAX ns sleeps until woken", far_result);

  // Three sleepers, woken two, then one, then none is left.
  word = 0;
  waiting = woken_ok = 0;
  int tid[3];
  for (int i = 0; i < 3; i++)
    tid[i] = thread_spawn(waiter_fn, NULL);
  while (waiting < 3)
    yield();
  sleep(5);   // all three reach futex_wait (a late one is woken by a later call)
  int w2 = futex_wake(&word, 2);
  check(w2 <= 2, "futex_wake(2) wakes at most 2", w2);
  int total = w2;
  for (long t0 = clock_ns(); total < 3 && clock_ns() - t0 < 5000000000L;) {
    int w1 = futex_wake(&word, 1);
    check(w1 == 0 || w1 == 1, "futex_wake(1) wakes 0 or 1", w1);
    total += w1;
  }
  check(total == 3, "every sleeper was woken exactly once", total);
  for (int i = 0; i < 3; i++)
    thread_join(tid[i], NULL);
  check(woken_ok == 3, "each sleeper's futex_wait came back with 0", woken_ok);
  check(futex_wake(&word, 10) == 0, "nobody waits any more", 0);
  end();
}

// ---- bad arguments ---------------------------------------------------------

static void nop_fn(void *arg) {}

static void ret_stub(void) { thread_exit(0); }

static void bad_args(void)
{
  begin("bad_args");
  static char stack[4096] __attribute__((aligned(16)));
  char *top = stack + sizeof stack;
  char *heap = malloc(64);
  struct {
    void *fn, *sp, *ret;
    int err;
    const char *what;
  } cases[] = {
      {NULL, top, ret_stub, -EFAULT, "fn NULL"},
      {(void *)0xffffffff80100000UL, top, ret_stub, -EFAULT, "fn in the kernel"},
      {(void *)0x8000000000000000UL, top, ret_stub, -EFAULT, "fn non-canonical"},
      {(void *)0x0000800000000000UL, top, ret_stub, -EFAULT, "fn at the first non-user address"},
      {heap, top, ret_stub, -EFAULT, "fn in the heap (no-execute)"},
      {nop_fn, top - 8, ret_stub, -EINVAL, "stack not 16-byte aligned"},
      {nop_fn, NULL, ret_stub, -EFAULT, "stack NULL"},
      {nop_fn, (void *)0xffffffff80200000UL, ret_stub, -EFAULT, "stack in the kernel"},
      {nop_fn, (void *)0x8000000000000010UL, ret_stub, -EFAULT, "stack non-canonical"},
      {nop_fn, (void *)0x0000400000000000UL, ret_stub, -EFAULT, "stack unmapped"},
      {nop_fn, (void *)nop_fn + 16 - ((long)nop_fn & 15), ret_stub, -EFAULT, "stack in read-only text"},
      {nop_fn, top, (void *)0xffffffff80100000UL, -EFAULT, "return address in the kernel"},
      {nop_fn, top, NULL, -EFAULT, "return address NULL"},
  };
  for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int r = sys_thread_create(cases[i].fn, NULL, cases[i].sp, cases[i].ret);
    if (r != cases[i].err)
      printf("threadtest: bad_args: %s: got %s, want %s\n", cases[i].what, errstr(r), errstr(cases[i].err));
    check(r == cases[i].err, cases[i].what, r);
    if (r > 0)
      thread_join(r, NULL);
  }
  free(heap);
  check(thread_join(gettid(), NULL) == -EINVAL, "join of itself: -EINVAL", 0);
  check(thread_join(0, NULL) == -ESRCH, "join of tid 0: -ESRCH", 0);
  check(thread_join(-5, NULL) == -ESRCH, "join of tid -5: -ESRCH", 0);
  int pid = fork();
  if (pid == 0) {
    sleep(100);   // a join that waited for it would come back after 1 s: wrong
    exit(0);
  }
  check(thread_join(pid, NULL) == -ESRCH, "join of another process's tid: -ESRCH", pid);
  kill(pid);
  wait(NULL);
  int tid = thread_spawn(nop_fn, NULL);
  check(thread_join(tid, (int *)0xffffffff80100000UL) == -EFAULT, "join with a kernel status pointer: -EFAULT", 0);
  int st = -1;
  check(thread_join(tid, &st) == 0 && st == 0, "the thread is still joinable after that", st);
  end();
}

// ---- limits ------------------------------------------------------------------

static volatile int hold;

static void hold_fn(void *arg)
{
  while (hold)
    futex_wait(&hold, 1, 0);
}

// Spawns holding threads until thread_spawn fails; returns how many, the
// error in *err. join_all() ends them.
static int spawn_until_full(int *tid, int max, int *err)
{
  int n = 0;
  hold = 1;
  while (n < max && (tid[n] = thread_spawn(hold_fn, NULL)) > 0)
    n++;
  *err = n < max ? tid[n] : 0;
  return n;
}

static void join_all(int *tid, int n)
{
  hold = 0;
  futex_wake(&hold, 1000);
  for (int i = 0; i < n; i++)
    check(thread_join(tid[i], NULL) == 0, "join a holding thread", tid[i]);
}

static void limits(void)
{
  begin("limits");
  int tid[64], err;
  int n = spawn_until_full(tid, 64, &err);
  check(err == -EAGAIN, "thread_spawn past the per-process limit: -EAGAIN", err);
  check(n == 31, "31 threads besides the first (THREADS_MAX 32)", n);
  join_all(tid, n);

  // Threads that ended but were not joined keep their slots: they count.
  n = 0;
  while (n < 64 && (tid[n] = thread_spawn(nop_fn, NULL)) > 0)
    n++;
  check(n == 31 && n < 64 && tid[n] == -EAGAIN, "31 ended threads not joined yet hold the limit", n);
  for (int i = 0; i < n; i++)
    check(thread_join(tid[i], NULL) == 0, "join an ended thread", tid[i]);
  long before = freepages();   // the heap now holds 31 stacks: it grows no more below

  char *argv[] = {"echo", "threadtest: exec ran (WRONG)", NULL};
  spawn_until_full(tid, 1, &err);
  check(exec("/echo", argv) == -EBUSY, "exec with another thread alive: -EBUSY", 0);
  join_all(tid, 1);

  // Fill the process table with sleeping children, free 3 slots: 3 threads fit.
  int kids[64], nk = 0, pid;
  while (nk < 64 && (pid = fork()) > 0)
    kids[nk++] = pid;
  if (pid == 0) {
    sleep(100000);
    exit(0);
  }
  check(pid == -EAGAIN, "fork until the table is full", pid);
  for (int i = 0; i < 3 && nk > 0; i++) {
    kill(kids[--nk]);
    wait(NULL);
  }
  n = spawn_until_full(tid, 64, &err);
  check(n == 3, "threads fit in the 3 free slots exactly", n);
  check(err == -EAGAIN, "thread_spawn with the table full: -EAGAIN", err);
  join_all(tid, n);
  for (int i = 0; i < nk; i++)
    kill(kids[i]);
  while (wait(NULL) > 0)
    ;
  long after = freepages();
  check(after == before, "free pages back to the baseline", after - before);
  end();
}

// ---- sbrk seen by every thread -------------------------------------------------

static volatile long brk_seen;
static volatile int brk_step;

static void brk_fn(void *arg)
{
  char *p = (char *)sbrk(3 * 4096);
  memset(p, 0x5A, 3 * 4096);
  brk_seen = (long)p;
  brk_step = 1;
  futex_wake(&brk_step, 1);
  wait_change(&brk_step, 1);   // the main thread reads it, then we give it back
  brk_seen = sbrk(-3 * 4096);
  brk_step = 3;
  futex_wake(&brk_step, 1);
}

static void sbrk_shared(void)
{
  begin("sbrk_shared");
  brk_step = 0;
  int tid = thread_spawn(brk_fn, NULL);
  wait_change(&brk_step, 0);
  char *p = (char *)brk_seen;
  int same = 1;
  for (int i = 0; i < 3 * 4096; i++)
    same &= p[i] == 0x5A;
  check(same, "the main thread reads what the thread wrote in the heap it grew", 0);
  check(sbrk(0) == brk_seen + 3 * 4096, "the main thread's break is the thread's", sbrk(0) - brk_seen);
  brk_step = 2;
  futex_wake(&brk_step, 1);
  wait_change(&brk_step, 2);
  check(sbrk(0) == (long)p, "the break went back for every thread", sbrk(0) - (long)p);
  thread_join(tid, NULL);
  end();
}

// A thread that reads a heap page in a loop on another CPU must fault once
// the main thread shrank the heap under it: the kernel flushed that CPU's
// TLB before freeing the page. Runs in a child that must die of the fault.
static volatile char *shrink_page;
static volatile int shrink_state;

static void reader_fn(void *arg)
{
  setcpu(ncpu() > 1 ? 1 : 0);
  long sum = 0;
  shrink_state = 1;
  while (shrink_state == 1)
    sum += shrink_page[0];   // keeps the translation hot in this CPU's TLB
  for (int k = 0; k < 100000; k++)
    sum += shrink_page[k % 4096];
  exit(sum == 12345 ? 3 : 2);   // reached only through a stale translation
}

static void sbrk_shrink_child(void)
{
  setcpu(0);
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  sbrk(pad + 4096);
  shrink_page = (char *)(cur + pad);
  shrink_page[0] = 1;
  thread_spawn(reader_fn, NULL);
  while (shrink_state != 1)
    ;
  sleep(2);
  sbrk(-4096);   // the reader's page goes away
  shrink_state = 2;
  sleep(200);
  exit(4);
}

static void sbrk_shrink(void)
{
  begin("sbrk_shrink");
  long before = freepages();
  int pid = fork();
  if (pid == 0)
    sbrk_shrink_child();
  int st = 0;
  check(wait_child(pid, &st) == pid, "wait for the child", 0);
  check(st == -1, "the reader faulted on the freed page: the process died (-1)", st);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();
}

// One thread copies to and from a heap page in system calls while another
// takes the page away and gives it back: every call either completes or
// says -EFAULT, and the kernel never writes a page after freeing it
// (uvm.c: copy_user against uvm_dealloc_shared).
static volatile char *race_page;
static volatile int race_stop, race_bad, race_done;

static void copier_fn(void *arg)
{
  setcpu(ncpu() > 1 ? 1 : 0);
  while (!race_stop) {
    long r = cmdline((char *)race_page, 512);        // copyout
    long w = futex_wait((int *)race_page, 12345, 0);   // copyin: the word is 0
    race_bad += !(r > 0 || r == -EFAULT) || !(w == -EAGAIN || w == -EFAULT);
    race_done++;
  }
}

static void copy_vs_sbrk(void)
{
  begin("copy_vs_sbrk");
  setcpu(0);
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  sbrk(pad);
  race_page = (char *)(cur + pad);
  race_stop = race_bad = race_done = 0;
  long before = freepages();
  int tid = thread_spawn(copier_fn, NULL);
  for (long t0 = clock_ns(); !race_done && clock_ns() - t0 < 5000000000L;)
    yield();   // the copier is at work before the page starts to come and go
  int flips = 0;
  for (long t0 = clock_ns(); flips < 2000 && clock_ns() - t0 < 1500000000L; flips++) {
    sbrk(4096);
    race_page[100] = 1;
    sbrk(-4096);
  }
  race_stop = 1;
  thread_join(tid, NULL);
  setcpu(-1);
  check(race_bad == 0, "each call either worked or said -EFAULT", race_bad);
  check(race_done > 0 && flips > 0, "both sides ran", race_done);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  sbrk(-pad);
  end();
}

// ---- ending a process with threads in it ------------------------------------

static volatile int sleeper_ready;

static void spinner_fn(void *arg)
{
  setcpu((long)arg % ncpu());
  atomic_add(&sleeper_ready, 1);
  for (;;)
    ;
}

static void futex_sleeper_fn(void *arg)
{
  static volatile int never;
  atomic_add(&sleeper_ready, 1);
  futex_wait(&never, 0, 0);
  exit(99);   // only if the wait came back: it must not, the process ends first
}

static void tick_sleeper_fn(void *arg)
{
  atomic_add(&sleeper_ready, 1);
  sleep(100000);
  exit(98);
}

static void joiner_fn(void *arg)
{
  atomic_add(&sleeper_ready, 1);
  thread_join((int)(long)arg, NULL);
  exit(97);
}

// A child with threads spinning on every CPU, asleep in futex_wait, in
// sleep and in thread_join; how it ends is the caller's. Returns in the
// child only once every thread is under way.
static void busy_child(void)
{
  sleeper_ready = 0;
  int spin0 = thread_spawn(spinner_fn, (void *)0);
  thread_spawn(spinner_fn, (void *)1);
  thread_spawn(futex_sleeper_fn, NULL);
  thread_spawn(tick_sleeper_fn, NULL);
  thread_spawn(joiner_fn, (void *)(long)spin0);
  while (sleeper_ready < 5)
    yield();
  sleep(2);
}

// Returns once the thread (long)arg has ended: thread_exit(0).
static void join_first_fn(void *arg) { thread_join((int)(long)arg, NULL); }

static volatile int alloc_stop;

static void alloc_fn(void *arg)
{
  while (!alloc_stop) {
    void *m = malloc(64);
    free(m);
  }
}

static void exit_fn(void *arg)
{
  sleep(3);
  exit(42);   // from a thread that is not the first
}

static void ending(void)
{
  begin("exit_while_running");
  long before = freepages();
  int pid = fork();
  if (pid == 0) {
    busy_child();
    exit(42);
  }
  int st = 0;
  check(wait_child(pid, &st) == pid, "wait", 0);
  check(st == 42, "exit(42) with 5 other threads running ends the process with 42", st);
  pid = fork();
  if (pid == 0) {
    busy_child();
    thread_spawn(exit_fn, NULL);
    for (;;)
      ;   // the first thread spins on
  }
  check(wait_child(pid, &st) == pid, "wait", 0);
  check(st == 42, "exit(42) in a later thread ends the first one too", st);
  pid = fork();
  if (pid == 0) {
    busy_child();
    int t = thread_spawn(nop_fn, NULL);
    thread_join(t, NULL);
    thread_exit(7);   // the first thread goes, the others run on
  }
  sleep(5);
  check(kill(pid) == 0, "kill a process whose first thread is gone", 0);
  check(wait_child(pid, &st) == pid, "wait", 0);
  check(st == -1, "killed: status -1", st);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();

  begin("last_thread_exit");
  before = freepages();
  pid = fork();
  if (pid == 0) {
    int t = thread_spawn(exit_fn, NULL);   // would exit(42) in 3 ticks
    (void)t;
    thread_exit(5);   // first thread first; then the other one calls exit(42)
  }
  check(wait_child(pid, &st) == pid && st == 42, "exit() of the last thread gives the status", st);
  pid = fork();
  if (pid == 0) {
    thread_spawn(join_first_fn, (void *)(long)gettid());   // returns once we are gone: the last
    thread_exit(9);
  }
  check(wait_child(pid, &st) == pid && st == 0, "the last thread's thread_exit status is the process's", st);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();

  begin("kill");
  before = freepages();
  pid = fork();
  if (pid == 0) {
    busy_child();
    for (;;)
      ;
  }
  sleep(10);
  check(kill(pid) == 0, "kill a process with 6 threads", 0);
  check(wait_child(pid, &st) == pid, "wait", 0);
  check(st == -1, "killed: status -1", st);
  check(kill(pid) == -ESRCH, "it is gone", 0);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();

  begin("fault_kills_all");
  before = freepages();
  pid = fork();
  if (pid == 0) {
    busy_child();
    *(volatile int *)0 = 1;   // the first thread faults; the other five die with it
    exit(3);
  }
  check(wait_child(pid, &st) == pid, "wait", 0);
  check(st == -1, "a fault in one thread ends the process with -1", st);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();

  begin("fork_in_thread");
  before = freepages();
  pid = fork();
  if (pid == 0) {
    busy_child();
    int child = fork();   // copies only this thread
    if (child == 0)
      exit(gettid() == getpid() ? 11 : 12);
    int cst = 0;
    wait(&cst);
    exit(cst);
  }
  check(wait_child(pid, &st) == pid && st == 11, "fork in a threaded process: the child is one thread, its own leader",
        st);

  // A sibling allocates all the time: fork must not hand the child a heap
  // whose lock that sibling held (the child would hang in malloc).
  alloc_stop = 0;
  int t = thread_spawn(alloc_fn, NULL);
  int hung = 0;
  for (int i = 0; i < 20 && !hung; i++) {
    pid = fork();
    if (pid == 0) {
      void *m = malloc(100 + i);
      free(m);
      exit(m ? 13 : 14);
    }
    hung = !(wait_child(pid, &st) == pid && st == 13);
  }
  alloc_stop = 1;
  thread_join(t, NULL);
  check(!hung, "a child forked while a sibling runs malloc can malloc", st);
  check(freepages() == before, "free pages back to the baseline", freepages() - before);
  end();
}

// ---- two threads, one vcpu -----------------------------------------------------

static int vm;
static volatile int vrun_stop, vrun_in;

// A guest at 0x1000 of two pages at mem: "sti; hlt; jmp back" halts with
// interrupts on (the vcpu sleeps in the kernel until kicked), "cli; jmp $"
// spins until each host tick takes it out.
static int make_vcpu(uint8 *mem, int halt)
{
  static const uint8 halter[] = {0xFB, 0xF4, 0xEB, 0xFD}, spinner[] = {0xFA, 0xEB, 0xFE};
  memcpy(mem + 0x1000, halt ? halter : spinner, halt ? sizeof halter : sizeof spinner);
  struct vm_regs regs;
  int v = vcpu_create(vm, VM_MODE_REAL);
  if (v < 0 || vcpu_getregs(vm, v, &regs) < 0)
    return -1;
  regs.rip = 0x1000;
  vcpu_setregs(vm, v, &regs);
  return v;
}

static void vcpu_fn(void *arg)
{
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  atomic_add(&vrun_in, 1);
  while (!vrun_stop) {
    int r = vcpu_run(vm, (int)(long)arg, &e);
    if (r < 0 && r != -EBUSY)
      break;   // -EBUSY: the main thread has it for a moment; try again
  }
}

static uint8 *guest_pages(long n)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  return (uint8 *)sbrk(pad + n * 4096) + pad;
}

static void vcpu_shared(void)
{
  begin("vcpu_busy");
  vm = vm_create();
  if (vm == -ENODEV) {
    printf("threadtest: vcpu_busy: no SVM, skipped\n");
    end();
    return;
  }
  uint8 *mem = guest_pages(2);
  check(vm >= 0 && vm_map(vm, 0, mem, 2 * 4096, VM_MAP_RWX) == 0, "vm_create, vm_map", vm);
  int vc = make_vcpu(mem, 1);
  check(vc == 0, "vcpu_create", vc);
  vrun_stop = vrun_in = 0;
  int t = thread_spawn(vcpu_fn, (void *)(long)vc);
  // The thread halts in the guest and sleeps in vcpu_run: the vcpu is its.
  struct vm_exit e;
  struct vm_regs regs;
  memset(&e, 0, sizeof e);
  int busy = 0;
  long t0 = clock_ns();
  while (!vrun_in)
    yield();
  while (!busy && clock_ns() - t0 < 5000000000L) {
    e.deadline_ns = clock_ns() + 20000000;   // should we get there first: back in 20 ms
    busy = vcpu_run(vm, vc, &e) == -EBUSY;
  }
  check(busy, "vcpu_run of a vcpu another thread runs: -EBUSY", 0);
  check(vcpu_getregs(vm, vc, &regs) == -EBUSY, "vcpu_getregs meanwhile: -EBUSY", 0);
  check(vcpu_setregs(vm, vc, &regs) == -EBUSY, "vcpu_setregs meanwhile: -EBUSY", 0);
  check(vm_destroy(vm) == -EBUSY, "vm_destroy meanwhile: -EBUSY", 0);
  vrun_stop = 1;
  check(vcpu_kick(vm, vc) == 0, "vcpu_kick ends its run", 0);
  check(thread_join(t, NULL) == 0, "join the vcpu thread", t);
  check(vcpu_getregs(vm, vc, &regs) == 0, "vcpu_getregs once it is back", 0);
  check(vm_destroy(vm) == 0, "vm_destroy once it is back", 0);
  end();

  // exit() while one thread spins in a guest and one sleeps in its HLT: both
  // leave vcpu_run, and only then are the VM and the memory freed.
  begin("exit_in_guest");
  long before = freepages();
  int pid = fork();
  if (pid == 0) {
    vm = vm_create();
    mem = guest_pages(4);
    vm_map(vm, 0, mem, 2 * 4096, VM_MAP_RWX);
    vm_map(vm, 0x10000, mem + 2 * 4096, 2 * 4096, VM_MAP_RWX);
    int v0 = make_vcpu(mem, 0);
    int v1 = make_vcpu(mem + 2 * 4096, 1);   // its RIP 0x1000 is in the first mapping: rewrite
    struct vm_regs r1;
    vcpu_getregs(vm, v1, &r1);
    r1.cs.sel = 0x1000, r1.cs.base = 0x10000;   // real mode: CS base 0x10000, IP 0x1000
    vcpu_setregs(vm, v1, &r1);
    vrun_in = 0;
    thread_spawn(vcpu_fn, (void *)(long)v0);
    thread_spawn(vcpu_fn, (void *)(long)v1);
    while (vrun_in < 2)
      yield();
    sleep(5);
    exit(6);
  }
  int st = 0;
  check(wait_child(pid, &st) == pid && st == 6, "exit() while threads run guests: status 6", st);
  check(freepages() == before, "free pages back to the baseline (VM freed)", freepages() - before);
  end();
}

int main(void)
{
  create_join();
  mutex_counter();
  futex_pingpong();
  futex_calls();
  bad_args();
  limits();
  sbrk_shared();
  sbrk_shrink();
  copy_vs_sbrk();
  ending();
  vcpu_shared();
  if (failures) {
    printf("threadtest: %d checks failed\n", failures);
    return 1;
  }
  printf("threadtest: ok\n");
  return 0;
}

// vmfuzz SEED COUNT [v][g][c]: random vmm system calls (32..44 and the unused 45..47)
// with random numbers, handles, pointers (user, kernel, non-canonical,
// unmapped, read-only), lengths and orders; random guest registers and runs;
// forked children that try the parent's handles; processes killed in
// vcpu_run; heap shrinking under mapped guest memory.
//
// Every call must return, with a value or a -E* code, and obey the
// invariants in check(): a call that succeeds names a VM of the caller, a
// process never holds more than VM_MAX_PER_PROC VMs, results are in range.
// At the end every VM is destroyed and the heap restored: the free-page count
// must be back to where it was. One summary line:
//   vmfuzz: seed S calls N ok N err N (E..=N ...) runs N exits [...] forks N kills N violations N pages B->A leaked N
// Exit status 0 iff no violation and no leaked page.
//
// g: coverage-guided (user/lib/guided.h): the calls come in programs of
// PROGCALLS, each from a fresh state (teardown), whose random words are a
// corpus input, fresh or mutated; inputs that reach new kernel code (kcov,
// make SAN=1) are kept; the corpus file vmfuzz.corpus in the initrd (if any)
// runs first. Then also
//   vmfuzz: coverage: kernel N/M sites (P%) vmm 0/0 sites (0.0%) inputs N corpus N
// c: and the corpus, one "vmfuzz: corpus ..." line per entry (tools/fuzz.sh).
#include "user.h"
#include "vm.h"
#include "guided.h"
#include "../kern/syscall.h"

#define PGSIZE 4096UL
#define HEAPPAGES 64           // the fuzzer's own memory, mapped into guests
#define SHRINKMAX 16           // pages sbrk(-n) may take off that memory
#define NVMSLOTS 32            // kernel table size (kern/sysvm.c NVM), probed a bit beyond
#define MAXERR 64

static uint64 seed_state;
static uint8 *heap;            // HEAPPAGES pages, page-aligned
static uint64 heap_pages;      // pages of it currently allocated (shrink/grow)
static int own[NVMSLOTS];      // own[h]: this process created VM h and holds it
static int nvcpu[NVMSLOTS];    // vcpus created in own VM h
static int nown;
static uint64 ncalls, nok, nerr, nruns, nforks, nkills, nviol;
static uint64 errs[MAXERR];
static uint64 exits[VM_EXIT_NREASONS + 1];
static int quiet_child;        // in a forked child: count, do not print the summary
static int parent_own[NVMSLOTS]; // in a forked child: the parent's VMs (vcpu_irq/vcpu_kick may use them)

#define PROGCALLS 16
static struct guided G;
static int guided_on;

// xorshift64*: small, deterministic from the seed; guided: the input's words.
static uint64 rnd(void)
{
  if (guided_on)
    return guided_word(&G);
  seed_state ^= seed_state >> 12;
  seed_state ^= seed_state << 25;
  seed_state ^= seed_state >> 27;
  return seed_state * 0x2545F4914F6CDD1DUL;
}

static uint64 pick(uint64 n) { return rnd() % n; }

static long sys6(long nr, uint64 a, uint64 b, uint64 c, uint64 d, uint64 e, uint64 f)
{
  long ret;
  register uint64 r10 __asm__("r10") = d;
  register uint64 r8 __asm__("r8") = e;
  register uint64 r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static void violation(const char *what, long nr, uint64 a0, long ret)
{
  nviol++;
  if (nviol <= 10)
    printf("vmfuzz: VIOLATION: %s (syscall %ld arg0 0x%lx -> %ld)\n", what, nr, a0, ret);
}

// ---- argument generators --------------------------------------------------

// One of the caller's VMs, or -1 when it holds none.
static int own_handle(void)
{
  if (!nown)
    return -1;
  int k = pick(nown);
  for (int h = 0; h < NVMSLOTS; h++)
    if (own[h] && k-- == 0)
      return h;
  return -1;
}

static uint64 any_handle(void)
{
  if (pick(3) && nown)
    return own_handle();
  switch (pick(8)) {
  case 0: case 1: case 2: return pick(6);                   // the likely ones
  case 3: return pick(NVMSLOTS + 4);
  case 4: return (uint64)-1;
  case 5: return rnd();
  case 6: return (rnd() << 32) | pick(4);                   // garbage upper half
  default: return 0x7FFFFFFF;
  }
}

static uint64 any_gpa(void)
{
  switch (pick(8)) {
  case 0: case 1: case 2: return pick(32) * PGSIZE;         // overlaps likely
  case 3: return VM_MAX_GPA - PGSIZE * (1 + pick(2));
  case 4: return VM_MAX_GPA + pick(3) * PGSIZE;
  case 5: return pick(32) * PGSIZE + 1 + pick(4095);        // unaligned
  case 6: return rnd();
  default: return (uint64)-PGSIZE;
  }
}

static uint64 any_len(void)
{
  switch (pick(8)) {
  case 0: case 1: case 2: return (1 + pick(8)) * PGSIZE;
  case 3: return 0;
  case 4: return 1 + pick(PGSIZE * 4);
  case 5: return VM_MAX_GPA;
  case 6: return rnd();
  default: return (uint64)-PGSIZE;
  }
}

// A pointer for an argument of `size` bytes: mostly good, often not.
static uint64 any_ptr(uint64 size)
{
  switch (pick(12)) {
  case 0: return 0;
  case 1: return 0xFFFF800000000000UL + pick(1 << 20) * 8;      // kernel PHYSBASE map
  case 2: return 0xFFFFFFFF80100000UL;                           // kernel image
  case 3: return 0x8000000000000000UL | rnd();                   // non-canonical
  case 4: return 0x00007FFFFFFFFFFFUL - pick(size + 64);         // runs past USERTOP
  case 5: return (uint64)&any_ptr;                               // read-only text
  case 6: return 0x40000000UL + pick(1 << 20) * PGSIZE;          // unmapped
  case 7: return (uint64)heap + HEAPPAGES * PGSIZE - pick(size);  // past the break (shrunk)
  default: return (uint64)heap + pick(heap_pages ? heap_pages * PGSIZE - size : 1);
  }
}

static uint64 any_uva(void)
{
  if (pick(4))
    return (uint64)heap + pick(HEAPPAGES) * PGSIZE;
  return any_ptr(PGSIZE);
}

static void fill_random(void *p, uint64 n)
{
  uint8 *b = p;
  for (uint64 i = 0; i < n; i++)
    b[i] = rnd();
}

// Random guest registers: usually a sane mode with random GPRs and RIP,
// sometimes everything random (VMRUN must refuse it, not the host fall).
static void random_regs(struct vm_regs *r)
{
  uint64 *q = (uint64 *)r;
  for (uint64 i = 0; i < 18; i++)      // rax..rflags
    q[i] = pick(3) ? rnd() : pick(0x10000);
  if (pick(4) == 0) {
    fill_random(r, sizeof *r);
    return;
  }
  r->rflags &= pick(2) ? 0x3F7FD7 : ~0UL;
  if (pick(2))
    r->cr0 ^= 1UL << pick(64);
  if (pick(2))
    r->cr4 ^= 1UL << pick(32);
  if (pick(3) == 0)
    r->efer ^= 1UL << pick(16);
  if (pick(3) == 0)
    r->cs.attr = rnd();
}

// ---- checking results -----------------------------------------------------

static int takes_handle(long nr)
{
  return (nr >= SYS_vm_destroy && nr <= SYS_vcpu_inject) || nr == SYS_vcpu_irq || nr == SYS_vcpu_kick ||
         nr == SYS_vcpu_cpuid;
}

// Checks the invariants of one call's result and keeps the counts.
static void check(long nr, uint64 a0, long ret)
{
  ncalls++;
  if (ret < 0) {
    nerr++;
    if (ret <= -MAXERR)
      violation("error code out of range", nr, a0, ret);
    else
      errs[-ret]++;
    return;
  }
  nok++;
  int h = (int)a0;   // the kernel reads handles as int (argint)
  if (nr == SYS_vm_create) {
    if (ret >= NVMSLOTS || own[ret])
      violation("vm_create returned a handle already in use", nr, a0, ret);
    else
      own[ret] = 1, nown++, nvcpu[ret] = 0;
    if (nown > VM_MAX_PER_PROC)
      violation("more VMs than VM_MAX_PER_PROC", nr, a0, ret);
  } else if (nr == SYS_clock_ns || nr == SYS_cons_read) {
    return;   // no handle: any non-negative result (time, bytes read)
  } else if ((nr == SYS_vcpu_irq || nr == SYS_vcpu_kick) && h >= 0 && h < NVMSLOTS && parent_own[h]) {
    return;   // a child may assert the line and kick on its parent's VMs
  } else if (!takes_handle(nr)) {
    violation("a reserved or unknown system call succeeded", nr, a0, ret);
  } else if (h < 0 || h >= NVMSLOTS || !own[h]) {
    violation("a call succeeded on a VM the caller does not hold", nr, a0, ret);
  } else if (nr == SYS_vm_destroy) {
    own[h] = 0, nown--;
  } else if (nr == SYS_vcpu_create && (ret >= VCPU_MAX_PER_VM || ret != nvcpu[h])) {
    violation("vcpu index out of range or out of order", nr, a0, ret);
  } else if (nr == SYS_vcpu_create) {
    nvcpu[h]++;
  } else if (nr != SYS_vcpu_create && ret != 0) {
    violation("a call other than create returned a positive value", nr, a0, ret);
  }
}

static int verbose;             // 4th argument "v": one line per call, for hunting a hang

static long call(long nr, uint64 a, uint64 b, uint64 c, uint64 d, uint64 e)
{
  if (verbose)
    printf("vmfuzz: %s%lu: syscall %ld (0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx)\n", quiet_child ? "child " : "", ncalls, nr,
           a, b, c, d, e);
  long ret = sys6(nr, a, b, c, d, e, rnd());
  check(nr, a, ret);
  return ret;
}

// ---- the calls --------------------------------------------------------------

static struct vm_regs rbuf;
static struct vm_exit ebuf;
static struct vm_event evbuf;
static struct vm_cpuid_entry tbuf[VM_CPUID_MAX + 1];

// A vcpu index: mostly one that exists in VM h (when h is the caller's).
static uint64 any_vcpu(uint64 h)
{
  int k = (int)h;
  if (k >= 0 && k < NVMSLOTS && own[k] && nvcpu[k] && pick(5))
    return pick(nvcpu[k]);
  return pick(2) ? pick(VCPU_MAX_PER_VM + 1) : rnd();
}

// A runnable VM: RAM from the fuzzer's memory at gpa 0 and a vcpu, in a
// random mode; the calls that follow give it random registers and runs.
static void op_build(void)
{
  long h = call(SYS_vm_create, 0, 0, 0, 0, 0);
  if (h < 0)
    return;
  uint64 n = 1 + pick(8);
  if (heap_pages >= n)
    call(SYS_vm_map, h, 0, (uint64)heap + pick(heap_pages - n + 1) * PGSIZE, n * PGSIZE, VM_MAP_RWX);
  call(SYS_vcpu_create, h, pick(VM_MODE_MAX + 1), 0, 0, 0);
}

static void op_setregs(uint64 h, uint64 v)
{
  sys6(SYS_vcpu_getregs, h, v, (uint64)&rbuf, 0, 0, 0);
  random_regs(&rbuf);
  call(SYS_vcpu_setregs, h, v, pick(5) ? (uint64)&rbuf : any_ptr(sizeof rbuf), 0, 0);
}

static void op_run(uint64 h, uint64 v)
{
  if (pick(3) == 0)
    fill_random(&ebuf.u, sizeof ebuf.u);   // random completion values
  uint64 p = pick(6) ? (uint64)&ebuf : any_ptr(sizeof ebuf);
  memset(&ebuf, 0, offsetof(struct vm_exit, u));
  // A guest halted with IF=1 waits in the kernel until something wakes it:
  // a deadline for our record; a kick first for a random one.
  ebuf.deadline_ns = clock_ns() + 20 * 1000000UL;
  if (pick(4) == 0) {   // run flags, now and then one the kernel does not know (-EINVAL)
    ebuf.run_flags = pick(8) ? pick(VM_RUN_FLAGS + 1) : (uint32)rnd();
    ebuf.cr8 = pick(8) ? pick(16) : (uint32)rnd();
    ebuf.pio.out_port = rnd(), ebuf.pio.in_port = rnd(), ebuf.pio.in_value = rnd();
  }
  if (p != (uint64)&ebuf)
    vcpu_kick(h, v);
  if (verbose) {
    static struct vm_regs d;
    if (sys6(SYS_vcpu_getregs, h, v, (uint64)&d, 0, 0, 0) == 0)
      printf("vmfuzz: before run: rip 0x%lx rflags 0x%lx cr0 0x%lx cr4 0x%lx efer 0x%lx cs %x/%x gdtr 0x%lx\n",
             d.rip, d.rflags, d.cr0, d.cr4, d.efer, d.cs.sel, d.cs.attr, d.gdtr.base);
  }
  long r = call(SYS_vcpu_run, h, v, p, 0, 0);
  if (r == 0 && p == (uint64)&ebuf) {
    nruns++;
    exits[ebuf.reason < VM_EXIT_NREASONS ? ebuf.reason : VM_EXIT_NREASONS]++;
  }
}

static void op_inject(uint64 h, uint64 v)
{
  evbuf.type = pick(5);
  evbuf.vector = pick(2) ? pick(40) : rnd();
  evbuf.error = rnd();
  evbuf.flags = pick(2) ? pick(4) : rnd();
  call(SYS_vcpu_inject, h, v, pick(5) ? (uint64)&evbuf : any_ptr(sizeof evbuf), 0, 0);
}

// A random CPUID table (kern/svm/cpuid_table.c) for the runs that follow:
// random leaves and answers, now and then a bad flag, count or pointer.
static void op_cpuid(uint64 h, uint64 v)
{
  int n = pick(8) ? (int)pick(VM_CPUID_MAX + 2) : (int)rnd();
  for (int i = 0; i < VM_CPUID_MAX + 1; i++) {
    fill_random(&tbuf[i], sizeof tbuf[i]);
    tbuf[i].leaf = pick(2) ? pick(16) : tbuf[i].leaf;
    tbuf[i].flags = pick(8) ? pick(3) : tbuf[i].flags;
  }
  call(SYS_vcpu_cpuid, h, v, pick(6) ? (uint64)tbuf : any_ptr(sizeof tbuf), (uint64)(uint32)n, 0);
}

// sbrk under mapped guest memory: shrink the fuzzer's memory or grow it back.
static void op_sbrk(void)
{
  if (heap_pages == HEAPPAGES) {
    uint64 k = 1 + pick(SHRINKMAX);
    sbrk(-(long)(k * PGSIZE));
    heap_pages -= k;
  } else {
    sbrk((HEAPPAGES - heap_pages) * PGSIZE);
    heap_pages = HEAPPAGES;
  }
}

// Random bytes into guest memory: what the guests run is random too.
static void op_scribble(void)
{
  if (heap_pages)
    fill_random(heap + pick(heap_pages) * PGSIZE, PGSIZE);
}

static void one_call(void);

// A child tries everything, mostly on the parent's handles (which are
// never its own); its violations fail the parent.
static void op_fork(void)
{
  int pid = fork();
  if (pid == 0) {
    quiet_child = 1;
    memcpy(parent_own, own, sizeof own);
    memset(own, 0, sizeof own);
    nown = 0;
    nviol = 0;
    for (int i = 0; i < 40; i++)
      one_call();
    exit(nviol ? 1 : 0);
  }
  int status = 0;
  nforks++;
  if (pid > 0 && (wait(&status) != pid || status != 0))
    violation("a forked child saw a violation", SYS_fork, pid, status);
}

// A child spins in a guest (real mode `jmp $`); the parent kills it there.
static void op_kill(void)
{
  int pid = fork();
  if (pid == 0) {
    int vm = vm_create();
    heap[0] = 0xEB, heap[1] = 0xFE;
    if (vm < 0 || vm_map(vm, 0, heap, PGSIZE, VM_MAP_RWX) < 0 || vcpu_create(vm, VM_MODE_REAL) < 0)
      exit(0);
    for (;;)
      vcpu_run(vm, 0, &ebuf);
  }
  if (pid < 0)
    return;
  sleep(1 + pick(3));
  kill(pid);
  int status = 0;
  nkills++;
  if (wait(&status) != pid)
    violation("a killed child was not reaped", SYS_kill, pid, status);
}

static void one_call(void)
{
  uint64 h = any_handle(), v = any_vcpu(h);
  uint64 r = pick(100);
  if (r < 4)
    call(SYS_vm_create, rnd(), rnd(), 0, 0, 0);
  else if (r < 8)
    op_build();
  else if (r < 14)
    call(SYS_vm_destroy, h, rnd(), 0, 0, 0);
  else if (r < 30)
    call(SYS_vm_map, h, any_gpa(), any_uva(), any_len(), pick(3) ? pick(8) : rnd());
  else if (r < 36)
    call(SYS_vm_unmap, h, any_gpa(), any_len(), 0, 0);
  else if (r < 44)
    call(SYS_vcpu_create, h, pick(3) ? pick(VM_MODE_MAX + 1) : rnd(), 0, 0, 0);
  else if (r < 48)
    call(SYS_vcpu_getregs, h, v, any_ptr(sizeof rbuf), 0, 0);
  else if (r < 50)
    op_cpuid(h, v);
  else if (r < 62)
    op_setregs(h, v);
  else if (r < 80)
    op_run(h, v);
  else if (r < 88)
    op_inject(h, v);
  else if (r < 91)
    // the vmm's 41..47 and numbers no call has (past the threads' 49..54: a random thread_exit
    // would end the fuzzer, a gettid succeed)
    call(pick(2) ? 41 + pick(7) : pick(2) ? SYS_futex_wake + 1 + pick(1000) : rnd() | 64, h, v,
         pick(2) ? pick(300) - 2 : rnd(), rnd(), rnd());
  else if (r < 94)
    op_sbrk();
  else if (r < 98)
    op_scribble();
  else if (quiet_child || pick(4))
    one_call();   // no forks or kills inside children; keep those rare
  else if (pick(5))
    op_fork();
  else
    op_kill();
}

// ---- setup, teardown, report ------------------------------------------------

static int setup(void)
{
  uint64 brk = (uint64)sbrk(0);
  uint64 pad = (PGSIZE - brk % PGSIZE) % PGSIZE;
  if (sbrk(pad + HEAPPAGES * PGSIZE) < 0)
    return -1;
  heap = (uint8 *)(brk + pad);
  heap_pages = HEAPPAGES;
  return 0;
}

// Destroys every VM this process holds (and checks no other one can be
// destroyed), regrows the heap.
static void teardown(void)
{
  for (uint64 h = 0; h < NVMSLOTS; h++) {
    long r = sys6(SYS_vm_destroy, h, 0, 0, 0, 0, 0);
    if ((r == 0) != own[h])
      violation(own[h] ? "cannot destroy an own VM" : "destroyed a VM of another", SYS_vm_destroy, h, r);
    own[h] = 0;
  }
  nown = 0;
  if (heap_pages < HEAPPAGES)
    op_sbrk();
}

static void report(uint64 seed, long before, long after)
{
  static const char *names[] = {"none", "io", "cpuid", "msr", "hlt", "vmmcall", "npf", "exception",
                                "shutdown", "invalid", "intr", "unknown", "deadline", "kick",
                                "console", "tpr", "bad"};
  char line[512];
  int n = snprintf(line, sizeof line, "vmfuzz: seed %lu calls %lu ok %lu err %lu (", seed, ncalls, nok, nerr);
  for (int i = 1; i < MAXERR; i++)
    if (errs[i])
      n += snprintf(line + n, sizeof line - n, "%s=%lu ", errstr(-i), errs[i]);
  n += snprintf(line + n, sizeof line - n, ") runs %lu exits [", nruns);
  for (int i = 0; i <= VM_EXIT_NREASONS; i++)
    if (exits[i])
      n += snprintf(line + n, sizeof line - n, "%s=%lu ", names[i], exits[i]);
  snprintf(line + n, sizeof line - n, "] forks %lu kills %lu violations %lu pages %ld->%ld leaked %ld\n",
           nforks, nkills, nviol, before, after, before - after);
  printf("%s", line);
}

static uint64 count;

// One guided input: a program of PROGCALLS calls from a fresh state.
static void program(void)
{
  for (int i = 0; i < PROGCALLS && ncalls < count; i++)
    one_call();
  teardown();
}

int main(int argc, char **argv)
{
  uint64 seed = argc > 1 ? strtoul(argv[1], NULL, 0) : 1;
  count = argc > 2 ? strtoul(argv[2], NULL, 0) : 1000;
  verbose = argc > 3 && strchr(argv[3], 'v');
  guided_on = argc > 3 && strchr(argv[3], 'g');
  seed_state = seed * 0x9E3779B97F4A7C15UL + 1;
  if (setup() < 0) {
    printf("vmfuzz: out of memory\n");
    return 1;
  }
  op_sbrk(), op_sbrk();   // shrink and regrow once: later page tables exist already
  if (guided_on && guided_init(&G, "vmfuzz", seed) < 0) {
    printf("vmfuzz: out of memory\n");
    return 1;
  }
  long before = freepages();
  if (guided_on)
    guided_load(&G, "vmfuzz.corpus", program);
  while (ncalls < count) {
    if (!guided_on) {
      one_call();
      continue;
    }
    guided_next(&G);
    program();
    guided_done(&G);
  }
  teardown();
  long after = freepages();
  report(seed, before, after);
  if (guided_on)
    guided_report(&G);
  if (guided_on && strchr(argv[3], 'c'))
    guided_save(&G);
  return nviol || before != after ? 1 : 0;
}

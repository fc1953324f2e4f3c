// Processes and the scheduler, xv6 style, on every CPU.
//
// One lock (ptable.lock) guards every process's state, parent, chan,
// killed and xstatus, the pid counter and the tick count. A process gives
// up its CPU by calling sched() with ptable.lock held; the per-CPU
// scheduler releases it after swtch() returns there, so no other CPU can
// pick a process before its registers are saved.
//
// Life of a process: allocproc() (EMBRYO: kernel stack with a context that
// "returns" into forkret and then userret) -> RUNNABLE -> RUNNING on some
// CPU -> SLEEPING/RUNNABLE ... -> exit() (ZOMBIE, user memory already
// freed) -> wait() in the parent frees the kernel stack (UNUSED).
//
// Threads: a process is a group of struct procs sharing one page table
// (see kern/proc.h). thread_create() adds one, thread_exit() ends one
// (a ZOMBIE until thread_join() or the parent's wait() frees it), the
// last one's exit ends the process. exit() from any thread, kill() and a
// fault end them all: the first to call exit() marks the others killed,
// waits until they have left their CPUs, and only then frees the address
// space and the VMs, which no thread can be using any more.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "spinlock.h"
#include "errno.h"
#include "ktest.h"
#include "../lib/string.h"

#define SLICE_TICKS 2   // round-robin time slice

// The lock is ready from the start, not set up by userinit(): the APs run
// scheduler() (and take this lock) from smp_boot() on, before userinit(), so
// initialising it there could clear it under a CPU that holds it.
static struct {
  struct spinlock lock;
  struct proc proc[NPROC];
} ptable = {.lock = {0, "ptable", NULL}};
static int nextpid = 1;
static struct proc *initproc;
void *sleep_widen_chan;   // tests only: see sleep()
uint64 sleep_widen_us;
static uint64 ticks;    // BSP timer ticks since the scheduler started

extern void swtch(struct context **old, struct context *new);
extern char userret[];   // syscallentry.S

static void forkret(void);
static void size_lock(struct proc *g);
static void size_unlock(struct proc *g);
static void wake_idle_cpu(struct proc *p);

struct proc *myproc(void)
{
  pushcli();
  struct proc *p = mycpu()->proc;
  popcli();
  return p;
}

// Releases an unused or reaped slot's kernel stack and address space.
// Called with ptable.lock held, or on an EMBRYO nobody else can see.
// A thread's slot never frees the page table: only its leader owns it.
static void freeproc(struct proc *p)
{
  if (p->kstack)
    kfree_pages(p->kstack, KSTACKSIZE / PGSIZE);
  kcov_free(p);
  p->fail_nth = 0;
  if (p->leader == p)
    uvm_free(p->pml4);
  p->kstack = NULL;
  p->pml4 = NULL;
  p->pid = 0;
  p->tid = 0;
  p->leader = NULL;
  p->parent = NULL;
  p->name[0] = 0;
  p->killed = 0;
  p->state = UNUSED;
}

// Lays out a new kernel stack: trapframe at the top, below it the address
// of userret, below that a context whose rip is forkret. The first swtch()
// to the process pops the context, runs forkret, which returns to userret,
// which irets to user space through the trapframe.
static void setup_kstack(struct proc *p)
{
  uint8 *sp = p->kstack + KSTACKSIZE;
  sp -= sizeof *p->tf;
  p->tf = (struct trapframe *)sp;
  sp -= sizeof(uint64);
  *(uint64 *)sp = (uint64)userret;
  sp -= sizeof *p->context;
  p->context = (struct context *)sp;
  memset(p->context, 0, sizeof *p->context);
  p->context->rip = (uint64)forkret;
}

// Finds an UNUSED slot and makes it an EMBRYO with a kernel stack; NULL
// when the table is full or memory is out.
static struct proc *allocproc(void)
{
  acquire(&ptable.lock);
  struct proc *p = ptable.proc;
  while (p < &ptable.proc[NPROC] && p->state != UNUSED)
    p++;
  if (p == &ptable.proc[NPROC]) {
    release(&ptable.lock);
    return NULL;
  }
  p->state = EMBRYO;
  p->pid = p->tid = nextpid++;
  p->leader = p;
  p->nthreads = 1;
  p->exiting = p->joined = p->sizelock = 0;
  release(&ptable.lock);
  p->killed = 0;
  p->pincpu = -1;
  p->slice = 0;
  p->pml4 = NULL;
  p->parent = NULL;
  p->kstack = kalloc_pages(KSTACKSIZE / PGSIZE, 1);
  if (!p->kstack) {
    acquire(&ptable.lock);
    freeproc(p);
    release(&ptable.lock);
    return NULL;
  }
  setup_kstack(p);
  return p;
}

// Creates the first process, running /init from the initrd.
void userinit(void)
{
  struct proc *p = allocproc();
  if (!p)
    panic("userinit: no memory");
  initproc = p;
  memset(p->ofile, 0, sizeof p->ofile);
  for (int fd = 0; fd < 3; fd++)
    p->ofile[fd].type = FD_CONSOLE;
  char *argv[] = {"init"};
  int r = exec_proc(p, "/init", argv, 1);
  if (r < 0)
    panic("userinit: cannot run /init (error %d)", r);
  acquire(&ptable.lock);
  p->state = RUNNABLE;
  release(&ptable.lock);
}

// A copy of the calling process, of its calling thread only. Returns the
// child's pid to the parent; the child returns 0 from the same system call.
int fork(void)
{
  struct proc *cur = myproc(), *g = cur->leader, *np = allocproc();
  if (!np)
    return -EAGAIN;
  size_lock(g);   // no sibling's sbrk changes the table while we copy it
  np->pml4 = uvm_copy(cur->pml4);
  np->heapbase = g->heapbase;
  np->sz = g->sz;
  size_unlock(g);
  if (!np->pml4) {
    acquire(&ptable.lock);
    freeproc(np);
    release(&ptable.lock);
    return -ENOMEM;
  }
  *np->tf = *cur->tf;
  np->tf->rax = 0;
  memcpy(np->ofile, proc_files(cur), sizeof np->ofile);
  memcpy(np->name, cur->name, sizeof np->name);
  np->pincpu = cur->pincpu;
  acquire(&ptable.lock);
  np->parent = g;
  np->state = RUNNABLE;
  wake_idle_cpu(np);
  int pid = np->pid;
  release(&ptable.lock);
  return pid;
}

// p just became RUNNABLE (ptable.lock held): a CPU that may run it and
// halts for want of work gets an IPI, or p would wait for that CPU's next
// timer tick (10 ms: a futex ping-pong between two CPUs would crawl). When
// this CPU is in its scheduler (an interrupt woke p), it looks again right
// away and runs p itself: p does not move to another CPU for nothing.
static void wake_idle_cpu(struct proc *p)
{
  struct cpu *self = mycpu();
  if (!self->proc && (p->pincpu < 0 || p->pincpu == self->id)) {
    self->idle = 0;   // do not halt before the next look (scheduler())
    return;
  }
  for (int c = 0; c < ncpu; c++) {
    if (!cpus[c].idle || (p->pincpu >= 0 && p->pincpu != c) || c == cpuid_self())
      continue;
    cpus[c].idle = 0;   // see scheduler(): it halts only while idle is still set
    lapic_ipi(cpus[c].apicid, T_IPI_WAKE);
    return;
  }
}

// Wakes every process sleeping on chan. ptable.lock held.
static void wakeup1(void *chan)
{
  for (struct proc *p = ptable.proc; p < &ptable.proc[NPROC]; p++) {
    if (p->state == SLEEPING && p->chan == chan) {
      p->state = RUNNABLE;
      wake_idle_cpu(p);
    }
  }
}

void wakeup(void *chan)
{
  acquire(&ptable.lock);
  wakeup1(chan);
  release(&ptable.lock);
}

// Gives the CPU back to the scheduler. ptable.lock must be the only lock
// held and the caller must have changed p->state already.
static void sched(void)
{
  struct proc *p = myproc();
  if (!holding(&ptable.lock))
    panic("sched: ptable.lock not held");
  if (mycpu()->ncli != 1)
    panic("sched: other locks held (ncli %d)", mycpu()->ncli);
  if (p->state == RUNNING)
    panic("sched: pid %d still running", p->pid);
  if (rflags() & FL_IF)
    panic("sched: interruptible");
  int intena = mycpu()->intena;
  svm_guest_fpu_park();   // a vcpu's FPU state goes back to it (kern/svm/fpu.c)
  swtch(&p->context, mycpu()->scheduler);
  mycpu()->intena = intena;
}

void yield(void)
{
  acquire(&ptable.lock);
  myproc()->state = RUNNABLE;
  sched();
  release(&ptable.lock);
}

// A new process's first instructions in the kernel: still holding
// ptable.lock from the scheduler. Returns into userret.
static void forkret(void) { release(&ptable.lock); }

// Drops the user address space of the running process p, the group's last
// thread: no slot of the group keeps a pointer to the freed table.
static void drop_uvm(struct proc *p)
{
  pushcli();
  pte_t *pml4 = p->pml4;
  p->pml4 = NULL;
  kvmswitch();
  popcli();
  acquire(&ptable.lock);
  for (struct proc *q = ptable.proc; q < &ptable.proc[NPROC]; q++)
    if (q->leader == p->leader)
      q->pml4 = NULL;
  release(&ptable.lock);
  uvm_free(pml4);
}

// Ends the calling thread p (ptable.lock held): a ZOMBIE until joined or
// until the parent reaps the whole process. Not for the group's last thread.
static void thread_die(struct proc *p, int status)
{
  struct proc *g = p->leader;
  p->xstatus = status;
  p->state = ZOMBIE;
  g->nthreads--;
  wakeup1(&g->nthreads);
  sched();
  panic("thread_die: zombie tid %d ran again", p->tid);
}

// Marks every other thread of p's group killed (ptable.lock held): each
// leaves at its next return to user space, or wakes up and does.
static void kill_siblings(struct proc *p)
{
  for (struct proc *q = ptable.proc; q < &ptable.proc[NPROC]; q++) {
    if (q->leader != p->leader || q == p || q->state == UNUSED || q->state == ZOMBIE)
      continue;
    q->killed = 1;
    if (q->state == SLEEPING) {
      q->state = RUNNABLE;
      wake_idle_cpu(q);
    }
  }
}

// Ends the calling process, every thread of it, with status; its parent's
// wait() collects it. Orphans go to init. Does not return.
void exit(int status)
{
  struct proc *p = myproc(), *g = p->leader;
  if (g == initproc) {
    printf("init: exited with status %d\n", status);
    poweroff(POWEROFF_FAIL);
  }
  acquire(&ptable.lock);
  if (g->exiting)
    thread_die(p, status);   // another thread is ending the group
  g->exiting = 1;
  kill_siblings(p);
  while (g->nthreads > 1)   // a sibling may be running, even in a guest, on another CPU
    sleep(&g->nthreads, &ptable.lock);
  release(&ptable.lock);
  vm_proc_exit(p->pid);
  memset(g->ofile, 0, sizeof g->ofile);
  drop_uvm(p);
  acquire(&ptable.lock);
  wakeup1(g->parent);
  for (struct proc *c = ptable.proc; c < &ptable.proc[NPROC]; c++) {
    if (c->parent == g) {
      c->parent = initproc;
      if (c->state == ZOMBIE)
        wakeup1(initproc);
    }
  }
  g->xstatus = status;
  g->nthreads = 0;
  p->state = ZOMBIE;
  sched();
  panic("exit: zombie pid %d ran again", p->pid);
}

// Waits for a child to exit; stores its status at user address ustatus
// (unless 0) and returns its pid. -ECHILD without children, -EINTR when
// killed, -EFAULT for a bad ustatus (the child stays a zombie).
int wait(uint64 ustatus)
{
  struct proc *cur = myproc(), *g = cur->leader;
  acquire(&ptable.lock);
  for (;;) {
    int havekids = 0;
    for (struct proc *p = ptable.proc; p < &ptable.proc[NPROC]; p++) {
      if (p->parent != g)
        continue;
      havekids = 1;
      if (p->state != ZOMBIE || p->nthreads > 0)
        continue;   // running, or only its first thread is gone
      if (ustatus && copyout(cur->pml4, ustatus, &p->xstatus, sizeof p->xstatus) < 0) {
        release(&ptable.lock);
        return -EFAULT;
      }
      int pid = p->pid;
      for (struct proc *t = ptable.proc; t < &ptable.proc[NPROC]; t++)
        if (t->leader == p && t != p)
          freeproc(t);   // its threads nobody joined
      freeproc(p);
      release(&ptable.lock);
      return pid;
    }
    if (!havekids || cur->killed) {
      release(&ptable.lock);
      return havekids ? -EINTR : -ECHILD;
    }
    sleep(g, &ptable.lock);
  }
}

// Atomically releases lk and sleeps on chan; reacquires lk when woken.
void sleep(void *chan, struct spinlock *lk)
{
  struct proc *p = myproc();
  if (!p)
    panic("sleep: no process");
  if (chan && chan == sleep_widen_chan)
    microdelay(sleep_widen_us);   // a test makes lost-wakeup races visible
  if (lk != &ptable.lock) {
    acquire(&ptable.lock);
    release(lk);
  }
  p->chan = chan;
  p->state = SLEEPING;
  sched();
  p->chan = NULL;
  if (lk != &ptable.lock) {
    release(&ptable.lock);
    acquire(lk);
  }
}

// Marks every thread of process pid killed; each exits the next time it is
// about to run user code (the first to get there ends the process).
int kill(int pid)
{
  if (initproc && pid == initproc->pid)
    return -EPERM;
  int found = 0;
  acquire(&ptable.lock);
  for (struct proc *p = ptable.proc; p < &ptable.proc[NPROC]; p++) {
    if (p->pid == pid && p->state != UNUSED && p->state != EMBRYO) {
      found = 1;
      p->killed = 1;
      if (p->state == SLEEPING) {
        p->state = RUNNABLE;
        wake_idle_cpu(p);
      }
    }
  }
  release(&ptable.lock);
  return found ? 0 : -ESRCH;
}

// Pins the caller to cpu (-1: any) and moves it there before returning.
int setcpu(int cpu)
{
  if (cpu < -1 || (cpu >= 0 && !cpu_online(cpu)))
    return -EINVAL;
  myproc()->pincpu = cpu;
  yield();
  return 0;
}

// Sleeps for n ticks; -EINTR when killed meanwhile.
int sleep_ticks(uint64 n)
{
  acquire(&ptable.lock);
  uint64 t0 = ticks;
  while (ticks - t0 < n) {
    if (myproc()->killed) {
      release(&ptable.lock);
      return -EINTR;
    }
    sleep(&ticks, &ptable.lock);
  }
  release(&ptable.lock);
  return 0;
}

uint64 uptime(void) { return __atomic_load_n(&ticks, __ATOMIC_RELAXED); }

// Runs processes on this CPU forever; halts (interrupts on) when nothing
// here is runnable. Pinned processes run only on their CPU.
void scheduler(void)
{
  struct cpu *c = mycpu();
  c->proc = NULL;
  for (;;) {
    sti();
    int ran = 0;
    acquire(&ptable.lock);
    for (struct proc *p = ptable.proc; p < &ptable.proc[NPROC]; p++) {
      if (p->state != RUNNABLE || (p->pincpu >= 0 && p->pincpu != c->id))
        continue;
      c->proc = p;
      switchuvm(p);
      p->state = RUNNING;
      p->slice = 0;
      swtch(&c->scheduler, p->context);
      kvmswitch();
      c->proc = NULL;
      ran = 1;
    }
    // Idle from here unless a waker (wake_idle_cpu) clears it: with
    // interrupts off we look once more, and STI's one-instruction shadow
    // lets HLT start before the waker's IPI is taken, so HLT ends with it.
    c->idle = !ran;
    release(&ptable.lock);
    cli();
    if (c->idle)
      asm volatile("sti; hlt" ::: "memory");
    c->idle = 0;
  }
}

// Was the running process interrupted in user mode by the interrupt being
// handled now? The newest frame at the top of its kernel stack says so:
// SYSCALL frames carry T_SYSCALL, trap frames from ring 3 another vector.
static int interrupted_user(struct proc *p)
{
  struct trapframe *top = (struct trapframe *)(p->kstack + KSTACKSIZE) - 1;
  return (top->cs & 3) == 3 && top->trapno != T_SYSCALL;
}

// Timer tick on this CPU (trap handler, IF=0): counts time on the BSP,
// ends killed processes caught in user mode, and preempts the running
// process when its slice is over.
void proc_tick(void)
{
  struct cpu *c = mycpu();
  if (c->id == 0 && initproc) {   // initproc: ptable.lock exists
    acquire(&ptable.lock);
    ticks++;
    wakeup1(&ticks);
    release(&ptable.lock);
  }
  struct proc *p = c->proc;
  if (!p || p->state != RUNNING)
    return;
  if (p->killed && interrupted_user(p))
    exit(-1);
  if (++p->slice >= SLICE_TICKS)
    yield();
}

// A fault in ring 3: reports it and ends the process with status -1.
void proc_fault(struct trapframe *tf, const char *what)
{
  struct proc *p = myproc();
  if (!p)
    panic("proc_fault: %s with no process (rip %lx)", what, tf->rip);
  printf("pid %d (%s): killed: %s\n", p->pid, p->name, what);
  exit(-1);
}

// sbrk: moves the break by n bytes; returns the old break, -ENOMEM when
// growing past HEAPTOP or out of memory, -EINVAL below the heap start.
// The heap bounds are the group's (its leader's): one sbrk at a time, and
// all threads see the new break.
int64 growproc(int64 n)
{
  struct proc *p = myproc(), *g = p->leader;
  size_lock(g);
  uint64 old = g->sz, new = old + n;
  int64 r = old;
  if (n > 0) {
    if ((uint64)n > HEAPTOP - old) {
      r = -ENOMEM;
    } else if (uvm_alloc(p->pml4, PGROUNDUP(old), new, PTE_W | PTE_NX) < 0) {
      uvm_dealloc(p->pml4, old, new);
      r = -ENOMEM;
    }
  } else if (n < 0) {
    if (0 - (uint64)n > old - g->heapbase) {
      r = -EINVAL;
    } else {
      vm_uvm_drop(p->pml4, new, old);   // no guest may keep the freed frames
      uvm_dealloc_shared(p->pml4, new, old);
    }
  }
  if (r >= 0)
    g->sz = new;
  size_unlock(g);
  return r;
}

// The group's page table and heap bounds change under this sleeping lock
// (sbrk, fork's copy): uvm_alloc may take a while, and the table is shared.
static void size_lock(struct proc *g)
{
  acquire(&ptable.lock);
  while (g->sizelock)
    sleep(&g->sizelock, &ptable.lock);
  g->sizelock = 1;
  release(&ptable.lock);
}

static void size_unlock(struct proc *g)
{
  acquire(&ptable.lock);
  g->sizelock = 0;
  wakeup1(&g->sizelock);
  release(&ptable.lock);
}

// Keeps the caller's user page table as it is (a sibling's sbrk waits) for
// code that looks frames up and keeps them: vm_map.
void uvm_hold(void) { size_lock(myproc()->leader); }
void uvm_unhold(void) { size_unlock(myproc()->leader); }

// The channel sleepers on the tick count wait on: woken at every tick.
void *ticks_chan(void) { return &ticks; }

// The table slots group g holds (ptable.lock held): its threads, the
// ended ones nobody joined yet, and an EMBRYO being made one of them. They
// count against THREADS_MAX, or a process that never joins could fill the
// table with finished threads.
static int group_slots(struct proc *g)
{
  int n = 0;
  for (struct proc *q = ptable.proc; q < &ptable.proc[NPROC]; q++)
    n += q->state != UNUSED && q->leader == g;
  return n;
}

// 1 if user va is mapped executable in pml4.
static int user_code(pte_t *pml4, uint64 va)
{
  pte_t *pte = uvm_lookup(pml4, va);
  return pte && (*pte & (PTE_P | PTE_U)) == (PTE_P | PTE_U) && !(*pte & PTE_NX);
}

// A new thread of the caller's process, sharing everything but its
// registers and kernel stack. It starts in user mode at fn(arg) as if
// called from ret: ret is pushed on the stack sp (16-byte aligned, so fn
// sees the ABI's alignment) and fn's return goes there. Returns its tid;
// -EINVAL for a misaligned stack, -EFAULT for an fn or ret that is not
// user code or a stack that is not writable user memory, -EAGAIN when the
// process holds THREADS_MAX slots (threads, and ended ones not joined yet)
// or the table is full, -EINTR when the
// process is being killed.
int thread_create(uint64 fn, uint64 arg, uint64 sp, uint64 ret)
{
  struct proc *cur = myproc(), *g = cur->leader;
  if (sp % 16)
    return -EINVAL;
  if (!user_code(cur->pml4, fn) || !user_code(cur->pml4, ret))
    return -EFAULT;
  if (sp < 16 || copyout(cur->pml4, sp - 8, &ret, sizeof ret) < 0)
    return -EFAULT;
  struct proc *np = allocproc();
  if (!np)
    return -EAGAIN;
  np->pid = cur->pid;
  np->leader = g;
  np->pml4 = cur->pml4;
  *np->tf = *cur->tf;
  np->tf->rip = fn;
  np->tf->rsp = sp - 8;
  np->tf->rdi = arg;
  np->tf->rax = 0;
  memcpy(np->name, cur->name, sizeof np->name);
  np->pincpu = cur->pincpu;
  acquire(&ptable.lock);
  int r = g->exiting || cur->killed ? -EINTR : group_slots(g) > THREADS_MAX ? -EAGAIN : 0;
  if (r < 0) {
    np->pml4 = NULL;
    freeproc(np);
  } else {
    g->nthreads++;   // exit() waits for this one too from now on
    np->state = RUNNABLE;
    wake_idle_cpu(np);
    r = np->tid;
  }
  release(&ptable.lock);
  return r;
}

// Ends the calling thread with status (thread_join() collects it); the
// process's last thread ends the process, as exit(status).
void thread_exit(int status)
{
  struct proc *p = myproc(), *g = p->leader;
  acquire(&ptable.lock);
  if (g->nthreads > 1 || g->exiting)
    thread_die(p, status);
  release(&ptable.lock);
  exit(status);
}

// The thread tid of the caller's process (ptable.lock held), or NULL. A
// leader that was joined already counts as gone.
static struct proc *find_thread(struct proc *g, int tid)
{
  for (struct proc *q = ptable.proc; q < &ptable.proc[NPROC]; q++)
    if (q->tid == tid && q->leader == g && q->state != UNUSED && !(q == g && g->joined))
      return q;
  return NULL;
}

// Waits for thread tid of the caller's process to end and stores its
// status at ustatus (unless 0). 0, -EINVAL for the caller itself, -ESRCH
// for no such thread (or one joined already), -EFAULT for a bad ustatus
// (the thread stays joinable), -EINTR when killed.
int thread_join(int tid, uint64 ustatus)
{
  struct proc *cur = myproc(), *g = cur->leader;
  if (tid == cur->tid)
    return -EINVAL;
  acquire(&ptable.lock);
  for (;;) {
    struct proc *q = find_thread(g, tid);
    if (!q) {
      release(&ptable.lock);
      return -ESRCH;
    }
    if (q->state == ZOMBIE) {
      if (ustatus && copyout(cur->pml4, ustatus, &q->xstatus, sizeof q->xstatus) < 0) {
        release(&ptable.lock);
        return -EFAULT;
      }
      if (q == g) {
        g->joined = 1;   // the slot stays: the parent's wait() needs it
      } else {
        q->pml4 = NULL;
        freeproc(q);
      }
      release(&ptable.lock);
      return 0;
    }
    if (cur->killed) {
      release(&ptable.lock);
      return -EINTR;
    }
    sleep(&g->nthreads, &ptable.lock);
  }
}

// ktest=sched_lock. With a ktest userinit() never runs, yet every AP has
// been in scheduler(), taking ptable.lock, since smp_boot(): the lock must
// be complete before then, not set up later by userinit() (which once
// reset it under an AP holding it: "release: ptable not held" on that AP).
KTEST(sched_lock)
{
  const char *name = ptable.lock.name;
  KCHECK(name && strcmp(name, "ptable") == 0, "ptable.lock is ready before the APs' schedulers take it (name %s)",
         name ? name : "unset");
  int started = 1;
  for (int i = 1; i < ncpu; i++)
    started &= cpus[i].started;
  KCHECK(started, "every AP runs scheduler() (%d cpus)", ncpu);
  acquire(&ptable.lock);
  KCHECK(holding(&ptable.lock) && ptable.lock.cpu == mycpu(), "cpu%d holds ptable.lock after acquire", cpuid_self());
  release(&ptable.lock);
}

// Processes: one kernel thread per user process, xv6 style. A process runs
// on whichever CPU's scheduler picks it, unless it pinned itself (setcpu).
#pragma once
#include "types.h"
#include "param.h"
#include "trap.h"

// Callee-saved registers swtch() keeps on a kernel stack; rip is the
// return address its "ret" pops (kern/swtch.S).
struct context {
  uint64 r15, r14, r13, r12, rbx, rbp, rip;
};

enum procstate { UNUSED, EMBRYO, SLEEPING, RUNNABLE, RUNNING, ZOMBIE };

// An open file: the console or a read-only initrd file. Held by value in
// the process (fork copies it), so there is nothing to reference-count.
enum ftype { FD_NONE, FD_CONSOLE, FD_INITRD };
struct file {
  enum ftype type;
  const uint8 *data;    // FD_INITRD: file contents in the initrd
  uint64 size, off;
};

// A process is a group of threads, each a struct proc of its own (state,
// kernel stack, registers) that share one address space, file table and
// VMs. The group's first thread, its leader, holds what they share and
// stays in the table until the whole group is gone: pid is the leader's
// tid in every thread, parent is set in the leader only.
struct proc {
  enum procstate state;      // all fields below are under ptable.lock,
  int pid;                   // except what only the process itself touches
  int tid;                   // this thread's id (the leader's tid == pid)
  struct proc *leader;       // the group's first thread (itself for a leader)
  struct proc *parent;
  void *chan;                // sleeping on chan
  int killed;
  int xstatus;               // exit status for wait()
  int pincpu;                // run only on this CPU; -1 = any
  int slice;                 // timer ticks used of the current time slice
  pte_t *pml4;               // user address space (kernel half shared), the leader's in every thread
  uint64 heapbase, sz;       // leader only: heap is [heapbase, sz); sbrk moves sz
  uint8 *kstack;             // KSTACKSIZE bytes; trapframe at the top
  struct trapframe *tf;      // user registers (top of kstack)
  struct context *context;   // swtch() here to run the process
  struct file ofile[NOFILE]; // leader only (proc_files())
  // threads (kern/proc.c); the leader's fields speak for the group
  int nthreads;              // leader: threads not yet exited, itself included
  int exiting;               // leader: exit() is ending every thread
  int joined;                // a leader already joined (its slot stays for wait())
  int sizelock;              // leader: a thread is changing sz or reading its frames (size_lock)
  char name[16];
  struct kcov *kcov;         // coverage record (kern/kcov.c), or NULL
  uint64 fail_nth;           // fault injection: this allocation from now fails, 0 = none (kalloc.c)
};

// Stack: USTACKPAGES pages right below USERSTACK, one unmapped guard page
// below them; the heap may grow up to the guard page.
#define USTACKPAGES 8
#define USTACKBASE (USERSTACK - USTACKPAGES * PGSIZE)
#define HEAPTOP (USTACKBASE - PGSIZE)

// Table slots one process's threads may hold at once, its first one and
// ended threads not joined yet included: room for a VMM's vcpu threads, and
// a thread bomb cannot fill the whole table.
#define THREADS_MAX (NPROC / 2)

struct proc *myproc(void);
static inline struct file *proc_files(struct proc *p) { return p->leader->ofile; }

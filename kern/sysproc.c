// Process system calls. Each validates its arguments and returns a value
// or a negative -E* code (kern/errno.h).
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "errno.h"
#include "../lib/string.h"

uint64 sys_fork(void) { return fork(); }

uint64 sys_exit(void)
{
  exit(argint(0));
}

uint64 sys_wait(void) { return wait(argraw(0)); }

uint64 sys_getpid(void) { return myproc()->pid; }

uint64 sys_sbrk(void) { return growproc(arglong(0)); }

// Threads (kern/proc.c) and futexes (kern/futex.c).
uint64 sys_thread_create(void) { return thread_create(argraw(0), argraw(1), argraw(2), argraw(3)); }

uint64 sys_thread_exit(void) { thread_exit(argint(0)); }

uint64 sys_thread_join(void) { return thread_join(argint(0), argraw(1)); }

uint64 sys_gettid(void) { return myproc()->tid; }

uint64 sys_futex_wait(void) { return futex_wait(argraw(0), argint(1), arglong(2)); }

uint64 sys_futex_wake(void) { return futex_wake(argraw(0), argint(1)); }

// Copies the NULL-terminated user array uargv of string pointers into
// argv[], the strings into page. Returns argc or -EFAULT / -E2BIG.
static int fetch_args(uint64 uargv, char *page, char **argv)
{
  pte_t *pml4 = myproc()->pml4;
  uint64 used = 0;
  for (int argc = 0;; argc++) {
    uint64 uarg;
    if (copyin(pml4, &uarg, uargv + argc * sizeof(uint64), sizeof uarg) < 0)
      return -EFAULT;
    if (uarg == 0)
      return argc;
    if (argc == MAXARG)
      return -E2BIG;
    int len = copyinstr(pml4, page + used, uarg, PGSIZE - used);
    if (len < 0)
      return len == -ERANGE ? -E2BIG : len;
    argv[argc] = page + used;
    used += len + 1;
  }
}

// exec(path, argv): argv is a NULL-terminated array of at most MAXARG
// strings, PGSIZE bytes in all. -EBUSY while the process has other threads.
uint64 sys_exec(void)
{
  char path[MAXPATH], *argv[MAXARG];
  if (myproc()->leader->nthreads > 1)
    return -EBUSY;   // other threads still use the address space exec would free
  int r = copyinstr(myproc()->pml4, path, argraw(0), sizeof path);
  if (r < 0)
    return r == -ERANGE ? -ENOENT : r;
  char *page = kalloc();
  if (!page)
    return -ENOMEM;
  r = fetch_args(argraw(1), page, argv);
  if (r >= 0)
    r = exec_proc(myproc(), path, argv, r);
  kfree(page);
  return r;
}

uint64 sys_sleep(void)
{
  int64 n = arglong(0);
  return n < 0 ? -EINVAL : sleep_ticks(n);
}

uint64 sys_uptime(void) { return uptime(); }

uint64 sys_kill(void)
{
  int pid = argint(0);
  return pid <= 0 ? -ESRCH : kill(pid);
}

uint64 sys_setcpu(void)
{
  int cpu = argint(0);
  return cpu < -1 || cpu >= NCPU ? -EINVAL : setcpu(cpu);
}

uint64 sys_getcpu(void)
{
  pushcli();
  int id = mycpu()->id;
  popcli();
  return id;
}

uint64 sys_ncpu(void) { return ncpu; }

uint64 sys_freepages(void) { return kfreecount(); }

uint64 sys_yield(void)
{
  yield();
  return 0;
}

// halt(code): powers the machine off; only init may, with 0 <= code < 128.
uint64 sys_halt(void)
{
  int code = argint(0);
  if (myproc()->pid != 1)
    return -EPERM;
  if (code < 0 || code > 127)
    return -EINVAL;
  poweroff(code);
}

// cmdline(buf, n): the kernel command line, truncated to n-1 characters
// and NUL-terminated; returns its full length. All of buf[0..n) must be
// writable.
uint64 sys_cmdline(void)
{
  const char *s = cmdline_all();
  int64 n = arglong(1);
  uint64 len = strlen(s);
  if (n <= 0)
    return -EINVAL;
  if (uvm_check(myproc()->pml4, argraw(0), n, PTE_W) < 0)
    return -EFAULT;
  uint64 k = len < (uint64)n - 1 ? len : (uint64)n - 1;
  char zero = 0;
  if (copyout(myproc()->pml4, argraw(0), s, k) < 0 || copyout(myproc()->pml4, argraw(0) + k, &zero, 1) < 0)
    return -EFAULT;
  return len;
}

// The user-space C library: system calls (kern/syscall.h for numbers and
// contracts), formatted output, strings (lib/string.h) and malloc.
// Every system call returns a negative -E* code (kern/errno.h) on error.
#pragma once
#include <stdarg.h>
#include "../../kern/types.h"
#include "../../kern/errno.h"
#include "../../lib/string.h"
#include "../../lib/fmt.h"

// System calls (user/lib/usys.S).
int fork(void);
void exit(int status) __attribute__((noreturn));
int wait(int *status);                  // status may be NULL
int getpid(void);
long sbrk(long n);                      // returns the old break
int exec(const char *path, char **argv);  // argv required, NULL-terminated; returns only on error
long read(int fd, void *buf, long n);   // console reads block, one line at most
long write(int fd, const void *buf, long n);
int open(const char *path);             // an initrd file, read-only
int close(int fd);
long fsize(int fd);
int sleep(long ticks);
long uptime(void);                      // timer ticks since boot
int kill(int pid);
int setcpu(int cpu);                    // pin to cpu and move there; -1 = any
int getcpu(void);
int ncpu(void);
long freepages(void);                   // free physical pages (leak tests)
int halt(int code);                     // power off; init only
long readdir(int i, char *name, long n);  // i'th initrd file: size, or -ENOENT
long cmdline(char *buf, long n);        // the kernel command line
int yield(void);

// Threads (user/lib/thread.c; kernel side kern/proc.c, kern/futex.c). A
// thread shares the process's memory, files and VMs; getpid() is the same
// in all of them, gettid() is the thread's own. exit() ends every thread,
// thread_exit() only the caller (the last one's ends the process).
int thread_create(void (*fn)(void *), void *arg, void *stack_top);  // tid; stack_top 16-byte aligned
int thread_spawn(void (*fn)(void *), void *arg);   // thread_create on a 64 KiB malloc'd stack
void thread_exit(int status) __attribute__((noreturn));   // returning from fn is thread_exit(0)
int thread_join(int tid, int *status);  // 0; -ESRCH: not a live thread of ours; frees a spawn's stack
int gettid(void);
int futex_wait(volatile int *addr, int expected, long timeout_ns);  // sleeps iff *addr == expected
int futex_wake(volatile int *addr, int n);   // wakes up to n waiters; how many
// The raw calls: fn(arg) runs on stack sp and returns to ret (kern/syscall.h).
int sys_thread_create(void (*fn)(void *), void *arg, void *sp, void (*ret)(void));
int sys_thread_join(int tid, int *status);
int sys_fork(void);                     // fork() without the library's locks
void malloc_lock(void);                 // fork() takes them (user/lib/thread.c)
void malloc_unlock(void);

// A lock for threads: waiters sleep in futex_wait instead of spinning.
struct mutex {
  volatile int v;   // 0 free, 1 locked, 2 locked with waiters
};
void mutex_lock(struct mutex *m);
void mutex_unlock(struct mutex *m);
int atomic_add(volatile int *p, int v);        // the new value
int atomic_cas(volatile int *p, int old, int new);   // the value before: == old if it swapped

// Output (user/lib/printf.c): printf writes to fd 1, one write per line.
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vfprintf(int fd, const char *fmt, va_list ap);
const char *errstr(long err);           // "EFAULT" etc. for -EFAULT

// Input: reads a line (without the newline) into buf; -1 at end of input.
int getline(int fd, char *buf, int n);

// Memory (user/lib/malloc.c).
void *malloc(size_t n);
void free(void *p);
int atoi(const char *s);

// The next word of *s separated by spaces or tabs (NUL-terminated in
// place), advancing *s; NULL when none is left.
char *strtok_ws(char **s);

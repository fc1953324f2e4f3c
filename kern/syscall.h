// System call numbers, shared by the kernel and user space (user/lib/usys.S).
// ABI: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; result in
// rax, a negative -E* code (kern/errno.h) on error.
#pragma once
#define SYS_fork 1        // int fork(void)
#define SYS_exit 2        // void exit(int status)
#define SYS_wait 3        // int wait(int *status)            status may be NULL
#define SYS_getpid 4      // int getpid(void)
#define SYS_sbrk 5        // long sbrk(long n)               old break
#define SYS_exec 6        // int exec(const char *path, char **argv)
#define SYS_read 7        // long read(int fd, void *buf, long n)
#define SYS_write 8       // long write(int fd, const void *buf, long n)
#define SYS_open 9        // int open(const char *path)       initrd, read-only
#define SYS_close 10      // int close(int fd)
#define SYS_fsize 11      // long fsize(int fd)
#define SYS_sleep 12      // int sleep(long ticks)
#define SYS_uptime 13     // long uptime(void)                ticks since boot
#define SYS_kill 14       // int kill(int pid)
#define SYS_setcpu 15     // int setcpu(int cpu)              pin to cpu; -1 = any
#define SYS_getcpu 16     // int getcpu(void)
#define SYS_ncpu 17       // int ncpu(void)
#define SYS_freepages 18  // long freepages(void)
#define SYS_halt 19       // int halt(int code)               init only
#define SYS_readdir 20    // long readdir(int i, char *name, long n)  size of file i
#define SYS_cmdline 21    // long cmdline(char *buf, long n)  kernel command line
#define SYS_yield 22      // int yield(void)
#define NSYSCALL_BASE 23

// 32..47 belong to the vmm (kern/sysvm.c); see user/lib/vm.h.
#define SYS_vm_create 32
#define SYS_vm_destroy 33
#define SYS_vm_map 34
#define SYS_vm_unmap 35
#define SYS_vcpu_create 36
#define SYS_vcpu_getregs 37
#define SYS_vcpu_setregs 38
#define SYS_vcpu_run 39
#define SYS_vcpu_inject 40
#define SYS_vcpu_irq 41
#define SYS_clock_ns 42
#define SYS_vcpu_kick 43
#define SYS_cons_read 44
#define SYS_vcpu_cpuid 45
// 48: kcov (kern/kcov.h)

// Threads and futexes (kern/proc.c, kern/futex.c; user/lib/thread.c wraps them).
#define SYS_thread_create 49  // int thread_create(fn, arg, sp, ret)  tid; fn(arg) on stack sp, returns to ret
#define SYS_thread_exit 50    // void thread_exit(int status)   the last thread's ends the process
#define SYS_thread_join 51    // int thread_join(int tid, int *status)   0
#define SYS_gettid 52         // int gettid(void)
#define SYS_futex_wait 53     // int futex_wait(volatile int *addr, int expected, long timeout_ns)
#define SYS_futex_wake 54     // int futex_wake(volatile int *addr, int n)   how many woke
#define NSYSCALL 55

# System call stubs: number in rax, arguments as in the C ABI except that
# the fourth goes in r10 (SYSCALL clobbers rcx with the return address).
#include "../../kern/syscall.h"
#include "../../kern/kcov.h"

#define STUB(name) \
  .globl name; \
  name: \
  movl $SYS_##name, %eax; \
  movq %rcx, %r10; \
  syscall; \
  ret

#define STUB_AS(label, name) \
  .globl label; \
  label: \
  movl $SYS_##name, %eax; \
  movq %rcx, %r10; \
  syscall; \
  ret

STUB_AS(sys_fork, fork)   // fork() is user/lib/thread.c's
STUB(exit)
STUB(wait)
STUB(getpid)
STUB(sbrk)
STUB(exec)
STUB(read)
STUB(write)
STUB(open)
STUB(close)
STUB(fsize)
STUB(sleep)
STUB(uptime)
STUB(kill)
STUB(setcpu)
STUB(getcpu)
STUB(ncpu)
STUB(freepages)
STUB(halt)
STUB(readdir)
STUB(cmdline)
STUB(yield)
STUB(vm_create)
STUB(vm_destroy)
STUB(vm_map)
STUB(vm_unmap)
STUB(vcpu_create)
STUB(vcpu_getregs)
STUB(vcpu_setregs)
STUB(vcpu_run)
STUB(vcpu_inject)
STUB(vcpu_irq)
STUB(clock_ns)
STUB(vcpu_kick)
STUB(cons_read)
STUB(vcpu_cpuid)
STUB(kcov)

// Threads and futexes; user/lib/thread.c wraps thread_create and thread_join.
STUB_AS(sys_thread_create, thread_create)
STUB_AS(sys_thread_join, thread_join)
STUB(thread_exit)
STUB(gettid)
STUB(futex_wait)
STUB(futex_wake)

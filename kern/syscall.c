// System call dispatch: the SYSCALL entry (syscallentry.S) hands us the
// trapframe; arguments are read from it, the result goes back in rax.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "syscall.h"
#include "errno.h"
#include "kcov.h"

_Static_assert(offsetof(struct cpu, kstack_top) == CPU_OFF_KSTACK, "syscallentry.S reads kstack_top");
_Static_assert(offsetof(struct cpu, user_rsp) == CPU_OFF_USER_RSP, "syscallentry.S uses user_rsp");
_Static_assert(offsetof(struct trapframe, rcx) == 16 && offsetof(struct trapframe, r11) == 80 &&
                   offsetof(struct trapframe, rip) == 136 && offsetof(struct trapframe, rflags) == 152 &&
                   sizeof(struct trapframe) == 176,
               "syscallentry.S knows these offsets");

extern char syscall_entry[];

// Enables SYSCALL on this CPU (APM Vol. 2 §6.1.1 "SYSCALL and SYSRET").
// STAR[47:32] = kernel CS (SS = CS+8); STAR[63:48] + 16 = user CS and + 8 =
// user SS for 64-bit SYSRET, which is why UDATA sits right below UCODE.
// SFMASK clears IF (we switch stacks first), TF, DF and AC on entry.
void syscallinit(void)
{
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  wrmsr(MSR_STAR, ((uint64)(UDATA_SEL - 8) << 48) | ((uint64)KCODE_SEL << 32));
  wrmsr(MSR_LSTAR, (uint64)syscall_entry);
  wrmsr(MSR_CSTAR, 0);
  wrmsr(MSR_SFMASK, FL_IF | FL_TF | FL_DF | FL_AC | FL_IOPL);
}

// The n'th argument (0..5) of the current system call, raw.
uint64 argraw(int n)
{
  struct trapframe *tf = myproc()->tf;
  switch (n) {
  case 0: return tf->rdi;
  case 1: return tf->rsi;
  case 2: return tf->rdx;
  case 3: return tf->r10;
  case 4: return tf->r8;
  case 5: return tf->r9;
  }
  panic("argraw: argument %d", n);
}

// int arguments: the ABI leaves the upper half of the register undefined.
int argint(int n) { return (int)argraw(n); }
int64 arglong(int n) { return (int64)argraw(n); }

static uint64 (*const syscalls[NSYSCALL])(void) = {
  [SYS_fork] = sys_fork,       [SYS_exit] = sys_exit,         [SYS_wait] = sys_wait,
  [SYS_getpid] = sys_getpid,   [SYS_sbrk] = sys_sbrk,         [SYS_exec] = sys_exec,
  [SYS_read] = sys_read,       [SYS_write] = sys_write,       [SYS_open] = sys_open,
  [SYS_close] = sys_close,     [SYS_fsize] = sys_fsize,       [SYS_sleep] = sys_sleep,
  [SYS_uptime] = sys_uptime,   [SYS_kill] = sys_kill,         [SYS_setcpu] = sys_setcpu,
  [SYS_getcpu] = sys_getcpu,   [SYS_ncpu] = sys_ncpu,         [SYS_freepages] = sys_freepages,
  [SYS_halt] = sys_halt,       [SYS_readdir] = sys_readdir,   [SYS_cmdline] = sys_cmdline,
  [SYS_yield] = sys_yield,
  [SYS_vm_create] = sys_vm_create,     [SYS_vm_destroy] = sys_vm_destroy,
  [SYS_vm_map] = sys_vm_map,           [SYS_vm_unmap] = sys_vm_unmap,
  [SYS_vcpu_create] = sys_vcpu_create, [SYS_vcpu_getregs] = sys_vcpu_getregs,
  [SYS_vcpu_setregs] = sys_vcpu_setregs, [SYS_vcpu_run] = sys_vcpu_run,
  [SYS_vcpu_inject] = sys_vcpu_inject,
  [SYS_vcpu_irq] = sys_vcpu_irq,       [SYS_clock_ns] = sys_clock_ns,
  [SYS_vcpu_kick] = sys_vcpu_kick,     [SYS_cons_read] = sys_cons_read,
  [SYS_vcpu_cpuid] = sys_vcpu_cpuid,
  [SYS_kcov] = sys_kcov,
  [SYS_thread_create] = sys_thread_create, [SYS_thread_exit] = sys_thread_exit,
  [SYS_thread_join] = sys_thread_join,     [SYS_gettid] = sys_gettid,
  [SYS_futex_wait] = sys_futex_wait,       [SYS_futex_wake] = sys_futex_wake,
};

// Called by syscall_entry with interrupts on. A process killed meanwhile
// exits here instead of returning to user space.
void syscall(struct trapframe *tf)
{
  struct proc *p = myproc();
  if (tf != p->tf)
    panic("syscall: frame %p is not pid %d's %p", tf, p->pid, p->tf);
  uint64 num = tf->rax;
  if (num < NSYSCALL && syscalls[num])
    tf->rax = syscalls[num]();
  else
    tf->rax = -ENOSYS;
  if (p->killed)
    exit(-1);
}

// User-space side of the vmm system calls (numbers 32..44 in kern/syscall.h;
// the stubs are in the user library). Structures and constants: kern/vmabi.h.
#pragma once
#include "../../kern/vmabi.h"

int vm_create(void);
int vm_destroy(int vm);
int vm_map(int vm, uint64 gpa, void *uva, uint64 len, int flags);
int vm_unmap(int vm, uint64 gpa, uint64 len);
int vcpu_create(int vm, int mode);
int vcpu_getregs(int vm, int vcpu, struct vm_regs *r);
int vcpu_setregs(int vm, int vcpu, const struct vm_regs *r);
int vcpu_run(int vm, int vcpu, struct vm_exit *e);
int vcpu_inject(int vm, int vcpu, const struct vm_event *ev);
int vcpu_irq(int vm, int vcpu, int vector);   // assert the line (32..255) or lower it (-1)
long clock_ns(void);                          // host monotonic ns, the clock of deadline_ns
int vcpu_kick(int vm, int vcpu);              // current or next vcpu_run returns VM_EXIT_KICK
long cons_read(char *buf, long n);            // raw console input, non-blocking; 0 if none
int vcpu_cpuid(int vm, int vcpu, const struct vm_cpuid_entry *t, int n);   // CPUID answered by the kernel

// vcpu_run until an exit other than VM_EXIT_INTR (a host timer tick, which
// can end any run early): for callers that want the guest's own next exit.
// An INTR return that carries queued port writes (VM_RUN_PIO_OUT) is returned
// too, or they would be lost.
static inline int vcpu_run_guest(int vm, int vcpu, struct vm_exit *e)
{
  int r;
  while ((r = vcpu_run(vm, vcpu, e)) == 0 && e->reason == VM_EXIT_INTR && e->npio_out == 0)
    ;
  return r;
}

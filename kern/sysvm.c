// Placeholder VM system calls (numbers 32..40, kern/syscall.h): the vmm
// part replaces this file. Until then every call says "not implemented".
#include "defs.h"
#include "errno.h"

uint64 sys_vm_create(void) { return -ENOSYS; }
uint64 sys_vm_destroy(void) { return -ENOSYS; }
uint64 sys_vm_map(void) { return -ENOSYS; }
uint64 sys_vm_unmap(void) { return -ENOSYS; }
uint64 sys_vcpu_create(void) { return -ENOSYS; }
uint64 sys_vcpu_getregs(void) { return -ENOSYS; }
uint64 sys_vcpu_setregs(void) { return -ENOSYS; }
uint64 sys_vcpu_run(void) { return -ENOSYS; }
uint64 sys_vcpu_inject(void) { return -ENOSYS; }

// Frees the VMs of an exiting process (none yet).
void vm_proc_exit(int pid) { (void)pid; }

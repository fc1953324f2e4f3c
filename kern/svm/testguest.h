// A tiny guest for kernel tests (ktests): two pages of guest-physical memory
// behind a nested page table, its own permission maps and vcpu. Page 0 holds
// the IVT and the stack (SP=0x0F00), page 1 the code, which starts at
// TESTGUEST_CODE. Used by the lab 4 tests (run_test.c) and the CPUID table's
// test (cpuid_table_test.c); the lab 2 tests build their own VMCBs by hand.
#ifndef SVM_TESTGUEST_H
#define SVM_TESTGUEST_H
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define TESTGUEST_CODE 0x1000

struct testguest {
  struct npt npt;
  struct vmcb_perm perm;
  struct vcpu *v;
  uint8 *mem[2];   // guest-physical 0x0000 (IVT, stack) and 0x1000 (code)
};

// Sets up t with code (len bytes, at most a page) in guest mode `mode`
// (GUEST_REAL, GUEST_PROT32, ...); -ENOMEM. testguest_free undoes a partial set-up.
int testguest_new(struct testguest *t, const uint8 *code, int len, int mode);
void testguest_free(struct testguest *t);
// One vcpu_run with host interrupts on, as in a system call.
int testguest_run_once(struct testguest *t, struct vm_exit *e);
// testguest_run_once until an exit of the guest's own: vcpu_run also returns
// VM_EXIT_INTR whenever a host timer tick went by, which completes nothing.
int testguest_run(struct testguest *t, struct vm_exit *e);
#endif

// CPUID answered by the kernel from a table the VMM sets (vcpu_cpuid,
// syscall 45; KVM's KVM_SET_CPUID2). CPUID is an unconditional intercept on
// SVM (APM Vol. 2 §15.9 "Instruction Intercepts"), so every CPUID is a world
// switch; what the kernel saves is the trip to user space, and the VMM keeps
// the policy: it computes the answers (user/vmm/cpuid.c) and leaves out the
// leaves whose answer can change while the guest runs (they still exit).
// The lookup is the first entry that matches (kern/vmabi.h): its leaf is EAX
// and, with VM_CPUID_F_SUBLEAF, its subleaf is ECX; or, with
// VM_CPUID_F_RANGE, EAX lies in leaf..subleaf. No entry: an exit as before.
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

_Static_assert(VM_CPUID_MAX * sizeof(struct vm_cpuid_entry) <= PGSIZE, "a CPUID table fits in a page");

// 1 with out[] = EAX, EBX, ECX, EDX from v's table, 0 when it has no answer.
int svm_cpuid_lookup(struct vcpu *v, uint32 leaf, uint32 subleaf, uint32 *out)
{
  for (int i = 0; i < v->ncpuid; i++) {
    const struct vm_cpuid_entry *c = &v->cpuid[i];
    int hit = c->flags & VM_CPUID_F_RANGE ? leaf >= c->leaf && leaf <= c->subleaf
                                          : c->leaf == leaf && (!(c->flags & VM_CPUID_F_SUBLEAF) || c->subleaf == subleaf);
    if (hit) {
      out[0] = c->eax, out[1] = c->ebx, out[2] = c->ecx, out[3] = c->edx;
      return 1;
    }
  }
  return 0;
}

// Replaces v's table by the n entries at t (kernel memory); n = 0 removes
// it. v must not be running (the caller claimed it). -EINVAL for n out of
// 0..VM_CPUID_MAX, an unknown flag or both flags, -ENOMEM; the old table
// stays then.
int svm_cpuid_set(struct vcpu *v, const struct vm_cpuid_entry *t, int n)
{
  if (n < 0 || n > VM_CPUID_MAX)
    return -EINVAL;
  for (int i = 0; i < n; i++)
    if ((t[i].flags & ~(VM_CPUID_F_SUBLEAF | VM_CPUID_F_RANGE)) ||
        (t[i].flags == (VM_CPUID_F_SUBLEAF | VM_CPUID_F_RANGE)))
      return -EINVAL;
  struct vm_cpuid_entry *mine = NULL;
  if (n > 0) {
    if (!(mine = kalloc()))
      return -ENOMEM;
    memmove(mine, t, n * sizeof *t);
  }
  svm_cpuid_free(v);
  v->cpuid = mine;
  v->ncpuid = n;
  return 0;
}

void svm_cpuid_free(struct vcpu *v)
{
  if (v->cpuid)
    kfree(v->cpuid);
  v->cpuid = NULL;
  v->ncpuid = 0;
}

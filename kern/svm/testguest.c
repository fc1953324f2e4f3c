// The ktests' tiny guest (testguest.h).
#include "defs.h"
#include "x86.h"
#include "errno.h"
#include "vmabi.h"
#include "svm/testguest.h"
#include "../lib/string.h"

int testguest_new(struct testguest *t, const uint8 *code, int len, int mode)
{
  memset(t, 0, sizeof *t);
  if (len < 0 || len > (int)PGSIZE)
    return -EINVAL;
  if (npt_init(&t->npt) < 0 || vmcb_perm_alloc(&t->perm) < 0 || !(t->v = vcpu_alloc()))
    return -ENOMEM;
  for (int i = 0; i < 2; i++)
    if (!(t->mem[i] = kalloc()) || npt_map(&t->npt, i * PGSIZE, V2P(t->mem[i]), PGSIZE, NPT_W) < 0)
      return -ENOMEM;
  memmove(t->mem[1], code, len);
  struct vmcb_setup s = {.mode = mode, .rip = TESTGUEST_CODE, .rsp = 0x0F00, .asid = 1, .ncr3 = t->npt.pml4_pa};
  vmcb_init_control(t->v->vmcb, &s, &t->perm);
  vmcb_init_save(t->v->vmcb, &s);
  svm_force_intercepts(t->v->vmcb);
  return 0;
}

void testguest_free(struct testguest *t)
{
  if (t->v)
    vcpu_free(t->v);
  for (int i = 0; i < 2; i++)
    if (t->mem[i])
      kfree(t->mem[i]);
  npt_free(&t->npt);
  vmcb_perm_free(&t->perm);
}

int testguest_run_once(struct testguest *t, struct vm_exit *e)
{
  uint64 f = rflags();
  sti();
  int r = vcpu_run(t->v, e);
  if (!(f & FL_IF))
    cli();
  return r;
}

int testguest_run(struct testguest *t, struct vm_exit *e)
{
  int r;
  do
    r = testguest_run_once(t, e);
  while (r == 0 && e->reason == VM_EXIT_INTR);
  return r;
}

// ktest cpuid_table: CPUID answered from the VMM's table (cpuid_table.c)
// against a lookup written here from kern/vmabi.h's rule, on seeded random
// tables and queries (seed=N replays one). A guest loops "cpuid; vmmcall";
// the VMMCALL exit shows what CPUID put into EAX..EDX, and the test sets the
// next EAX (the VMMCALL's result) and ECX. A query the table answers must
// reach the VMMCALL without a CPUID exit and with the entry's registers; any
// other must exit with its leaf and subleaf, and the values given there
// must arrive.
#include "defs.h"
#include "x86.h"
#include "errno.h"
#include "ktest.h"
#include "vmabi.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/testguest.h"
#include "../lib/string.h"

#define QUERIES 600

// 1: cpuid; vmmcall; jmp 1b
static const uint8 g_loop[] = {0x0F, 0xA2, 0x0F, 0x01, 0xD9, 0xEB, 0xF9};

// The rule of kern/vmabi.h, written here on its own: the first entry that
// matches; NULL for none.
static const struct vm_cpuid_entry *expect_of(const struct vm_cpuid_entry *t, int n, uint32 leaf, uint32 sub)
{
  for (int i = 0; i < n; i++) {
    if (t[i].flags == VM_CPUID_F_RANGE) {
      if (t[i].leaf <= leaf && leaf <= t[i].subleaf)
        return &t[i];
    } else if (t[i].leaf == leaf && (t[i].flags == 0 || t[i].subleaf == sub)) {
      return &t[i];
    }
  }
  return NULL;
}

// Leaves and subleaves from a few values, so that hits, misses, equal
// leaves with other subleaves and ranges all come up.
static uint32 pick_leaf(void)
{
  static const uint32 base[] = {0, 1, 7, 0xD, 0x40000000, 0x40000100, 0x80000000, 0x80000008, 0xFFFFFFFF};
  uint32 b = base[ktest_below(ARRAY_SIZE(base))];
  return ktest_below(4) ? b : b + (uint32)ktest_below(3);
}

static void random_table(struct vm_cpuid_entry *t, int n)
{
  for (int i = 0; i < n; i++) {
    uint32 f = (uint32)ktest_below(3);   // 0, SUBLEAF, RANGE
    uint32 leaf = pick_leaf();
    t[i] = (struct vm_cpuid_entry){leaf, f == 2 ? leaf + (uint32)ktest_below(0x200) : (uint32)ktest_below(3), f, 0,
                                   (uint32)ktest_rnd() | 0x80000000u, (uint32)ktest_rnd(), (uint32)ktest_rnd(),
                                   (uint32)ktest_rnd()};
    if (t[i].subleaf < t[i].leaf)   // a range that wrapped: one leaf
      t[i].subleaf = t[i].leaf;
  }
}

// One query through the guest; 0 if it behaved, else 1 with *why set.
static int query(struct testguest *t, struct vm_exit *e, const struct vm_cpuid_entry *tab, int n, const char **why,
                 uint32 *got, int *hits)
{
  uint32 leaf = pick_leaf(), sub = (uint32)ktest_below(3);
  const struct vm_cpuid_entry *x = expect_of(tab, n, leaf, sub);
  e->u.hypercall.ret = leaf | 0x5A5A000000000000UL;   // the VMMCALL's completion sets the next EAX;
  t->v->gprs.rcx = sub | 0xABCD000000000000UL;        // CPUID reads only the low halves
  uint32 want[4] = {0, 0, 0, 0};
  if (testguest_run(t, e) < 0)
    return *why = "vcpu_run failed", 1;
  if (e->reason == VM_EXIT_CPUID) {
    if (x)
      return *why = "a leaf the table answers exited", got[0] = leaf, got[1] = sub, 1;
    if (e->u.cpuid.leaf != leaf || e->u.cpuid.subleaf != sub)
      return *why = "the CPUID exit names another leaf/subleaf", got[0] = e->u.cpuid.leaf, got[1] = e->u.cpuid.subleaf, 1;
    want[0] = (uint32)ktest_rnd(), want[1] = (uint32)ktest_rnd(), want[2] = (uint32)ktest_rnd(), want[3] = (uint32)ktest_rnd();
    e->u.cpuid.eax = want[0], e->u.cpuid.ebx = want[1], e->u.cpuid.ecx = want[2], e->u.cpuid.edx = want[3];
    if (testguest_run(t, e) < 0)
      return *why = "vcpu_run failed", 1;
  } else if (!x) {
    return *why = "a leaf the table does not answer did not exit", got[0] = leaf, got[1] = sub, 1;
  } else {
    want[0] = x->eax, want[1] = x->ebx, want[2] = x->ecx, want[3] = x->edx;
    (*hits)++;   // answered without a CPUID exit
  }
  if (e->reason != VM_EXIT_VMMCALL)
    return *why = "no VMMCALL after the CPUID", got[0] = e->reason, got[1] = (uint32)e->code, 1;
  uint64 r[4] = {e->u.hypercall.rax, e->u.hypercall.rbx, e->u.hypercall.rcx, e->u.hypercall.rdx};
  for (int i = 0; i < 4; i++)
    if (r[i] != want[i])   // 32-bit results, zero-extended
      return *why = "wrong register after CPUID", got[0] = leaf, got[1] = i, 1;
  return 0;
}

KTEST(cpuid_table)
{
  uint64 seed = ktest_num("seed", 1);
  ktest_seed(seed);
  static struct vm_cpuid_entry tab[VM_CPUID_MAX];
  struct testguest t;
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  if (testguest_new(&t, g_loop, sizeof g_loop, GUEST_PROT32) < 0) {
    KCHECK(0, "test guest set up: out of memory");
    testguest_free(&t);
    return;
  }
  KCHECK(svm_cpuid_set(t.v, tab, VM_CPUID_MAX + 1) == -EINVAL, "a table of %d entries is refused", VM_CPUID_MAX + 1);
  tab[0].flags = VM_CPUID_F_SUBLEAF | VM_CPUID_F_RANGE;
  KCHECK(svm_cpuid_set(t.v, tab, 1) == -EINVAL, "an entry with both flags is refused");
  tab[0].flags = 4;
  KCHECK(svm_cpuid_set(t.v, tab, 1) == -EINVAL, "an entry with an unknown flag is refused");
  // the first run: EAX and ECX straight into the VMCB; it stops at the first VMMCALL
  t.v->vmcb->save.rax = 0, t.v->gprs.rcx = 0;
  int r = testguest_run(&t, &e);
  if (r == 0 && e.reason == VM_EXIT_CPUID)
    r = testguest_run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_VMMCALL, "without a table CPUID exits, then the VMMCALL (reason %u)", e.reason);
  int bad = 0, hits = 0, n = 0;
  const char *why = "";
  uint32 got[2] = {0, 0};
  for (int round = 0; round < 6 && !bad; round++) {
    n = round == 0 ? 0 : 1 + (int)ktest_below(round < 5 ? 12 : VM_CPUID_MAX);
    random_table(tab, n);
    if (svm_cpuid_set(t.v, tab, n) < 0) {
      bad = 1, why = "svm_cpuid_set refused a valid table";
      break;
    }
    memset(tab + n, 0xEE, sizeof tab[0]);   // the kernel keeps its own copy: this must not matter
    for (int q = 0; q < QUERIES / 6 && !bad; q++)
      bad = query(&t, &e, tab, n, &why, got, &hits);
  }
  KCHECK(!bad, "seed %lu: %d random queries against tables of up to %d entries: %s (%u %u, table of %d)", seed,
         QUERIES, VM_CPUID_MAX, bad ? why : "each answered by its first matching entry or exited", got[0], got[1], n);
  KCHECK(bad || (hits > QUERIES / 10 && hits < QUERIES * 5 / 6), "seed %lu: %d of the %d queries answered in the "
         "kernel (a sixth meet no table at all)", seed, hits, QUERIES);
  testguest_free(&t);
}

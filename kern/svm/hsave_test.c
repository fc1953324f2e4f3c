// Lab 1 (hsave) tests. Every value is read on the CPU it belongs to (via
// smp_call), from the MSRs and CPUID themselves, not from svm_data.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "svm/vmm.h"

struct cpu_state {
  int ran_on;
  uint64 efer, hsave;
  struct cpuid_regs ext1, svm;
};

// Runs on the CPU being inspected (smp_call: IF=0).
static void read_state(void *arg)
{
  struct cpu_state *st = arg;
  st->ran_on = cpuid_self();
  st->efer = rdmsr(MSR_EFER);
  st->hsave = (cpuid(CPUID_EXT_FEATURES, 0).ecx & CPUID_EXT_ECX_SVM) ? rdmsr(MSR_VM_HSAVE_PA) : 0;
  st->ext1 = cpuid(CPUID_EXT_FEATURES, 0);
  st->svm = cpuid(CPUID_SVM_LEAF, 0);
}

static struct cpu_state states[NCPU];

// Fills states[0..ncpu-1]; returns 0 if every CPU answered.
static int read_all(void)
{
  int bad = 0;
  for (int i = 0; i < ncpu; i++) {
    states[i].ran_on = -1;
    if (smp_call(i, read_state, &states[i]) != 0 || states[i].ran_on != i)
      bad = 1;
  }
  return bad ? -1 : 0;
}

// Each CPU has EFER.SVME set and its own page-aligned, non-zero
// VM_HSAVE_PA, as read back from the MSR on that CPU.
KTEST(hsave)
{
  KCHECK(svm_available(), "SVM usable (%s)", svm_available() ? "yes" : svm_unavailable_reason());
  KCHECK(read_all() == 0, "read EFER and VM_HSAVE_PA on each of %d cpus", ncpu);
  for (int i = 0; i < ncpu; i++) {
    uint64 pa = states[i].hsave;
    KCHECK(states[i].efer & EFER_SVME, "cpu%d: EFER=0x%lx has SVME", i, states[i].efer);
    KCHECK(pa != 0 && pa % PGSIZE == 0 && pa < ktotalpages() * PGSIZE,
           "cpu%d: VM_HSAVE_PA=0x%lx is a non-zero, page-aligned RAM address", i, pa);
    KCHECK(pa == svm_data[i].save_area_pa, "cpu%d: VM_HSAVE_PA is the save area set up for it (0x%lx)",
           i, svm_data[i].save_area_pa);
    int dup = 0;
    for (int j = 0; j < i; j++)
      dup |= states[j].hsave == pa;
    KCHECK(!dup, "cpu%d: VM_HSAVE_PA=0x%lx is no other CPU's", i, pa);
  }
  printf("hsave: %d cpus checked\n", ncpu);
}

// svm_features and the summary line agree with CPUID on every CPU.
KTEST(hsave_features)
{
  KCHECK(read_all() == 0, "read CPUID on each of %d cpus", ncpu);
  struct svm_features *f = &svm_features;
  for (int i = 0; i < ncpu; i++) {
    struct cpu_state *s = &states[i];
    int svm = (s->ext1.ecx & CPUID_EXT_ECX_SVM) != 0;
    KCHECK(svm == f->svm, "cpu%d: CPUID 8000_0001h ECX.SVM=%d, reported svm=%d", i, svm, f->svm);
    if (!svm)
      continue;
    KCHECK((s->svm.eax & 0xFF) == f->revision && s->svm.ebx == f->nasids && s->svm.edx == f->edx,
           "cpu%d: CPUID 8000_000Ah rev=%u asids=%u edx=0x%x, reported rev=%u asids=%u edx=0x%x", i,
           s->svm.eax & 0xFF, s->svm.ebx, s->svm.edx, f->revision, f->nasids, f->edx);
  }
  int npt = f->svm && svm_has(SVM_FEAT_NP);
  KCHECK(svm_available() == (npt && !f->svmdis),
         "svm_available()=%d iff SVM with nested paging (svm=%d npt=%d svmdis=%d)", svm_available(),
         f->svm, npt, f->svmdis);
}

static void enable_here(void *unused) { svm_hardware_enable(); }

// The power-off path: svm_hardware_disable_all clears EFER.SVME on every
// CPU; svm_hardware_enable sets it again.
KTEST(hsave_disable)
{
  KCHECK(svm_available(), "SVM usable before the test");
  svm_hardware_disable_all();
  KCHECK(read_all() == 0, "read EFER on each of %d cpus", ncpu);
  for (int i = 0; i < ncpu; i++)
    KCHECK(!(states[i].efer & EFER_SVME), "cpu%d: after disable EFER=0x%lx has SVME clear", i,
           states[i].efer);
  KCHECK(!svm_available(), "svm_available() is 0 while disabled");
  KCHECK(svm_guard() == -ENODEV, "VM creation refused while disabled: -ENODEV");
  for (int i = 0; i < ncpu; i++)
    smp_call(i, enable_here, NULL);
  read_all();
  for (int i = 0; i < ncpu; i++)
    KCHECK((states[i].efer & EFER_SVME) && states[i].hsave == svm_data[i].save_area_pa,
           "cpu%d: enabled again, VM_HSAVE_PA=0x%lx", i, states[i].hsave);
  KCHECK(svm_available(), "svm_available() is 1 again");
}

// Booted on a CPU without SVM or without nested paging: the vmm says no,
// the rest of the kernel carries on.
KTEST(hsave_nosvm)
{
  const char *why = svm_unavailable_reason();
  KCHECK(!svm_available() && why, "svm_available()=0, reason: %s", why ? why : "(none)");
  KCHECK(svm_guard() == -ENODEV, "VM creation refused: -ENODEV");
  KCHECK(read_all() == 0, "read EFER on each of %d cpus", ncpu);
  for (int i = 0; i < ncpu; i++)
    KCHECK(!(states[i].efer & EFER_SVME), "cpu%d: EFER.SVME left clear (EFER=0x%lx)", i, states[i].efer);
  void *p = kalloc();
  KCHECK(p != NULL, "the rest of the kernel works: kalloc gives %p", p);
  if (p)
    kfree(p);
}

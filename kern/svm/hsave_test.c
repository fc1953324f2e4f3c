// Lab 1 (hsave) tests. Every value is read on the CPU it belongs to (via
// smp_call), from the MSRs and CPUID themselves, not from svm_data.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "../lib/string.h"

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

static void enable_here(void *unused) { svm_hardware_enable(); }
static void disable_here(void *unused) { svm_hardware_disable(); }

// Each CPU has EFER.SVME set and its own page-aligned, non-zero
// VM_HSAVE_PA, as read back from the MSR on that CPU.
KTEST(hsave)
{
  KCHECK(svm_available(), "SVM usable (%s)", svm_available() ? "yes" : svm_unavailable_reason());
  KCHECK(read_all() == 0, "read EFER and VM_HSAVE_PA on each of %d cpus", ncpu);
  for (int i = 0; i < ncpu; i++) {
    uint64 pa = states[i].hsave;
    KCHECK(states[i].efer & EFER_SVME, "cpu%d: EFER=0x%lx has SVME (bit 12) set", i, states[i].efer);
    KCHECK((states[i].efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA),
           "cpu%d: EFER=0x%lx still has LME and LMA (long mode kept)", i, states[i].efer);
    KCHECK(pa != 0 && pa % PGSIZE == 0 && pa < ktotalpages() * PGSIZE,
           "cpu%d: VM_HSAVE_PA=0x%lx is a non-zero, page-aligned RAM address (RAM ends at 0x%lx)",
           i, pa, ktotalpages() * PGSIZE);
    KCHECK(pa == svm_data[i].save_area_pa && svm_data[i].save_area &&
               V2P(svm_data[i].save_area) == pa,
           "cpu%d: VM_HSAVE_PA=0x%lx is svm_data[%d].save_area_pa=0x%lx = V2P(save_area)", i, pa, i,
           svm_data[i].save_area_pa);
    KCHECK(svm_data[i].enabled && svm_data[i].cpu == i,
           "cpu%d: svm_data[%d].enabled=%d (want 1), .cpu=%d (want %d)", i, i, svm_data[i].enabled,
           svm_data[i].cpu, i);
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
  uint32 vmcr = f->svm ? (uint32)rdmsr(MSR_VM_CR) : 0;
  KCHECK(f->svmdis == ((vmcr & VM_CR_SVMDIS) != 0), "svmdis=%d matches VM_CR=0x%x (SVMDIS is bit 4)",
         f->svmdis, vmcr);
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
  const char *why = svm_unavailable_reason();
  KCHECK(svm_available() == (why == NULL), "svm_available()=%d agrees with the reason \"%s\"",
         svm_available(), why ? why : "(none)");
  KCHECK(svm_available() == (npt && !f->svmdis),
         "svm_available()=%d iff SVM with nested paging (svm=%d npt=%d svmdis=%d)", svm_available(),
         f->svm, npt, f->svmdis);
}


// The power-off path: svm_hardware_disable_all clears EFER.SVME on every
// CPU; svm_hardware_enable sets it again.
KTEST(hsave_disable)
{
  KCHECK(svm_available(), "SVM usable before the test");
  if (ncpu > 1) {
    smp_call(ncpu - 1, disable_here, NULL);
    read_all();
    KCHECK(!(states[ncpu - 1].efer & EFER_SVME) && states[ncpu - 1].hsave == 0,
           "cpu%d alone disabled: EFER=0x%lx (want SVME clear), VM_HSAVE_PA=0x%lx (want 0)", ncpu - 1,
           states[ncpu - 1].efer, states[ncpu - 1].hsave);
    KCHECK((states[0].efer & EFER_SVME) && (states[0].efer & EFER_LMA),
           "cpu0 untouched: EFER=0x%lx still has SVME and LMA", states[0].efer);
    const char *why = svm_unavailable_reason();
    KCHECK(!svm_available() && why && svm_guard() == -ENODEV,
           "one CPU disabled: svm_available()=%d (want 0), reason \"%s\", VM creation refused",
           svm_available(), why ? why : "(none)");
    smp_call(ncpu - 1, enable_here, NULL);
    KCHECK(svm_available(), "cpu%d enabled again: svm_available()=%d (want 1)", ncpu - 1,
           svm_available());
  }
  svm_hardware_disable_all();
  KCHECK(read_all() == 0, "read EFER on each of %d cpus", ncpu);
  for (int i = 0; i < ncpu; i++)
    KCHECK(!(states[i].efer & EFER_SVME) && (states[i].efer & EFER_LMA),
           "cpu%d: after disable EFER=0x%lx has SVME clear and LMA still set", i, states[i].efer);
  KCHECK(!svm_available(), "svm_available() is 0 while disabled (is %d)", svm_available());
  int g = svm_guard();
  KCHECK(g == -ENODEV, "VM creation refused while disabled: svm_guard()=%d (want -ENODEV=%d)", g, -ENODEV);
  int r = svm_hardware_enable_all();
  KCHECK(r == 0, "svm_hardware_enable_all: %d (want 0)", r);
  read_all();
  for (int i = 0; i < ncpu; i++)
    KCHECK((states[i].efer & EFER_SVME) && states[i].hsave == svm_data[i].save_area_pa,
           "cpu%d: enabled again: EFER=0x%lx (want SVME), VM_HSAVE_PA=0x%lx (want 0x%lx)", i,
           states[i].efer, states[i].hsave, svm_data[i].save_area_pa);
  KCHECK(svm_available(), "svm_available() is 1 again (is %d)", svm_available());
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

// svm_alloc_save_areas with too few free pages for NCPU save areas: -ENOMEM,
// every page it took given back, no entry left pointing at a freed page.
// The live save areas are set aside and restored around the call.
KTEST(hsave_nomem)
{
  static struct svm_cpu_data saved[NCPU];
  memmove(saved, svm_data, sizeof saved);
  memset(svm_data, 0, sizeof saved);
  uint64 base = kfreecount();
  void *list = ktest_hog(NCPU / 2);
  uint64 before = kfreecount();
  int r = svm_alloc_save_areas();
  uint64 after = kfreecount();
  int stale = -1;
  for (int i = NCPU - 1; i >= 0; i--)
    if (svm_data[i].save_area || svm_data[i].save_area_pa)
      stale = i;
  memmove(svm_data, saved, sizeof saved);
  ktest_unhog(list);
  KCHECK(r == -ENOMEM, "svm_alloc_save_areas with %lu free pages for %d CPUs: %d (want -ENOMEM=%d)",
         before, NCPU, r, -ENOMEM);
  KCHECK(after == before, "free pages before %lu, after the failed call %lu (want equal)", before,
         after);
  KCHECK(stale < 0, "no svm_data entry keeps a save area after the failure (svm_data[%d] does)",
         stale);
  KCHECK(kfreecount() == base, "free pages back to baseline %lu (now %lu)", base, kfreecount());
}

// A CPU whose SVM leaf differs from what setup recorded is refused: it
// keeps EFER.SVME clear and svm_hardware_enable_all fails. Simulated by
// changing one recorded field at a time (revision, ASIDs, features), then
// restoring it.
static void compat_case(const char *what, uint32 *field, uint32 flip)
{
  int last = ncpu - 1;
  smp_call(last, disable_here, NULL);
  *field ^= flip;
  int r = svm_hardware_enable_all();
  *field ^= flip;
  read_all();
  KCHECK(r == -ENODEV && !(states[last].efer & EFER_SVME) && !svm_data[last].enabled,
         "recorded %s differs: svm_hardware_enable_all=%d (want %d), cpu%d EFER=0x%lx (want SVME "
         "clear), enabled=%d (want 0)", what, r, -ENODEV, last, states[last].efer,
         svm_data[last].enabled);
  KCHECK(!svm_available(), "%s differs: svm_available()=%d (want 0)", what, svm_available());
  r = svm_hardware_enable_all();
  KCHECK(r == 0 && svm_available(), "%s restored: svm_hardware_enable_all=%d, svm_available()=%d "
         "(want 0 and 1)", what, r, svm_available());
}

KTEST(hsave_compat)
{
  KCHECK(svm_available() && ncpu > 1, "SVM usable on %d cpus before the test", ncpu);
  compat_case("revision", &svm_features.revision, 0x80);
  compat_case("number of ASIDs", &svm_features.nasids, 0x100);
  compat_case("feature bits (EDX)", &svm_features.edx, SVM_FEAT_NRIPS);
}


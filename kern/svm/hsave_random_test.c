// Lab 1 (hsave): random orders of svm_hardware_enable/disable on random CPUs,
// every CPU's MSRs read back on that CPU after each step.
//
//   ktest=hsave_random seed=N [steps=N]
//
// Each step runs svm_hardware_enable or svm_hardware_disable on a random CPU
// (smp_call), sometimes svm_hardware_disable_all or svm_hardware_enable_all,
// after flipping EFER.SCE on that CPU at random (an EFER bit the kernel does
// not need in a ktest, so the student's code must keep whatever it finds).
// The oracle is the hardware state of each CPU against a model of what each
// call promises (APM Vol. 2 §15.4 "Enabling SVM", §15.30.4 "VM_HSAVE_PA"):
//   - enabled CPU: EFER.SVME set, VM_HSAVE_PA non-zero, page-aligned, in RAM,
//     different from every other enabled CPU's;
//   - disabled CPU: EFER.SVME clear, VM_HSAVE_PA 0;
//   - every other EFER bit (LME, LMA, NXE and the random SCE) as before;
//   - svm_available() iff every online CPU is enabled.
// At the end every CPU is enabled again and SCE restored.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "../lib/string.h"

struct cpu_model {
  int enabled;
  uint64 efer_rest;   // EFER without SVME, as the test left it
};

static struct cpu_model model[NCPU];
static uint64 seed, bad;

struct msrs {
  uint64 efer, hsave;
};

static void read_here(void *arg)
{
  struct msrs *m = arg;
  m->efer = rdmsr(MSR_EFER);
  m->hsave = rdmsr(MSR_VM_HSAVE_PA);
}

// Flips SCE on this CPU with probability 1/2; arg: the new EFER (out).
static void flip_sce_here(void *arg)
{
  uint64 efer = rdmsr(MSR_EFER);
  if (ktest_rnd() & 1)
    wrmsr(MSR_EFER, efer ^ EFER_SCE);
  *(uint64 *)arg = rdmsr(MSR_EFER) & ~EFER_SVME;
}

static void set_sce_here(void *arg)
{
  wrmsr(MSR_EFER, (rdmsr(MSR_EFER) & ~EFER_SCE) | *(uint64 *)arg);
}

static void enable_here(void *unused) { svm_hardware_enable(); }
static void disable_here(void *unused) { svm_hardware_disable(); }

static void mismatch(uint64 step, const char *what, int cpu, uint64 efer, uint64 hsave)
{
  bad++;
  if (bad <= 8)
    printf("mismatch: seed %lu step %lu: cpu%d %s (EFER 0x%lx, VM_HSAVE_PA 0x%lx)\n", seed, step, cpu, what,
           efer, hsave);
}

// Every CPU's MSRs against the model.
static void check_all(uint64 step)
{
  struct msrs m[NCPU];
  int all = 1;
  for (int i = 0; i < ncpu; i++) {
    smp_call(i, read_here, &m[i]);
    struct cpu_model *c = &model[i];
    all &= c->enabled;
    if ((m[i].efer & ~EFER_SVME) != c->efer_rest)
      mismatch(step, "EFER bits other than SVME changed", i, m[i].efer, m[i].hsave);
    if (!c->enabled) {
      if ((m[i].efer & EFER_SVME) || m[i].hsave)
        mismatch(step, "after svm_hardware_disable: SVME or VM_HSAVE_PA left set", i, m[i].efer, m[i].hsave);
      continue;
    }
    uint64 pa = m[i].hsave;
    if (!(m[i].efer & EFER_SVME) || !pa || pa % PGSIZE || pa >= ktotalpages() * PGSIZE)
      mismatch(step, "after svm_hardware_enable: SVME clear or VM_HSAVE_PA not a page of RAM", i, m[i].efer, pa);
    for (int j = 0; j < i; j++)
      if (model[j].enabled && m[j].hsave == pa)
        mismatch(step, "shares its VM_HSAVE_PA with an earlier CPU", i, m[i].efer, pa);
  }
  if (!!svm_available() != all)
    mismatch(step, all ? "svm_available() says no with every CPU enabled" : "svm_available() says yes with a CPU disabled",
             cpuid_self(), 0, 0);
}

KTEST(hsave_random)
{
  seed = ktest_num("seed", 1);
  uint64 steps = ktest_num("steps", 300);
  ktest_seed(seed);
  printf("hsave_random: seed %lu, %lu steps on %d cpus\n", seed, steps, ncpu);
  KCHECK(svm_available(), "SVM usable at the start (%s)", svm_available() ? "yes" : svm_unavailable_reason());
  if (!svm_available())
    return;
  uint64 sce0[NCPU];
  for (int i = 0; i < ncpu; i++) {
    struct msrs m;
    smp_call(i, read_here, &m);
    sce0[i] = m.efer & EFER_SCE;
    model[i] = (struct cpu_model){1, m.efer & ~EFER_SVME};
  }
  for (uint64 s = 0; s < steps; s++) {
    int cpu = ktest_below(ncpu);
    uint64 k = ktest_below(20);
    if (k == 0) {
      svm_hardware_disable_all();
      for (int i = 0; i < ncpu; i++)
        model[i].enabled = 0;
    } else if (k == 1) {
      int r = svm_hardware_enable_all();
      for (int i = 0; i < ncpu; i++)
        model[i].enabled = 1;
      if (r != 0)
        mismatch(s, "svm_hardware_enable_all failed", cpuid_self(), r, 0);
    } else {
      smp_call(cpu, flip_sce_here, &model[cpu].efer_rest);
      model[cpu].enabled = k & 1;
      smp_call(cpu, model[cpu].enabled ? enable_here : disable_here, NULL);
    }
    check_all(s);
  }
  int r = svm_hardware_enable_all();
  for (int i = 0; i < ncpu; i++)
    smp_call(i, set_sce_here, &sce0[i]);
  KCHECK(bad == 0, "random enable/disable orders: %lu steps, %lu mismatches with the CPUs' MSRs (seed %lu)", steps,
         bad, seed);
  KCHECK(r == 0 && svm_available(), "every CPU enabled again at the end (svm_hardware_enable_all = %d)", r);
}

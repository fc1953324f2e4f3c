// The guest's MSRs, the ones the kernel lets through to the VMM (every MSR
// is intercepted; EFER is the kernel's, the SYSCALL/segment-base MSRs are
// switched by VMLOAD/VMSAVE). Those a guest of our CPUID policy (cpuid.c)
// may touch behave as on such a CPU; any other MSR, read or write, is
// #GP(0), as on a CPU without it (APM Vol. 2 §8.4 "Interrupt Vectors":
// RDMSR/WRMSR of an unimplemented MSR).
#include "vmm.h"

#define MSR_TSC 0x10
#define MSR_MTRRCAP 0xFE
#define MSR_MISC_ENABLE 0x1A0
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2FF
#define MSR_HWCR 0xC0010015
#define MSR_SCRATCH 0x40000100   // a read/write MSR the VMM emulates (tests)

#define MTRRCAP_VALUE 0x400      // WC supported; no fixed ranges, no variable ranges
#define HWCR_TSCFREQSEL (1UL << 24)

static uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

// A memory type a PAT entry or MTRR may hold: UC, WC, WT, WP, WB (and UC- for PAT).
static int memtype_ok(uint64 t, int pat) { return t == 0 || t == 1 || (t >= 4 && t <= 6) || (pat && t == 7); }

static int pat_ok(uint64 v)
{
  for (int i = 0; i < 8; i++)
    if (!memtype_ok((v >> (8 * i)) & 0xFF, 1))
      return 0;
  return 1;
}

// A write: 1 if the MSR took the value, 0 for #GP.
static int msr_write(struct guest *g, uint32 msr, uint64 v)
{
  switch (msr) {
  case MSR_TSC: return 1;                       // the TSC offset stays: ignored, as KVM did long ago
  case MSR_PAT: return pat_ok(v) ? (g->msr.pat = v, 1) : 0;
  case MSR_MTRR_DEF_TYPE:
    if ((v & ~0xCFFUL) || !memtype_ok(v & 0xFF, 0))
      return 0;
    g->msr.mtrr_def = v;
    return 1;
  case MSR_MISC_ENABLE: g->msr.misc_enable = v; return 1;
  case MSR_HWCR: g->msr.hwcr = v; return 1;
  case MSR_SCRATCH: g->msr.scratch = v; return 1;
  }
  return 0;
}

// A read: 1 with *v, 0 for #GP.
static int msr_read(struct guest *g, uint32 msr, uint64 *v)
{
  switch (msr) {
  case MSR_TSC: *v = rdtsc(); return 1;
  case MSR_MTRRCAP: *v = MTRRCAP_VALUE; return 1;
  case MSR_PAT: *v = g->msr.pat; return 1;
  case MSR_MTRR_DEF_TYPE: *v = g->msr.mtrr_def; return 1;
  case MSR_MISC_ENABLE: *v = g->msr.misc_enable; return 1;
  case MSR_HWCR: *v = g->msr.hwcr; return 1;
  case MSR_SCRATCH: *v = g->msr.scratch; return 1;
  }
  return 0;
}

// Reset values, as a CPU has them after firmware set the MTRRs up.
void msr_reset(struct guest *g)
{
  g->msr.pat = 0x0007040600070406UL;            // WB WT UC- UC, twice
  g->msr.mtrr_def = 0x806;                      // MTRRs on, default write-back
  g->msr.misc_enable = 1;                       // fast strings
  g->msr.hwcr = HWCR_TSCFREQSEL;
}

// RDMSR/WRMSR exits: answer or inject #GP(0).
int dev_msr(struct guest *g)
{
  struct vm_exit *e = &g->e;
  if (!g->msr.pat)
    msr_reset(g);
  int ok = apic_msr(g, e->u.msr.msr, e->u.msr.write, &e->u.msr.value);
  if (ok < 0)
    ok = e->u.msr.write ? msr_write(g, e->u.msr.msr, e->u.msr.value) : msr_read(g, e->u.msr.msr, &e->u.msr.value);
  if (ok)
    return 1;
  struct vm_event ev = {VM_EVENT_EXCEPTION, 13, 0, VM_EVENT_F_ERROR | VM_EVENT_F_FAULT};
  int r = vcpu_inject(g->vm, g->vcpu, &ev);
  if (r < 0)
    guest_fail(g, "cannot inject #GP: %s", errstr(r));
  return r == 0;
}

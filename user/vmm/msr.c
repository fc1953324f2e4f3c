// The guest's MSRs: the ones the kernel lets through to the VMM (every MSR
// is intercepted, APM Vol. 2 §15.11; EFER is the kernel's, the SYSCALL and
// segment-base MSRs are switched by VMLOAD/VMSAVE, §15.5.2). The policy is
// one table: each MSR a guest of our CPUID (cpuid.c) may touch, with the
// answer KVM gives an AMD guest (arch/x86/kvm/x86.c kvm_get_msr_common/
// kvm_set_msr_common, svm/svm.c svm_get_msr/svm_set_msr): its value, the
// bits a write takes, the bits a write may carry but that change nothing,
// the bits that must not change. Any other MSR, read or write, is #GP(0),
// as on a CPU without it (APM Vol. 2 §8.2 "Vectors", #GP: RDMSR/WRMSR of an
// unimplemented MSR), and is counted for `vmm -s` (msr_print_unknown).
// docs/devices.md "MSRs and CPUID" explains each choice.
#include "vmm.h"
#include "kvmpv.h"

#define MSR_SCRATCH 0x40000100   // a read/write MSR the VMM emulates (tests)

// How an MSR answers.
enum { MSR_RO,     // reads value; a write #GP unless all its bits are ignored ones
       MSR_RW,     // reads the last value written; a write follows writable/ignored/locked
       MSR_TSC };  // the host's TSC; writes ignored (no TSC offset from user space)

struct msr_rule {
  uint32 first, last;   // a range of MSR numbers
  const char *name;
  uint8 kind, slot;     // slot: index of the value in g->msr.val (MSR_RW)
  uint64 value;         // MSR_RO: the value; MSR_RW: the value at reset
  uint64 writable;      // MSR_RW: bits a write sets or clears
  uint64 ignored;       // bits a write may have set that are dropped (the old value stays)
  uint64 locked;        // bits that must equal the current value, else #GP
  int (*valid)(uint64 v);   // further checks of a written value, NULL: none
};

// A memory type a PAT entry or MTRR may hold: UC, WC, WT, WP, WB (and UC- for PAT).
static int memtype_ok(uint64 t, int pat) { return t == 0 || t == 1 || (t >= 4 && t <= 6) || (pat && t == 7); }

static int pat_ok(uint64 v)
{
  for (int i = 0; i < 8; i++)
    if (!memtype_ok((v >> (8 * i)) & 0xFF, 1))
      return 0;
  return 1;
}

static int deftype_ok(uint64 v) { return memtype_ok(v & 0xFF, 0); }

#define ALL ~0UL
#define HWCR_TSCFREQSEL (1UL << 24)   // the TSC counts at the P0 frequency (read by Linux)
#define HWCR_MCSTATUSWREN (1UL << 18)
#define MISC_EMON (1UL << 7)          // performance monitoring available: read-only
#define MISC_NO_BTS_PEBS (3UL << 11)  // BTS and PEBS unavailable: read-only

// Sorted by number. Slots: 0 PAT, 1 MTRR_DEF_TYPE, 2 MISC_ENABLE, 3 HWCR,
// 4 DEBUGCTL, 5 DE_CFG, 6 the scratch MSR.
static const struct msr_rule rules[] = {
  {0x10, 0x10, "TSC", MSR_TSC, 0, 0, 0, 0, 0, NULL},
  // Intel-only MSRs KVM answers whatever the vendor: model-specific
  // values nobody may rely on read as 0.
  {0x17, 0x17, "PLATFORM_ID", MSR_RO, 0, 0, 0, 0, 0, NULL},
  {0x2A, 0x2A, "EBL_CR_POWERON", MSR_RO, 0, 0, 0, 0, 0, NULL},
  // Microcode patch level: KVM's default, guests' writes (a microcode
  // update's "write 0, CPUID, read" on Intel) ignored.
  {0x8B, 0x8B, "PATCH_LEVEL", MSR_RO, 0, 0x100000000UL, 0, ALL, 0, NULL},
  // The P6 performance counters and event selects: no PMU, so they read
  // 0 and writes go nowhere (KVM without a PMU).
  {0xC1, 0xC2, "P6_PERFCTR0-1", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xFE, 0xFE, "MTRRCAP", MSR_RO, 0, 0x400, 0, 0, 0, NULL},   // WC; no fixed or variable ranges
  {0x186, 0x187, "P6_EVNTSEL0-1", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0x199, 0x199, "PERF_CTL", MSR_RO, 0, 0, 0, 0, 0, NULL},
  {0x1A0, 0x1A0, "MISC_ENABLE", MSR_RW, 2, MISC_NO_BTS_PEBS, ~(MISC_EMON | MISC_NO_BTS_PEBS), MISC_EMON,
   MISC_NO_BTS_PEBS, NULL},
  // DEBUGCTL without LBR virtualization: KVM takes LBR/BTF and the PB
  // bits and ignores them; reads 0. Bits 63:6 are reserved.
  {0x1D9, 0x1D9, "DEBUGCTL", MSR_RW, 4, 0, 0, 0x3F, 0, NULL},
  {0x277, 0x277, "PAT", MSR_RW, 0, 0x0007040600070406UL, ALL, 0, 0, pat_ok},   // WB WT UC- UC, twice
  {0x2FF, 0x2FF, "MTRR_DEF_TYPE", MSR_RW, 1, 0x806, 0xCFF, 0, 0, deftype_ok},   // MTRRs on, default WB
  // The legacy AMD performance counters, present on every AMD64 CPU
  // (APM Vol. 2 §13.2.1 "Performance Counter MSRs"): software that sees
  // a non-Intel vendor and no PerfCtrExtCore writes them. No PMU here:
  // they read 0 and take any write, as on KVM with no guest PMU.
  {0xC0010000, 0xC0010003, "PERF_CTL0-3", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xC0010004, 0xC0010007, "PERF_CTR0-3", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xC0010010, 0xC0010010, "SYSCFG", MSR_RO, 0, 0, 0, 0, 0, NULL},
  // HWCR: KVM keeps McStatusWrEn and TscFreqSel, drops three legacy
  // bits Linux sets, and refuses the rest.
  {0xC0010015, 0xC0010015, "HWCR", MSR_RW, 3, HWCR_TSCFREQSEL, HWCR_TSCFREQSEL | HWCR_MCSTATUSWREN,
   0x148, 0, NULL},
  {0xC001001F, 0xC001001F, "NB_CFG", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xC0010055, 0xC0010055, "INT_PENDING_MSG", MSR_RO, 0, 0, 0, 0, 0, NULL},
  {0xC0010058, 0xC0010058, "MMIO_CONF_BASE", MSR_RO, 0, 0, 0, 0, 0, NULL},   // no PCI MMCONFIG
  {0xC0010112, 0xC0010113, "TSEG_ADDR/MASK", MSR_RO, 0, 0, 0, 0, 0, NULL},
  // Family 10h+ configuration MSRs kernels set bits in for errata: read 0,
  // writes ignored (KVM).
  {0xC0011022, 0xC0011023, "DC_CFG/TW_CFG", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xC0011029, 0xC0011029, "DE_CFG", MSR_RW, 5, 0, 0x2, 0, 0, NULL},   // bit 1: LFENCE serializing
  {0xC001102A, 0xC001102A, "BU_CFG2", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {0xC001102C, 0xC001102C, "EX_CFG", MSR_RO, 0, 0, 0, ALL, 0, NULL},
  {MSR_SCRATCH, MSR_SCRATCH, "SCRATCH", MSR_RW, 6, 0, ALL, 0, 0, NULL},
};

static const struct msr_rule *rule_of(uint32 msr)
{
  for (uint32 i = 0; i < ARRAY_SIZE(rules); i++)
    if (msr >= rules[i].first && msr <= rules[i].last)
      return &rules[i];
  return NULL;
}

static uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

// Reset values, as a CPU has them after firmware set the MTRRs up.
void msr_reset(struct guest *g)
{
  for (uint32 i = 0; i < ARRAY_SIZE(rules); i++)
    if (rules[i].kind == MSR_RW)
      g->msr.val[rules[i].slot] = rules[i].value;
  g->msr.ready = 1;
}

// A write: 1 if the MSR took the value, 0 for #GP.
static int msr_write(struct guest *g, const struct msr_rule *r, uint64 v)
{
  uint64 old = r->kind == MSR_RW ? g->msr.val[r->slot] : r->value;
  if (r->kind == MSR_TSC)
    return 1;
  if (r->kind == MSR_RO && !r->ignored)
    return 0;   // read-only: even a write of its own value faults
  if ((v & ~(r->writable | r->ignored | r->locked)) || ((v ^ old) & r->locked) || (r->valid && !r->valid(v)))
    return 0;
  if (r->kind == MSR_RW)
    g->msr.val[r->slot] = (v & r->writable) | (old & ~r->writable);
  return 1;
}

// A read: the value.
static uint64 msr_read(struct guest *g, const struct msr_rule *r)
{
  if (r->kind == MSR_TSC)
    return rdtsc();
  return r->kind == MSR_RW ? g->msr.val[r->slot] : r->value;
}

// An MSR outside the table: counted by number for `vmm -s`.
static void count_unknown(struct guest *g, uint32 msr, int write)
{
  for (uint32 i = 0; i < ARRAY_SIZE(g->msr.unknown); i++) {
    if (g->msr.unknown[i].n == 0)
      g->msr.unknown[i].msr = msr;
    if (g->msr.unknown[i].msr == msr) {
      g->msr.unknown[i].n++;
      g->msr.unknown[i].writes += write;
      return;
    }
  }
  g->msr.unknown_dropped++;
}

// `vmm -s`: the MSRs the guest wanted that this VMM does not have.
void msr_print_unknown(struct guest *g)
{
  if (!g->msr.unknown[0].n)
    return;
  printf("%svmm: MSRs not implemented (#GP):", g->prefix);
  for (uint32 i = 0; i < ARRAY_SIZE(g->msr.unknown) && g->msr.unknown[i].n; i++)
    printf("%s 0x%x (%u rdmsr, %u wrmsr)", i ? "," : "", g->msr.unknown[i].msr,
           g->msr.unknown[i].n - g->msr.unknown[i].writes, g->msr.unknown[i].writes);
  if (g->msr.unknown_dropped)
    printf(", %u more", g->msr.unknown_dropped);
  printf("\n");
}

// The policy's answer: 1 done (a read's value in *v), 0 #GP.
static int msr_access(struct guest *g, uint32 msr, int write, uint64 *v)
{
  int ok = kvmpv_msr(g, msr, write, v);
  if (ok < 0)
    ok = apic_msr(g, msr, write, v);
  if (ok >= 0)
    return ok;
  const struct msr_rule *r = rule_of(msr);
  if (!r) {
    count_unknown(g, msr, write);
    return 0;
  }
  if (write)
    return msr_write(g, r, *v);
  *v = msr_read(g, r);
  return 1;
}

// RDMSR/WRMSR exits: answer or inject #GP(0).
int dev_msr(struct guest *g)
{
  struct vm_exit *e = &g->e;
  if (!g->msr.ready)
    msr_reset(g);
  if (msr_access(g, e->u.msr.msr, e->u.msr.write, &e->u.msr.value))
    return 1;
  struct vm_event ev = {VM_EVENT_EXCEPTION, 13, 0, VM_EVENT_F_ERROR | VM_EVENT_F_FAULT};
  int r = vcpu_inject(g->vm, g->vcpu, &ev);
  if (r < 0)
    guest_fail(g, "cannot inject #GP: %s", errstr(r));
  return r == 0;
}

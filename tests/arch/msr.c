// MSRs: values a kernel relies on, write/read round trips with upper halves
// set, #GP for invalid values, the legacy AMD performance counters
// C001_0000h-C001_0007h (APM Vol. 2 §13.2.1) and the APIC base MSR's enable
// bit with its CPUID mirror (CPUID 1 EDX.APIC follows IA32_APIC_BASE.EN).
#include "rt.h"

const char kernel_name[] = "msr";

static void vec(const char *check, int v)
{
  out(check, "%s", vecname(v));
}

static void roundtrip(const char *check, u32 msr, u64 val)
{
  u64 old, got = 0;
  rdmsr_safe(msr, &old);
  int w = wrmsr_safe(msr, val);
  int r = rdmsr_safe(msr, &got);
  out(check, "write %s read %s %s", vecname(w), vecname(r), got == val ? "same" : "different");
  wrmsr_safe(msr, old);
}

static void syscall_msrs(void)
{
  u64 efer = rdmsr(0xC0000080);
  out("efer", "sce %lu lme %lu lma %lu nxe %lu svme %lu", efer & 1, efer >> 8 & 1, efer >> 10 & 1,
      efer >> 11 & 1, efer >> 12 & 1);
  roundtrip("star", 0xC0000081, 0x0023001000000000UL | 0x12345678);
  roundtrip("lstar", 0xC0000082, 0xFFFFFFFF81234560UL);
  roundtrip("cstar", 0xC0000083, 0x00007FFF12345678UL);
  roundtrip("sfmask", 0xC0000084, 0x47700);
  roundtrip("kernel_gs_base", 0xC0000102, 0xFFFF800012345000UL);
  roundtrip("gs_base", 0xC0000101, 0x00007FFFDEAD0000UL);
  wrmsr(0xC0000101, 0);
  vec("lstar_noncanonical", wrmsr_safe(0xC0000082, 0x8000000000000000UL));
  vec("fs_base_noncanonical", wrmsr_safe(0xC0000100, 0x0000800000000000UL));
  static u64 cell = 0x1122334455667788UL;
  wrmsr(0xC0000100, (u64)&cell - 8);
  u64 v;
  asm volatile("mov %%fs:8, %0" : "=r"(v));
  wrmsr(0xC0000100, 0);
  out("fs_base_used", "%s", v == cell ? "yes" : "no");
  vec("efer_reserved_bit", wrmsr_safe(0xC0000080, efer | 1UL << 20));
  vec("efer_clear_lme_paging", wrmsr_safe(0xC0000080, efer & ~(1UL << 8)));
}

static void other_msrs(void)
{
  u64 pat;
  rdmsr_safe(0x277, &pat);
  out("pat_reset", "%lx", pat);
  roundtrip("pat", 0x277, 0x0007010600070106UL);
  vec("pat_bad_type", wrmsr_safe(0x277, 0x0007040600070402UL));
  roundtrip("sysenter_cs", 0x174, 0x10);
  roundtrip("tsc_aux", 0xC0000103, 0x12345);
  vec("tsc_aux_upper_half", wrmsr_safe(0xC0000103, 1UL << 32));
  u64 x;
  vec("unknown_msr_read", rdmsr_safe(0x4B564DFF, &x));
  vec("unknown_msr_write", wrmsr_safe(0x4B564DFF, 0));
  vec("mtrrcap_write", wrmsr_safe(0xFE, 0));
}

// KVM accepts the legacy performance counter MSRs with a PMU-less guest
// (writes of 0, reads of 0); a kernel probes them (Linux's perf on AMD).
static void perf_counters(void)
{
  for (u32 m = 0xC0010000; m <= 0xC0010007; m++) {
    u64 v = 1;
    char check[32];
    int w = wrmsr_safe(m, 0), r = rdmsr_safe(m, &v);
    snprintf(check, sizeof check, "perf_%x", m);
    out(check, "write 0 %s, read %s value %lx", vecname(w), vecname(r), r < 0 ? v : 0xdead);
  }
}

static void apic_base(void)
{
  u32 r[4];
  u64 b = rdmsr(0x1B);
  cpuid(1, 0, r);
  out("apic_base", "bsp %lu en %lu extd %lu base %lx cpuid-apic %u", b >> 8 & 1, b >> 11 & 1,
      b >> 10 & 1, b & ~0xFFFUL, r[3] >> 9 & 1);
  vec("apic_base_reserved_bit", wrmsr_safe(0x1B, b | 1 << 9));
  // Disabling the APIC: EN reads 0 and CPUID hides the APIC (SDM 10.4.3).
  int w = wrmsr_safe(0x1B, b & ~(1UL << 11));
  u64 now = rdmsr(0x1B);
  cpuid(1, 0, r);
  out("apic_disable", "write %s en %lu cpuid-apic %u", vecname(w), now >> 11 & 1, r[3] >> 9 & 1);
}

void kmain(void)
{
  syscall_msrs();
  other_msrs();
  perf_counters();
  apic_base();
}

// The time-stamp counter: it only goes forward, RDTSCP returns TSC_AUX, a
// write to MSR 10h moves it, CR4.TSD makes RDTSC/RDTSCP privileged, and it
// advances while the PIT counts 20 ms (APM Vol. 2 §13.2.4, §3.1.3).
#include "rt.h"

const char kernel_name[] = "tsc";

static volatile int uv;
static void u_rdtsc(void) { u32 a, d; uv = TRY("rdtsc", : "=a"(a), "=d"(d)); }
static void u_rdtscp(void) { u32 a, d, c; uv = TRY("rdtscp", : "=a"(a), "=d"(d), "=c"(c)); }

void kmain(void)
{
  u64 prev = rdtsc();
  int mono = 1;
  for (int i = 0; i < 1000; i++) {
    u64 t = rdtsc();
    mono &= t > prev;
    prev = t;
  }
  out("monotonic", "%s", mono ? "yes" : "no");
  u64 a = rdtsc(), m = rdmsr(0x10), b = rdtsc();
  out("msr10_between_reads", "%s", a <= m && m <= b ? "yes" : "no");
  u32 r[4];
  cpuid(0x80000001, 0, r);
  if (r[3] >> 27 & 1) {
    wrmsr(0xC0000103, 0x1234);
    u32 lo, hi, aux;
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    out("rdtscp_aux", "%x", aux);
  } else
    out("rdtscp_aux", "no rdtscp");
  u64 target = 0x100000000000UL;
  wrmsr(0x10, target);
  u64 t = rdtsc();
  out("write_moves_tsc", "%s", t >= target && t - target < (1UL << 40) ? "yes" : "no");
  u64 t0 = rdtsc();
  delay_pit_ms(20);
  u64 t1 = rdtsc();
  // Anything from 100 MHz to 100 GHz: the TSC counts, at some rate.
  out("advances_over_20ms", "%s", t1 - t0 > 2000000 && t1 - t0 < 2000000000UL ? "yes" : "no");
  run_user(u_rdtsc, 2);
  out("cpl3_rdtsc_tsd0", "%s", vecname(uv));
  u64 cr4 = READ_CR(4);
  WRITE_CR(4, cr4 | 1 << 2);
  run_user(u_rdtsc, 2);
  out("cpl3_rdtsc_tsd1", "%s", vecname(uv));
  run_user(u_rdtscp, 2);
  out("cpl3_rdtscp_tsd1", "%s", vecname(uv));
  out("cpl0_rdtsc_tsd1", "%s", vecname(TRY("rdtsc", ::: "rax", "rdx")));
  WRITE_CR(4, cr4);
}

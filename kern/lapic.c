// The local APIC (xAPIC, memory-mapped through the PHYSBASE map): interrupt
// acknowledge, the per-CPU timer, and inter-processor interrupts
// (APM Vol. 2 §16 "Advanced Programmable Interrupt Controller (APIC)").
//
// The timer gives HZ scheduler ticks plus, for the vmm, one deadline per CPU
// with microsecond resolution (vcpu_run's deadline_ns, a halted vcpu's
// wakeup). It runs one-shot (§16.4.1 "APIC Timer Operation"): every
// interrupt programs the next expiry, the earlier of the next tick and the
// armed deadline. Ticks are due at fixed TSC times HZ apart, so the host
// scheduler still sees HZ ticks a second. Its rate is calibrated once, on the
// BSP, against the PIT (channel 2, gated through port 0x61, which does not
// interrupt): we count LAPIC timer ticks and TSC cycles over 10 ms of PIT
// time, reading the PIT's counter rather than waiting for its output, so
// that a host which deschedules us cannot stretch the interval (see
// read_clocks). The TSC rate found there drives microdelay() and clock_ns().
#include "defs.h"
#include "cpu.h"
#include "trap.h"
#include "x86.h"

// Register offsets (bytes) in the APIC page.
#define LAPIC_ID    0x020
#define LAPIC_VER   0x030
#define LAPIC_TPR   0x080
#define LAPIC_EOI   0x0B0
#define LAPIC_SVR   0x0F0   // spurious vector; bit 8 enables the APIC
#define LAPIC_ESR   0x280
#define LAPIC_ICRLO 0x300
#define LAPIC_ICRHI 0x310
#define LAPIC_TIMER 0x320
#define LAPIC_PCINT 0x340
#define LAPIC_LINT0 0x350
#define LAPIC_LINT1 0x360
#define LAPIC_ERROR 0x370
#define LAPIC_TICR  0x380   // timer initial count
#define LAPIC_TCCR  0x390   // timer current count
#define LAPIC_TDCR  0x3E0   // timer divide configuration

#define SVR_ENABLE  0x100
#define LVT_MASKED  0x10000
#define LVT_PERIODIC 0x20000
#define TDCR_DIV16  0x3
#define ICR_FIXED   0x000
#define ICR_INIT    0x500
#define ICR_STARTUP 0x600
#define ICR_PENDING 0x1000   // delivery status: send pending
#define ICR_ASSERT  0x4000
#define ICR_LEVEL   0x8000
#define APIC_BASE_ENABLE (1UL << 11)   // MSR_APIC_BASE global enable

#define PIT_HZ 1193182
#define CALIB_MS 10      // PIT time between a measurement's two readings
#define CALIB_READS 16   // readings per end of a measurement; the tightest is kept
#define CALIB_RUNS 3     // measurements; the median is kept

static volatile uint32 *lapic;   // NULL until lapicinit on the BSP
static uint32 timer_count;       // TICR value for one tick at HZ
static uint64 tsc_per_us;
static uint64 tsc_khz;           // TSC cycles per ms

// Each CPU's one-shot timer (TSC values; touched by that CPU with IF=0).
static struct {
  uint64 next_tick;    // when the next scheduler tick is due
  uint64 deadline;     // armed deadline, 0 = none
  uint64 expiry;       // what the timer is programmed for
} ltimer[NCPU];

static uint32 lapicr(int reg) { return lapic[reg / 4]; }
// A plain store, as Linux's native_apic_mem_write: the page is mapped UC
// (vm.c), whose reads and writes reach the APIC in program order (Intel SDM
// Vol. 3A §11.3 "Methods of Caching Available", UC), so nothing needs the
// read-back xv6 does after each write. Under a VMM every access to this page
// is an exit to user space (svmlab as L1: two per write with the read-back,
// about five per tick of an L2 timer guest).
static void lapicw(int reg, uint32 v)
{
  lapic[reg / 4] = v;
}

// One reading of the three clocks: PIT channel 2's counter, the LAPIC timer's
// current count, and the TSC just before and just after both reads. The
// bracket (after - before) bounds the reading's error: a vCPU that the host
// deschedules between the two rdtsc shows a wide bracket, and such a reading
// is not used. Load therefore cannot skew the result, only slow it down.
struct clocks {
  uint64 before, after;
  uint64 ticks;   // PIT ticks since the measurement's first reading
  uint32 pit, apic;
};

// Reads the clocks after prev (NULL: the first reading). Returns 0 when the
// gap since prev is so long that the 16-bit PIT counter may have wrapped
// unseen: more than GAP_MAX TSC cycles, under 55 ms for any TSC of 1 GHz or
// more.
#define GAP_MAX 50000000UL
static int read_clocks(struct clocks *c, const struct clocks *prev)
{
  c->before = rdtsc();
  outb(0x43, 0x80);   // latch channel 2's count (8254 counter latch command)
  c->pit = inb(0x42);
  c->pit |= (uint32)inb(0x42) << 8;
  c->apic = lapicr(LAPIC_TCCR);
  c->after = rdtsc();
  c->ticks = prev ? prev->ticks + ((prev->pit - c->pit) & 0xFFFF) : 0;
  return !prev || c->after - prev->after < GAP_MAX;
}

// Reads the clocks CALIB_READS times after *last, keeps the tightest-
// bracketed reading in *best and the last one in *last. 0: a gap too long.
static int tightest(struct clocks *best, struct clocks *last)
{
  for (int i = 0; i < CALIB_READS; i++) {
    struct clocks c;
    if (!read_clocks(&c, last))
      return 0;
    if (i == 0 || c.after - c.before < best->after - best->before)
      *best = c;
    *last = c;
  }
  return 1;
}

// One measurement: PIT channel 2 counts down from 0xFFFF (mode 0, gate on,
// speaker off; it wraps every 55 ms) while the LAPIC timer counts down from
// 0xFFFFFFFF. A tight reading at the start and one after CALIB_MS ms of PIT
// time give the TSC and LAPIC rates. Returns 0 when the vCPU was away so long
// that the PIT may have wrapped unseen.
static int measure(uint64 *tsc_khz_out, uint64 *apic_per_ms)
{
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xB0);   // channel 2, lobyte/hibyte, mode 0, binary
  outb(0x42, 0xFF);
  outb(0x42, 0xFF);
  lapicw(LAPIC_TICR, 0xFFFFFFFF);
  struct clocks a, b, last;
  read_clocks(&last, 0);
  if (!tightest(&a, &last))
    return 0;
  while (last.ticks - a.ticks < PIT_HZ / 1000 * CALIB_MS) {
    struct clocks c;
    if (!read_clocks(&c, &last))
      return 0;
    last = c;
  }
  if (!tightest(&b, &last))
    return 0;
  uint64 ticks = b.ticks - a.ticks;
  uint64 tsc = (b.before + b.after) / 2 - (a.before + a.after) / 2;
  *tsc_khz_out = tsc * PIT_HZ / (ticks * 1000);
  *apic_per_ms = (uint64)(a.apic - b.apic) * PIT_HZ / (ticks * 1000);
  return 1;
}

// Measures the LAPIC timer (divide 16) and the TSC against the PIT:
// CALIB_RUNS measurements, the median of each rate.
static void calibrate(void)
{
  uint64 khz[CALIB_RUNS], per_ms[CALIB_RUNS];
  int n = 0;
  lapicw(LAPIC_TIMER, LVT_MASKED | (T_IRQ0 + IRQ_TIMER));
  for (int tries = 0; n < CALIB_RUNS && tries < 20 * CALIB_RUNS; tries++)
    n += measure(&khz[n], &per_ms[n]);
  if (n == 0)
    panic("lapic: calibration failed (the vCPU never ran %lu TSC cycles in a row)", GAP_MAX);
  for (int i = 1; i < n; i++)   // insertion sort, each array on its own
    for (int j = i; j > 0 && khz[j] < khz[j - 1]; j--) {
      uint64 t = khz[j]; khz[j] = khz[j - 1]; khz[j - 1] = t;
    }
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && per_ms[j] < per_ms[j - 1]; j--) {
      uint64 t = per_ms[j]; per_ms[j] = per_ms[j - 1]; per_ms[j - 1] = t;
    }
  tsc_khz = khz[n / 2];
  tsc_per_us = tsc_khz / 1000;
  timer_count = per_ms[n / 2] * 1000 / HZ;
  if (timer_count == 0 || tsc_per_us == 0)
    panic("lapic: calibration failed (timer %u, tsc/us %lu)", timer_count, tsc_per_us);
  printf("lapic: timer %u ticks per %d ms at divide 16, TSC %lu MHz\n", timer_count, 1000 / HZ,
         tsc_per_us);
}

// TSC cycles per scheduler tick.
static uint64 tick_tsc(void) { return tsc_khz * 1000 / HZ; }

// Programs CPU c's one-shot timer for the earlier of its next tick and its
// deadline; now is the TSC. The count is rounded up, so that the interrupt
// never comes before the time it was asked for.
static void timer_program(int c, uint64 now)
{
  uint64 when = ltimer[c].next_tick;
  if (ltimer[c].deadline && ltimer[c].deadline < when)
    when = ltimer[c].deadline;
  ltimer[c].expiry = when;
  uint64 cycles = when > now ? when - now : 0;
  uint64 per_tick = tick_tsc();
  uint64 count = (cycles * timer_count + per_tick - 1) / per_tick;
  if (count > 0xFFFFFFFFu)
    count = 0xFFFFFFFFu;
  lapicw(LAPIC_TICR, count ? count : 1);
}

// The timer interrupt on this CPU (IF=0): returns 1 if a scheduler tick is
// due (up to 1/64 tick early counts: the count was rounded), sets *deadline
// if the armed deadline has passed (and disarms it), programs the next expiry.
int lapic_timer_intr(int *deadline)
{
  int c = cpuid_self(), tick = 0;
  uint64 now = rdtsc(), per = tick_tsc();
  *deadline = 0;
  if (now + per / 64 >= ltimer[c].next_tick) {
    tick = 1;
    ltimer[c].next_tick += per;
    if (ltimer[c].next_tick <= now)   // ticks were missed (IF=0 for long): no catching up
      ltimer[c].next_tick = now + per;
  }
  if (ltimer[c].deadline && now >= ltimer[c].deadline) {
    ltimer[c].deadline = 0;
    *deadline = 1;
  }
  timer_program(c, now);
  return tick;
}

// Makes this CPU's timer interrupt come no later than TSC value tsc (IF=0).
// An earlier armed deadline stays; the interrupt handler disarms it.
void lapic_deadline_arm(uint64 tsc)
{
  int c = cpuid_self();
  if (!lapic || !timer_count)
    return;
  if (ltimer[c].deadline && ltimer[c].deadline <= tsc)
    return;
  ltimer[c].deadline = tsc;
  if (tsc < ltimer[c].expiry)
    timer_program(c, rdtsc());
}

// This CPU's armed deadline (TSC), 0 if none: for tests.
uint64 lapic_deadline_armed(void) { return ltimer[cpuid_self()].deadline; }

// Enables this CPU's local APIC: spurious vector, LINT0/LINT1 and the
// error/perf LVTs masked (the 8259 is never used), the one-shot timer.
void lapicinit(void)
{
  uint64 base = rdmsr(MSR_APIC_BASE);
  if (!(base & APIC_BASE_ENABLE))
    wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
  lapic = P2V(base & 0xFFFFF000);
  lapicw(LAPIC_SVR, SVR_ENABLE | T_SPURIOUS);
  lapicw(LAPIC_TDCR, TDCR_DIV16);
  lapicw(LAPIC_LINT0, LVT_MASKED);
  lapicw(LAPIC_LINT1, LVT_MASKED);
  if (((lapicr(LAPIC_VER) >> 16) & 0xFF) >= 4)
    lapicw(LAPIC_PCINT, LVT_MASKED);
  lapicw(LAPIC_ERROR, LVT_MASKED);
  lapicw(LAPIC_ESR, 0);   // clear errors: back-to-back writes
  lapicw(LAPIC_ESR, 0);
  if (!timer_count)
    calibrate();
  lapicw(LAPIC_TIMER, T_IRQ0 + IRQ_TIMER);   // one-shot
  int c = cpuid_self();
  ltimer[c].deadline = 0;
  ltimer[c].next_tick = rdtsc() + tick_tsc();
  timer_program(c, rdtsc());
  lapicw(LAPIC_EOI, 0);   // acknowledge anything left over
  lapicw(LAPIC_TPR, 0);   // accept every priority
}

// The task priority register (ktest=cr8).
uint32 lapic_tpr(void) { return lapic ? lapicr(LAPIC_TPR) : 0; }
void lapic_set_tpr(uint32 v)
{
  if (lapic)
    lapicw(LAPIC_TPR, v);
}

// This CPU's APIC id; before lapicinit, the initial id from CPUID 1.
int lapicid(void)
{
  if (!lapic)
    return cpuid(1, 0).ebx >> 24;
  return lapicr(LAPIC_ID) >> 24;
}

void lapiceoi(void)
{
  if (lapic)
    lapicw(LAPIC_EOI, 0);
}

// Busy-waits about us microseconds (TSC, calibrated in lapicinit).
void microdelay(uint64 us)
{
  uint64 per = tsc_per_us ? tsc_per_us : 3000;   // before calibration: assume <= 3 GHz
  uint64 end = rdtsc() + us * per;
  while (rdtsc() < end)
    pause();
}

// Microseconds since some fixed point in the past (TSC based).
uint64 uptime_us(void) { return rdtsc() / (tsc_per_us ? tsc_per_us : 3000); }

// Nanoseconds since some fixed point in the past, from the TSC (the same on
// every CPU here). Split so that nothing overflows 64 bits.
uint64 clock_ns(void)
{
  uint64 khz = tsc_khz ? tsc_khz : 3000000, t = rdtsc();
  return t / khz * 1000000 + t % khz * 1000000 / khz;
}

// The TSC value at which clock_ns() reaches ns (rounded up).
uint64 ns_to_tsc(uint64 ns)
{
  uint64 khz = tsc_khz ? tsc_khz : 3000000;
  return ns / 1000000 * khz + (ns % 1000000 * khz + 999999) / 1000000;
}

static void icr_send(int apicid, uint32 lo)
{
  lapicw(LAPIC_ICRHI, (uint32)apicid << 24);
  lapicw(LAPIC_ICRLO, lo);
  for (int i = 0; i < 1000000 && (lapicr(LAPIC_ICRLO) & ICR_PENDING); i++)
    pause();
}

// Sends a fixed-delivery IPI with vector to the CPU with APIC id apicid.
void lapic_ipi(int apicid, int vector) { icr_send(apicid, ICR_FIXED | vector); }

// INIT (assert, then the level de-assert older APICs need) puts the target
// in wait-for-SIPI state.
void lapic_init_ipi(int apicid)
{
  icr_send(apicid, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
  icr_send(apicid, ICR_INIT | ICR_LEVEL);
}

// STARTUP IPI: the target starts in real mode at physical address pa
// (4 KiB aligned, below 1 MiB), CS = pa >> 4, IP = 0.
void lapic_sipi(int apicid, uint64 pa) { icr_send(apicid, ICR_STARTUP | (pa >> 12)); }

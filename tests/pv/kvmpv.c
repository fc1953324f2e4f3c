// KVM's paravirtual interface as `vmm -p on` offers it (user/vmm/kvmpv.c,
// x2apic.c), checked against oracles that are not the VMM: the TSC timed by
// the PIT, the RTC, the rules of KVM's documentation (cpuid.rst, msr.rst,
// hypercalls.rst) and of the Intel SDM Vol. 3A §10.12 for the x2APIC, and
// the xAPIC's own MMIO view of the same registers. Not compared with plain
// QEMU (TCG has no KVM interface): every check states its rule. Prints one
// line per failure and "kvmpv: N checks, M failed"; exit code M.
// Run: vmm -p on -M 128 -k pv-kvmpv.bin (the grader: lab linux, pv_guest).
#include "rt.h"

const char kernel_name[] = "kvmpv";

#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define MSR_WALL 0x4b564d00
#define MSR_TIME 0x4b564d01
#define MSR_PV_EOI 0x4b564d04
#define X2(off) (0x800 + ((off) >> 4))   // the x2APIC MSR of an xAPIC register
#define VEC_IPI 0x50
#define VEC_TIMER 0x51
#define VEC_LOW 0x40   // a lower priority class than VEC_IPI

static int nchecks, nfailed;

static void check(int ok, const char *name, const char *fmt, u64 a, u64 b)
{
  char buf[160];
  nchecks++;
  if (ok)
    return;
  nfailed++;
  snprintf(buf, sizeof buf, fmt, a, b);
  out("FAIL", "%s: %s", name, buf);
}

struct pvclock {
  volatile u32 version, pad0;
  volatile u64 tsc_timestamp, system_time;
  volatile u32 mul;
  volatile signed char shift;
  volatile u8 flags, pad[2];
} __attribute__((aligned(64)));
static struct pvclock clk;
static volatile struct { u32 version, sec, nsec; } wall __attribute__((aligned(16)));
static volatile u64 eoi_flag __attribute__((aligned(8)));
static u64 tsc_hz;

// The TSC's rate timed by the PIT (channel 2, 50 ms).
// PIT channel 2's count, latched between two TSC reads: the narrowest of
// eight brackets (each read is an exit; a loaded host stretches some).
static u32 pit2_count(u64 *tsc)
{
  u64 width = ~0UL;
  u32 best = 0;
  for (int i = 0; i < 8; i++) {
    u64 t0 = rdtsc();
    outb(0x43, 0x80);   // latch channel 2
    u32 c = inb(0x42);
    c |= (u32)inb(0x42) << 8;
    u64 t1 = rdtsc();
    if (t1 - t0 < width)
      width = t1 - t0, best = c, *tsc = t0 + (t1 - t0) / 2;
  }
  return best;
}

// The TSC's rate timed by the PIT (1193182 Hz): channel 2 counts down from
// 65535 in mode 0, read at least 30000 counts (25 ms) apart; a round in
// which the count wrapped (OUT, port 61h bit 5, rose at terminal count: a
// vcpu descheduled for 55 ms) is run again.
static u64 measure_tsc_hz(void)
{
  for (int round = 0; round < 10; round++) {
    u64 t1, t2;
    outb(0x61, (inb(0x61) & ~0x02) & ~0x01);   // gate off: the count reloads on the rising edge
    outb(0x43, 0xB0);                           // channel 2, LSB then MSB, mode 0
    outb(0x42, 0xFF);
    outb(0x42, 0xFF);
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    u32 c1 = pit2_count(&t1), c2;
    while ((c2 = pit2_count(&t2)) + 30000 > c1 && c2 <= c1 && !(inb(0x61) & 0x20))
      ;
    if (c2 < c1 && !(inb(0x61) & 0x20))
      return (t2 - t1) * 1193182 / (c1 - c2);
  }
  return 0;
}

static u64 scaled(u64 d, const struct pvclock *p)
{
  d = p->shift >= 0 ? d << p->shift : d >> -p->shift;
  return (u64)(((unsigned __int128)d * p->mul) >> 32);
}

// kvmclock now, as Linux's pvclock_clocksource_read does it: retry while
// the version is odd or changed. *tsc: the TSC it used.
static u64 pv_read(u64 *tsc)
{
  u32 v;
  u64 ns;
  do {
    v = clk.version;
    barrier();
    *tsc = rdtsc();
    ns = clk.system_time + scaled(*tsc - clk.tsc_timestamp, (const struct pvclock *)&clk);
    barrier();
  } while ((v & 1) || v != clk.version);
  return ns;
}

static void check_cpuid(void)
{
  u32 r[4];
  cpuid(0x40000000, 0, r);
  int same = r[1] == 0x4b4d564b && r[2] == 0x564b4d56 && r[3] == 0x4d;   // "KVMKVMKVM\0\0\0"
  check(same, "signature", "leaf 4000_0000h EBX..EDX %lx %lx",
        r[1] | (u64)r[2] << 32, r[3]);
  check(r[0] >= 0x40000010, "max_leaf", "4000_0000h EAX %lx < 4000_0010h%lx", r[0], 0);
  cpuid(0x40000001, 0, r);
  u32 want = 1u << 1 | 1u << 3 | 1u << 6 | 1u << 24;   // NOP_IO_DELAY, CLOCKSOURCE2, PV_EOI, STABLE_BIT
  check((r[0] & want) == want, "features", "4000_0001h EAX %lx lacks %lx", r[0], want & ~r[0]);
  cpuid(1, 0, r);
  check((r[2] >> 21 & 1) && (r[2] >> 24 & 1), "x2apic_tscdeadline_cpuid", "leaf 1 ECX %lx%lx", r[2], 0);
  cpuid(0x40000010, 0, r);
  u64 khz = tsc_hz / 1000;
  check(r[0] > khz * 98 / 100 && r[0] < khz * 102 / 100, "tsc_khz_leaf",
        "4000_0010h says %lu kHz, the PIT times the TSC at %lu kHz", r[0], khz);
}

static void check_kvmclock(void)
{
  u64 gpa = (u64)&clk;
  clk.version = 0;
  wrmsr(MSR_TIME, gpa | 1);
  check(clk.version == 2, "version_first", "after the first enable version is %lu, not 0 + 2%lx", clk.version, 0);
  check(clk.flags & 1, "stable_bit", "flags %lx%lx", clk.flags, 0);
  check(clk.mul != 0, "mul", "tsc_to_system_mul %lx%lx", clk.mul, 0);
  // The scale's frequency: 10^9 ns per second = hz ticks scaled.
  u64 pv_hz = clk.mul ? (1000000000UL << 32) / clk.mul : 0;
  pv_hz = clk.shift >= 0 ? pv_hz >> clk.shift : pv_hz << -clk.shift;
  check(pv_hz > tsc_hz * 98 / 100 && pv_hz < tsc_hz * 102 / 100, "scale",
        "mul/shift make the TSC %lu Hz; the PIT says %lu Hz", pv_hz, tsc_hz);
  // Time advances at the TSC's rate (both read back to back: no load effect).
  u64 ta, tb, a = pv_read(&ta);
  delay_pit_ms(20);
  u64 b = pv_read(&tb);
  u64 want = (tb - ta) * 1000000000 / tsc_hz;
  check(b > a && b - a > want * 98 / 100 && b - a < want * 102 / 100, "rate",
        "kvmclock advanced %lu ns while the TSC advanced %lu ns", b - a, want);
  // A new write updates with the protocol: version + 2, time never back.
  u32 v = clk.version;
  u64 before = pv_read(&ta);
  wrmsr(MSR_TIME, gpa | 1);
  check(clk.version == v + 2, "version_update", "version %lu after %lu (want + 2)", clk.version, v);
  u64 after = pv_read(&tb);
  check(after >= before, "monotonic", "kvmclock went back from %lu to %lu", before, after);
  check(rdmsr(MSR_TIME) == (gpa | 1), "msr_reads_back", "MSR reads %lx, wrote %lx", rdmsr(MSR_TIME), gpa | 1);
  // Disabled (bit 0 clear): the structure is left alone.
  wrmsr(MSR_TIME, gpa);
  clk.version = 12344;
  wrmsr(MSR_TIME, gpa);
  check(clk.version == 12344, "disabled", "version %lu, the disabled clock wrote %lx", clk.version, 12344);
  wrmsr(MSR_TIME, gpa | 1);
  check(clk.version == 12346, "reenabled", "version %lu after 12344 (want + 2)%lx", clk.version, 0);
}

static int bcd(int v, int isbin) { return isbin ? v : (v >> 4) * 10 + (v & 15); }
static int cmos(int r) { outb(0x70, r); return inb(0x71); }

// The wall clock at kvmclock 0, plus kvmclock now, is the RTC's time.
static void check_wall(void)
{
  wall.version = 0;
  wrmsr(MSR_WALL, (u64)&wall);
  u64 t, now = wall.sec + (pv_read(&t) + wall.nsec) / 1000000000;
  int bin = cmos(0x0B) & 4;
  int rtc = bcd(cmos(0x02), bin) * 60 + bcd(cmos(0x00), bin);   // minutes and seconds
  int d = (int)((now % 3600) - rtc);
  d = d > 1800 ? d - 3600 : d < -1800 ? d + 3600 : d;
  check(wall.version == 2, "wall_version", "wall clock version %lu%lx", wall.version, 0);
  check(d >= -2 && d <= 2, "wall_clock", "wall clock mm:ss %lu s, the RTC's %lu s", now % 3600, rtc);
}

static long hypercall(u64 nr)
{
  long ret;
  asm volatile("vmmcall" : "=a"(ret) : "a"(nr), "b"(0), "c"(0), "d"(0), "S"(0) : "memory");
  return ret;
}

static volatile long user_ret;
static void u_hypercall(void) { user_ret = hypercall(0x7FFFFFF0); }

static void check_hypercalls(void)
{
  user_ret = 0;
  run_user(u_hypercall, 2);
  check(user_ret == -1, "hypercall_cpl3", "from CPL 3: %ld, want -KVM_EPERM %ld", user_ret, -1);
  check(hypercall(0x7FFFFFF0) == -1000, "unknown_hypercall", "returned %ld, want -KVM_ENOSYS %ld",
        hypercall(0x7FFFFFF0), -1000);
  check(hypercall(1) == 0, "vapic_poll_irq", "KVM_HC_VAPIC_POLL_IRQ returned %ld%lx", hypercall(1), 0);
}

static volatile int ipis, timers, isr_seen, flag_seen;
static volatile u64 timer_tsc;

static int in_isr(int v) { return rdmsr(X2(0x100 + 0x10 * (v / 32))) >> (v % 32) & 1; }

// The EOI as Linux's kvm_guest_apic_eoi_write does it: the flag, else the register.
static void eoi(void)
{
  if (eoi_flag & 1) {
    eoi_flag &= ~1UL;
    flag_seen++;
    return;
  }
  wrmsr(X2(0xB0), 0);
}

static volatile int probe_isr, nested, lows, flag_with_irr;
static volatile u64 low_tsc;

// A lower-priority interrupt sent from a higher one's handler waits in the
// IRR for that EOI; the flag must not be armed then (KVM's rule), or the
// EOI would not exit and the low one would wait for some later exit.
static void on_low(struct frame *f)
{
  lows++;
  low_tsc = rdtsc();
  wrmsr(X2(0xB0), 0);
}

// With probe_isr the handler reads the ISR (an exit, after which the VMM
// takes the flag back: that EOI is a register write).
static void on_ipi(struct frame *f)
{
  ipis++;
  if (probe_isr)
    isr_seen = in_isr(VEC_IPI);
  if (nested) {
    wrmsr(X2(0x3F0), VEC_LOW);
    flag_with_irr = eoi_flag & 1;
  }
  eoi();
}

static void on_timer(struct frame *f)
{
  timer_tsc = rdtsc();
  timers++;
  eoi();
}

// Registers in xAPIC mode through the page, then the same through MSRs.
static void check_x2apic_view(void)
{
  static const u32 regs[] = {0x30, 0x80, 0xF0, 0x320, 0x350, 0x360, 0x370, 0x3E0};
  u32 mmio[8];
  u64 v;
  check(rdmsr_safe(X2(0x30), &v) == 13, "x2apic_msr_in_xapic_mode", "RDMSR 803h in xAPIC mode: vector %ld%lx",
        rdmsr_safe(X2(0x30), &v), 0);
  LAPIC_REG(0x80) = 0x20;
  LAPIC_REG(0x320) = 0x10000 | VEC_TIMER;
  LAPIC_REG(0x350) = 0x10700;
  LAPIC_REG(0x3E0) = 0xB;
  for (int i = 0; i < 8; i++)
    mmio[i] = LAPIC_REG(regs[i]);
  u32 id = LAPIC_REG(0x20) >> 24;
  u64 base = rdmsr(MSR_APIC_BASE);
  check(wrmsr_safe(MSR_APIC_BASE, base | 1 << 10) == -1, "enter_x2apic", "WRMSR APIC_BASE EXTD: vector %ld%lx",
        wrmsr_safe(MSR_APIC_BASE, base | 1 << 10), 0);
  for (int i = 0; i < 8; i++)
    check(rdmsr_safe(X2(regs[i]), &v) == -1 && v == mmio[i], "x2apic_agrees_mmio",
          "offset:MMIO value %lx, the MSR reads %lx", (u64)regs[i] << 32 | mmio[i], v);
  check(rdmsr(X2(0x20)) == id, "x2apic_id", "ID MSR %lx, xAPIC ID %lx", rdmsr(X2(0x20)), id);
  u64 ldr = ((u64)(id >> 4) << 16) | (1u << (id & 15));
  check(rdmsr(X2(0xD0)) == ldr, "x2apic_ldr", "LDR %lx, want %lx (SDM 10.12.10.2)", rdmsr(X2(0xD0)), ldr);
  wrmsr(X2(0x80), 0x40);
  check(rdmsr(X2(0xA0)) == 0x40, "tpr_to_ppr", "PPR %lx after TPR 0x40%lx", rdmsr(X2(0xA0)), 0);
  wrmsr(X2(0x80), 0);
}

// #GP where Table 10-6 and §10.12.1.2 say so; none where they allow.
static void check_x2apic_faults(void)
{
  static const u32 no_read[] = {0xB0, 0x3F0, 0x90, 0xC0, 0xE0, 0x310, 0x2F0, 0xFF0};
  static const u32 no_write[] = {0x20, 0x30, 0xA0, 0xD0, 0x100, 0x180, 0x200, 0x390, 0x90, 0xE0, 0x310, 0x2F0};
  u64 v;
  for (u32 i = 0; i < sizeof no_read / sizeof *no_read; i++)
    check(rdmsr_safe(X2(no_read[i]), &v) == 13, "gp_on_read", "RDMSR %lx: vector %ld (want #GP)",
          X2(no_read[i]), rdmsr_safe(X2(no_read[i]), &v));
  for (u32 i = 0; i < sizeof no_write / sizeof *no_write; i++)
    check(wrmsr_safe(X2(no_write[i]), 0) == 13, "gp_on_write", "WRMSR %lx: vector %ld (want #GP)",
          X2(no_write[i]), wrmsr_safe(X2(no_write[i]), 0));
  check(wrmsr_safe(X2(0x80), 1UL << 32) == 13, "gp_high_half", "WRMSR TPR bit 32: vector %ld%lx",
        wrmsr_safe(X2(0x80), 1UL << 32), 0);
  check(wrmsr_safe(X2(0xB0), 1) == 13, "gp_eoi_nonzero", "WRMSR EOI 1: vector %ld%lx", wrmsr_safe(X2(0xB0), 1), 0);
  check(wrmsr_safe(X2(0x280), 1) == 13, "gp_esr_nonzero", "WRMSR ESR 1: vector %ld%lx", wrmsr_safe(X2(0x280), 1), 0);
  check(wrmsr_safe(X2(0x280), 0) == -1 && wrmsr_safe(X2(0xF0), 0x1FF) == -1, "writable_ok",
        "WRMSR ESR 0 / SVR: vectors %ld %ld", wrmsr_safe(X2(0x280), 0), wrmsr_safe(X2(0xF0), 0x1FF));
}

// SELF IPI with PV EOI: the handler finds the flag set and clears it, and
// the VMM retires the vector from the ISR without an EOI write.
static void check_self_ipi_pv_eoi(void)
{
  check(wrmsr_safe(MSR_PV_EOI, (u64)&eoi_flag | 3) == 13, "pv_eoi_reserved", "bit 1 set: vector %ld%lx",
        wrmsr_safe(MSR_PV_EOI, (u64)&eoi_flag | 3), 0);
  wrmsr(MSR_PV_EOI, (u64)&eoi_flag | 1);
  for (int i = 0; i < 20; i++) {
    probe_isr = i == 0;
    wrmsr(X2(0x3F0), VEC_IPI);   // SELF IPI, taken at once
    asm volatile("sti; nop; cli");
  }
  check(ipis == 20, "self_ipi", "%ld of %ld self-IPIs taken", ipis, 20);
  u64 id = rdmsr(X2(0x20));
  wrmsr(X2(0x300), id << 32 | VEC_IPI);   // the ICR: fixed, to its own 32-bit ID (§10.12.9)
  asm volatile("sti; nop; cli");
  check(ipis == 21, "icr_to_self", "the ICR's IPI to ID %lx: %ld taken", id, ipis - 20);
  check(rdmsr(X2(0x300)) == (id << 32 | VEC_IPI), "icr_reads_back", "ICR %lx, wrote %lx", rdmsr(X2(0x300)),
        id << 32 | VEC_IPI);
  check(isr_seen, "isr_in_handler", "ISR bit of the vector in its handler: %ld%lx", isr_seen, 0);
  check(!in_isr(VEC_IPI), "isr_after_eoi", "ISR bit still set after %ld flag EOIs%lx", flag_seen, 0);
  check(flag_seen >= 15, "pv_eoi_used", "the PV EOI flag was set for %ld of %ld interrupts", flag_seen, 21);
  nested = 1;
  wrmsr(X2(0x3F0), VEC_IPI);
  u64 t0 = rdtsc();
  asm volatile("sti");
  while (!lows && rdtsc() - t0 < tsc_hz / 200)   // 5 ms without an exit
    ;
  asm volatile("cli");
  nested = 0;
  check(!flag_with_irr, "no_flag_with_irr", "the flag was armed with vector %lx waiting in the IRR%lx", VEC_LOW, 0);
  check(lows == 1, "low_after_eoi", "the lower vector came %ld times within 5 ms of the EOI%lx", lows, 0);
  wrmsr(MSR_PV_EOI, 0);
}

// TSC-deadline mode (§10.5.4.1): fires once the TSC reaches the deadline,
// then reads 0; the initial-count register is ignored; 0 disarms.
static void check_tsc_deadline(void)
{
  wrmsr(X2(0x320), VEC_TIMER | 2 << 17);
  wrmsr(X2(0x380), 1000);
  check(rdmsr(X2(0x380)) == 0, "icr_ignored", "initial count %lx in TSC-deadline mode%lx", rdmsr(X2(0x380)), 0);
  u64 dl = rdtsc() + tsc_hz;   // 1 s: still armed when read back, however loaded the host
  wrmsr(MSR_TSC_DEADLINE, dl);
  check(rdmsr(MSR_TSC_DEADLINE) == dl, "deadline_reads", "reads %lx, wrote %lx", rdmsr(MSR_TSC_DEADLINE), dl);
  dl = rdtsc() + tsc_hz / 500;   // 2 ms
  wrmsr(MSR_TSC_DEADLINE, dl);
  for (int i = 0; i < 100 && !timers; i++) {
    asm volatile("sti");
    delay_pit_ms(1);
    asm volatile("cli");
  }
  check(timers == 1, "deadline_fired", "%ld interrupts within 100 ms%lx", timers, 0);
  check(timer_tsc >= dl, "not_early", "handler at TSC %lx, deadline %lx", timer_tsc, dl);
  check(rdmsr(MSR_TSC_DEADLINE) == 0, "disarmed_after", "reads %lx after firing%lx", rdmsr(MSR_TSC_DEADLINE), 0);
  wrmsr(MSR_TSC_DEADLINE, rdtsc() + tsc_hz / 10);   // 100 ms
  wrmsr(MSR_TSC_DEADLINE, 0);
  asm volatile("sti");
  delay_pit_ms(150);
  asm volatile("cli");
  check(timers == 1, "zero_disarms", "%ld interrupts after writing 0%lx", timers, 0);
}

// APIC_BASE states (§10.12.5): x2APIC -> xAPIC and disabled -> x2APIC are #GP.
static void check_transitions(void)
{
  u64 base = rdmsr(MSR_APIC_BASE);
  check(wrmsr_safe(MSR_APIC_BASE, base & ~(1UL << 10)) == 13, "x2apic_to_xapic", "vector %ld%lx",
        wrmsr_safe(MSR_APIC_BASE, base & ~(1UL << 10)), 0);
  check(wrmsr_safe(MSR_APIC_BASE, base & ~(3UL << 10)) == -1, "x2apic_to_off", "vector %ld%lx",
        wrmsr_safe(MSR_APIC_BASE, base & ~(3UL << 10)), 0);
  check(wrmsr_safe(MSR_APIC_BASE, (base & ~(3UL << 10)) | 1 << 10) == 13, "extd_without_en", "vector %ld%lx",
        wrmsr_safe(MSR_APIC_BASE, (base & ~(3UL << 10)) | 1 << 10), 0);
  check(wrmsr_safe(MSR_APIC_BASE, base) == 13, "off_to_x2apic", "vector %ld%lx", wrmsr_safe(MSR_APIC_BASE, base), 0);
  check(wrmsr_safe(MSR_APIC_BASE, base & ~(1UL << 10)) == -1, "off_to_xapic", "vector %ld%lx",
        wrmsr_safe(MSR_APIC_BASE, base & ~(1UL << 10)), 0);
  check(LAPIC_REG(0x30) != 0xFFFFFFFF, "xapic_page_back", "version via MMIO %lx%lx", LAPIC_REG(0x30), 0);
}

void kmain(void)
{
  handlers[VEC_IPI] = on_ipi;
  handlers[VEC_TIMER] = on_timer;
  handlers[VEC_LOW] = on_low;
  lapic_enable();
  tsc_hz = measure_tsc_hz();
  if (!tsc_hz) {
    out("result", "cannot time the TSC with the PIT");
    exit(100);
  }
  check_cpuid();
  check_kvmclock();
  check_wall();
  check_hypercalls();
  check_x2apic_view();
  check_x2apic_faults();
  check_self_ipi_pv_eoi();
  check_tsc_deadline();
  check_transitions();
  out("result", "%d checks, %d failed", nchecks, nfailed);
  exit(nfailed);
}

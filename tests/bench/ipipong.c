// Benchmark, not a test: the round trip of a fixed IPI between two CPUs.
// The BSP starts the AP (INIT-SIPI-SIPI, Intel SDM Vol. 3A §8.4.4.1), then
// sends it a fixed IPI (SDM Vol. 3A §10.6.1); the AP's handler answers with
// one back, and the BSP measures, in TSC cycles, from its ICR write to its
// own handler. Two ways of waiting, each over ROUNDS round trips:
//   spin  both CPUs wait in a PAUSE loop with IF=1 (in svmlab's VMM: the
//         target vcpu runs in the guest and must be kicked out of it);
//   hlt   both wait in STI;HLT (the target vcpu sleeps in the host
//         kernel and must be woken);
//   flag  the AP waits in HLT and answers by a store the BSP polls for
//         with IF=1 (what kvm-unit-tests' on_cpu does: lib/x86/smp.c).
// Prints min / median / max per mode in cycles and microseconds (the TSC's
// rate measured against the PIT), and "rounds: N of N" (a lost IPI gives up
// after a second). Run on plain QEMU -smp 2 and in the VMM with -V 2:
// tools/ipibench.sh.
#include "rt.h"

const char kernel_name[] = "ipipong";

#define ROUNDS 200
#define PING 0x50               // BSP -> AP
#define PONG 0x51               // AP -> BSP
#define TRAMP 0x8000            // the SIPI's page (vector 0x08)
#define STACK 16384

// ICR (SDM Vol. 3A §10.6.1)
#define ICR_LO 0x300
#define ICR_HI 0x310
#define DM_FIXED (0 << 8)
#define DM_INIT (5 << 8)
#define DM_SIPI (6 << 8)
#define PENDING (1 << 12)
#define ASSERT (1 << 14)
#define LEVEL (1 << 15)
#define SH_OTHERS (3 << 18)

__attribute__((used)) u8 ap_stack[STACK] __attribute__((aligned(16)));
static volatile u32 bsp_id;
static volatile int ap_started, ap_hlt;
static volatile u32 pongs;
static volatile int ap_flag;    // 1: the AP answers by a store, not an IPI
static u64 tsc_hz;

static u64 deadline_ms(int ms) { return rdtsc() + tsc_hz / 1000 * ms; }

static void icr_send(u32 dest, u32 lo)
{
  LAPIC_REG(ICR_HI) = dest << 24;
  LAPIC_REG(ICR_LO) = lo;
  u64 end = deadline_ms(1000);
  while ((LAPIC_REG(ICR_LO) & PENDING) && rdtsc() < end)
    asm volatile("pause");
}

#define AP1_TRAMP TRAMP
#include "ap1.h"

static void start_ap(void)
{
  ap1_start();
  u64 end = deadline_ms(3000);
  while (!ap_started && rdtsc() < end)
    asm volatile("pause");
}

static void ping(struct frame *f)
{
  (void)f;
  LAPIC_REG(0xB0) = 0;
  if (ap_flag)
    pongs++;
  else
    icr_send(bsp_id, DM_FIXED | ASSERT | PONG);
}

static void pong(struct frame *f)
{
  (void)f;
  LAPIC_REG(0xB0) = 0;
  pongs++;
}

__attribute__((used)) void ap_main(void)
{
  lapic_enable();
  LAPIC_REG(0x80) = 0;
  ap_started = 1;
  asm volatile("sti");
  for (;;) {
    if (ap_hlt)
      asm volatile("hlt");
    else
      asm volatile("pause");
  }
}

static void sort(u64 *a, int n)
{
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
      u64 t = a[j];
      a[j] = a[j - 1], a[j - 1] = t;
    }
}

static u64 us(u64 cycles) { return cycles * 1000000 / tsc_hz; }

// ROUNDS round trips with both CPUs waiting the mode's way.
static void rounds(const char *mode, int hlt, int ap_halts, int flag)
{
  static u64 rt[ROUNDS];
  int done = 0;
  ap_hlt = ap_halts;
  ap_flag = flag;
  delay_pit_ms(5);   // the AP is in its new loop
  for (; done < ROUNDS; done++) {
    u32 before = pongs;
    u64 t0 = rdtsc(), end = deadline_ms(1000);
    icr_send(0, SH_OTHERS | DM_FIXED | ASSERT | PING);
    if (hlt) {
      asm volatile("cli");
      while (pongs == before && rdtsc() < end)
        asm volatile("sti; hlt; cli");   // the STI shadow: no wakeup lost before HLT
    } else {
      asm volatile("sti");
      while (pongs == before && rdtsc() < end)
        asm volatile("pause");
    }
    asm volatile("cli");
    if (pongs == before)
      break;
    rt[done] = rdtsc() - t0;
  }
  char line[160];
  snprintf(line, sizeof line, "ipipong %s: rounds %d of %d\n", mode, done, ROUNDS);
  puts_raw(line);
  if (!done)
    return;
  sort(rt, done);
  u64 lo = rt[0], med = rt[done / 2], hi = rt[done - 1];
  snprintf(line, sizeof line,
           "ipipong %s: round trip cycles min %lu median %lu max %lu; us min %lu median %lu max %lu\n", mode, lo,
           med, hi, us(lo), us(med), us(hi));
  puts_raw(line);
}

void kmain(void)
{
  lapic_enable();
  LAPIC_REG(0x80) = 0;
  handlers[PING] = ping;
  handlers[PONG] = pong;
  u64 t0 = rdtsc();
  delay_pit_ms(20);
  tsc_hz = (rdtsc() - t0) * 50;
  bsp_id = LAPIC_REG(0x20) >> 24;
  start_ap();
  char line[80];
  snprintf(line, sizeof line, "ipipong: tsc %lu MHz, AP %s\n", tsc_hz / 1000000,
           ap_started ? "started" : "did not start");
  puts_raw(line);
  if (!ap_started)
    return;
  rounds("spin", 0, 0, 0);
  rounds("hlt", 1, 1, 0);
  rounds("flag", 0, 1, 1);
}

// The local APIC timer: one-shot and periodic modes, the current count,
// the mask bit, TPR blocking (the interrupt waits in IRR), ISR set while the
// handler runs and cleared by EOI (APM Vol. 2 §16.4 "Local APIC Timer",
// §16.6 "Interrupt Priority"). Waits are bounded by the PIT, not the TSC.
#include "rt.h"

const char kernel_name[] = "apictimer";

#define VEC 0x40
#define LVT 0x320
#define INIT 0x380
#define CUR 0x390
#define DIV 0x3E0
#define TPR 0x80
#define ISR(v) (0x100 + 0x10 * ((v) / 32))
#define IRR(v) (0x200 + 0x10 * ((v) / 32))

static volatile int ticks, isr_in_handler;

static void tick(struct frame *f)
{
  ticks++;
  isr_in_handler = LAPIC_REG(ISR(VEC)) >> (VEC % 32) & 1;
  LAPIC_REG(0xB0) = 0;   // EOI
}

// Waits up to ms for `want` ticks; interrupts on meanwhile.
static int wait_ticks(int want, int ms)
{
  for (int i = 0; i < ms && ticks < want; i++) {
    asm volatile("sti");
    delay_pit_ms(1);
    asm volatile("cli");
  }
  return ticks;
}

static void oneshot(void)
{
  LAPIC_REG(DIV) = 0x3;   // divide by 16
  LAPIC_REG(LVT) = VEC;
  LAPIC_REG(INIT) = 0xFFFFFFF;   // seconds long: still counting when read
  u32 c1 = LAPIC_REG(CUR), c2 = LAPIC_REG(CUR);
  LAPIC_REG(INIT) = 0;
  out("oneshot_counting", "%s", c1 > 0 && c1 <= 0xFFFFFFF && c2 < c1 ? "yes" : "no");
  ticks = 0;
  LAPIC_REG(INIT) = 200000;
  out("oneshot_fired", "%d", wait_ticks(1, 500));
  delay_pit_ms(5);
  out("oneshot_after", "ticks %d current %u", ticks, LAPIC_REG(CUR));
  out("isr_in_handler", "%d", isr_in_handler);
  out("isr_after_eoi", "%u", LAPIC_REG(ISR(VEC)) >> (VEC % 32) & 1);
}

static void masked(void)
{
  LAPIC_REG(LVT) = VEC | 1 << 16;
  ticks = 0;
  LAPIC_REG(INIT) = 1000;
  wait_ticks(1, 30);
  out("masked", "ticks %d current %u irr %u", ticks, LAPIC_REG(CUR), LAPIC_REG(IRR(VEC)) >> (VEC % 32) & 1);
}

static void periodic(void)
{
  LAPIC_REG(LVT) = VEC | 1 << 17;
  ticks = 0;
  LAPIC_REG(INIT) = 50000;
  wait_ticks(4, 1000);
  u32 cur = LAPIC_REG(CUR);
  LAPIC_REG(INIT) = 0;   // stops the timer
  out("periodic", "at least 4 ticks %s, reloaded %s", ticks >= 4 ? "yes" : "no", cur > 0 ? "yes" : "no");
  asm volatile("sti");   // an interrupt raised before the stop may still be pending: take it
  delay_pit_ms(2);
  asm volatile("cli");
  int t = ticks;
  asm volatile("sti");
  delay_pit_ms(20);
  asm volatile("cli");
  out("stopped_by_zero_initial", "%s", ticks == t ? "yes" : "no");
}

static void tpr_blocks(void)
{
  LAPIC_REG(LVT) = VEC;
  LAPIC_REG(TPR) = 0x40;   // class 4 blocks vector 0x40
  ticks = 0;
  LAPIC_REG(INIT) = 1000;
  wait_ticks(1, 30);
  out("tpr_blocks", "ticks %d irr %u", ticks, LAPIC_REG(IRR(VEC)) >> (VEC % 32) & 1);
  LAPIC_REG(TPR) = 0x30;
  wait_ticks(1, 30);
  out("tpr_lowered", "ticks %d irr %u", ticks, LAPIC_REG(IRR(VEC)) >> (VEC % 32) & 1);
  LAPIC_REG(TPR) = 0;
}

void kmain(void)
{
  handlers[VEC] = tick;
  outb(0x21, 0xFF), outb(0xA1, 0xFF);   // the PICs stay quiet
  lapic_enable();
  oneshot();
  masked();
  periodic();
  tpr_blocks();
}

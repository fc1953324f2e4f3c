// NMIs: a self-NMI through the ICR is taken with IF=0; while its handler
// runs further NMIs are held (one stays pending) until the handler's IRET
// (APM Vol. 2 §8.2.11 "Non-Maskable-Interrupt Exception (NMI)").
#include "rt.h"

const char kernel_name[] = "nmi";

static volatile int count, depth, max_depth, count_before_iret;

static void self_nmi(void)
{
  LAPIC_REG(0x310) = LAPIC_REG(0x20) & 0xFF000000;   // destination: our APIC ID
  LAPIC_REG(0x300) = 0x4400;                          // NMI, physical, assert
}

static void nmi(struct frame *f)
{
  count++;
  if (++depth > max_depth)
    max_depth = depth;
  if (count == 1) {
    self_nmi();
    self_nmi();   // both while blocked: one stays pending, NMIs do not queue
    for (int i = 0; i < 1000; i++)
      asm volatile("pause");
    delay_pit_ms(2);
    count_before_iret = count;
  }
  depth--;
}

void kmain(void)
{
  handlers[2] = nmi;
  lapic_enable();
  asm volatile("cli");
  self_nmi();
  delay_pit_ms(10);
  out("self_nmi_if0", "taken %s", count >= 1 ? "yes" : "no");
  out("blocked_in_handler", "count before iret %d, deepest nesting %d", count_before_iret, max_depth);
  out("after_iret", "count %d", count);
  count = 0, max_depth = 0;
  // An NMI raised by an NMI's handler through the ICR behaves the same again.
  self_nmi();
  delay_pit_ms(10);
  out("second_round", "count %d deepest nesting %d", count, max_depth);
}

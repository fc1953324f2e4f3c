// The I/O APIC's two-register window at its default address (82093AA
// datasheet §3.0: IOREGSEL at +0x00, IOWIN at +0x10), for test kernels.
#pragma once

#define IOAPIC ((volatile u32 *)0xFEC00000UL)

static inline u32 ioapic_read(u32 reg)
{
  IOAPIC[0] = reg;
  return IOAPIC[4];
}

static inline void ioapic_write(u32 reg, u32 val)
{
  IOAPIC[0] = reg;
  IOAPIC[4] = val;
}

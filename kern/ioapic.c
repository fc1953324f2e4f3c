// The I/O APIC: routes device interrupt lines (GSIs) to a CPU's local APIC
// as vectors. Registers are reached indirectly: write the register number
// to IOREGSEL, then read or write IOWIN. Each redirection entry is two
// 32-bit registers (Intel 82093AA I/O APIC datasheet, "IOREDTBL").
//
// ISA IRQ n always arrives at vector T_IRQ0 + n, whatever GSI an ACPI
// interrupt source override moved it to (QEMU: IRQ 0 -> GSI 2).
#include "defs.h"
#include "cpu.h"
#include "trap.h"
#include "x86.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define REG_VER 0x01
#define REG_TABLE 0x10   // entry n: 0x10 + 2n (low), 0x11 + 2n (high)

#define RED_MASKED 0x10000
#define RED_LEVEL 0x08000      // level triggered (else edge)
#define RED_ACTIVELOW 0x02000  // active low (else high)

static volatile uint8 *ioapic;
static int maxgsi;

static uint32 ioapic_read(int reg)
{
  *(volatile uint32 *)(ioapic + IOREGSEL) = reg;
  return *(volatile uint32 *)(ioapic + IOWIN);
}

static void ioapic_write(int reg, uint32 v)
{
  *(volatile uint32 *)(ioapic + IOREGSEL) = reg;
  *(volatile uint32 *)(ioapic + IOWIN) = v;
}

// Masks the legacy 8259 PICs: every device interrupt comes via the IOAPIC.
static void pic_disable(void)
{
  outb(0x21, 0xFF);
  outb(0xA1, 0xFF);
}

// Masks every IOAPIC input. Needs acpiinit (for the address).
void ioapicinit(void)
{
  pic_disable();
  ioapic = P2V(ioapic_pa);
  maxgsi = (ioapic_read(REG_VER) >> 16) & 0xFF;
  for (int i = 0; i <= maxgsi; i++) {
    ioapic_write(REG_TABLE + 2 * i, RED_MASKED | (T_IRQ0 + i));
    ioapic_write(REG_TABLE + 2 * i + 1, 0);
  }
}

// Delivers ISA IRQ irq to CPU cpu (index in cpus[]) as vector T_IRQ0 + irq,
// with the polarity and trigger mode the MADT gives (ISA default: edge,
// active high).
void ioapic_enable(int irq, int cpu)
{
  int flags;
  int gsi = acpi_isa_gsi(irq, &flags);
  if (gsi > maxgsi || cpu < 0 || cpu >= ncpu)
    panic("ioapic_enable: irq %d (gsi %d) cpu %d out of range", irq, gsi, cpu);
  uint32 lo = T_IRQ0 + irq;
  if ((flags & 3) == 3)
    lo |= RED_ACTIVELOW;
  if (((flags >> 2) & 3) == 3)
    lo |= RED_LEVEL;
  ioapic_write(REG_TABLE + 2 * gsi + 1, (uint32)cpus[cpu].apicid << 24);
  ioapic_write(REG_TABLE + 2 * gsi, lo);
}

// MMIO on the local APIC and the I/O APIC: 32-bit register reads and
// writes, read-only bits, a byte write (which the chips ignore; it must not
// end the guest); the string instructions are mmiostr.c's (APM Vol. 2
// §16.3 for the APIC registers).
#include "rt.h"
#include "ioapic.h"

const char kernel_name[] = "mmio";

#define TPR 0x80
static void registers(void)
{
  lapic_enable();
  u32 r[4];
  cpuid(1, 0, r);
  out("lapic_id_matches_cpuid", "%s", LAPIC_REG(0x20) >> 24 == r[1] >> 24 ? "yes" : "no");
  out("lapic_version", "max lvt %u", LAPIC_REG(0x30) >> 16 & 0xFF);
  LAPIC_REG(TPR) = 0x20;
  out("lapic_tpr", "%x", LAPIC_REG(TPR));
  LAPIC_REG(TPR) = 0x1FF;   // only bits 7:0 exist
  out("lapic_tpr_upper_bits", "%x", LAPIC_REG(TPR));
  LAPIC_REG(0x320) = 0x10040;   // timer LVT: masked, vector 0x40
  out("lapic_lvt_timer", "%x", LAPIC_REG(0x320));
  LAPIC_REG(0x3E0) = 0xB;
  out("lapic_divide", "%x", LAPIC_REG(0x3E0));
  out("lapic_spurious", "%x", LAPIC_REG(0xF0));
  out("ioapic_version", "%x", ioapic_read(1));
  ioapic_write(0x10 + 2 * 5, 0x1A035);   // pin 5: masked, level, vector 0x35
  ioapic_write(0x11 + 2 * 5, 0x01000000);
  out("ioapic_redir5", "%x %x", ioapic_read(0x10 + 2 * 5), ioapic_read(0x11 + 2 * 5));
}

// A 1-byte write to the local APIC: QEMU and KVM drop it (the SDM leaves
// sub-dword accesses undefined); the guest must go on.
static void narrow(void)
{
  LAPIC_REG(TPR) = 0x30;
  *(volatile u8 *)0xFEE00080UL = 0x70;
  out("lapic_byte_write", "survived, tpr %x", LAPIC_REG(TPR));
}

// Guest-physical addresses with neither RAM nor a device behind them (above
// the 128 MiB of RAM, in the PC's hole below 4 GiB): a PC answers reads
// with all ones and drops writes; the guest goes on.
static void open_bus(void)
{
  static const u64 at[] = {0x10000000UL, 0xD0000000UL};
  for (int i = 0; i < 2; i++) {
    volatile u32 *p = (volatile u32 *)at[i];
    u32 before = *p;
    *p = 0x12345678;
    out(i ? "open_bus_hole" : "open_bus_above_ram", "read %x, after a write %x", before, *p);
  }
}

void kmain(void)
{
  registers();
  open_bus();
  narrow();   // last: today's VMM ends the guest here
}

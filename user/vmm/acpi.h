// ACPI tables the VMM writes into guest RAM (acpi.c) and the fixed hardware
// registers they name (acpipm.c).
#pragma once
#include "../../kern/types.h"

#define ACPI_BASE_DEFAULT 0xE0000UL   // where the RSDP and tables go (one page)
// PM1a_EVT (4 bytes), PM1a_CNT (+4, 2), PM_TMR (+8, 4): PIIX4's offsets, from the base QEMU's PC uses.
#define ACPI_PM_BASE 0x600
#define ACPI_SCI_IRQ 9                // the SCI's ISA IRQ (FADT SCI_INT), level-triggered
#define ACPI_SLP_TYP_S5 5             // the DSDT's \_S5 SLP_TYPa: PM1_CNT.SLP_TYP for soft-off

struct acpi_config {
  int ncpus;              // processor local APIC entries, APIC IDs 0..ncpus-1
  uint32 lapic_base;      // 0xFEE00000
  uint8 ioapic_id;
  uint32 ioapic_base;     // 0xFEC00000
  uint32 virtio_base;     // a virtio-mmio device's registers for the DSDT (0: none)
  uint8 virtio_gsi;       //   and its edge-triggered, active-high I/O APIC pin
};

uint64 acpi_build(uint8 *mem, uint64 memsize, uint64 base, const struct acpi_config *c);

// The PM1 registers and PM timer at ACPI_PM_BASE.
struct acpi_pm {
  uint16 sts, en, cnt;    // PM1_STS, PM1_EN, PM1_CNT (SLP_EN never kept)
  int off;                // the guest entered S5: the board is off
};

void acpi_pm_reset(struct acpi_pm *p);
int acpi_pm_io(struct acpi_pm *p, uint16 port, int in, uint8 *v, uint64 now);   // 1 if port is one of them
uint32 acpi_pm_timer(uint64 now);   // the PM timer's count at guest time now (ns)

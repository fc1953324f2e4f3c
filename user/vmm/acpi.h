// ACPI tables the VMM writes into guest RAM (acpi.c).
#pragma once
#include "../../kern/types.h"

#define ACPI_BASE_DEFAULT 0xE0000UL   // where the RSDP and tables go (one page)

struct acpi_config {
  int ncpus;              // processor local APIC entries, APIC IDs 0..ncpus-1
  uint32 lapic_base;      // 0xFEE00000
  uint8 ioapic_id;
  uint32 ioapic_base;     // 0xFEC00000
};

uint64 acpi_build(uint8 *mem, uint64 memsize, uint64 base, const struct acpi_config *c);

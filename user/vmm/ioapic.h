// The I/O APIC model (ioapic.c): 24 pins routed to the local APIC.
#pragma once
#include "lapic.h"

#define IOAPIC_BASE_DEFAULT 0xFEC00000UL
#define IOAPIC_SIZE 0x1000
#define IOAPIC_PINS 24

struct ioapic {
  uint32 id;
  uint32 sel;                 // IOREGSEL
  uint64 rte[IOAPIC_PINS];    // redirection table entries
  uint8 level[IOAPIC_PINS];   // each pin's input line, 1 = asserted
  struct lapic *apic;         // where interrupts go (one vcpu)
};

void ioapic_reset(struct ioapic *io, uint32 id);
void ioapic_set_irq(struct ioapic *io, int pin, int level);
void ioapic_eoi(void *ctx, int vector);   // lapic.eoi_level callback
int ioapic_read(struct ioapic *io, uint64 off, uint32 *val);
int ioapic_pin_masked(const struct ioapic *io, int pin);
int ioapic_write(struct ioapic *io, uint64 off, uint32 val);

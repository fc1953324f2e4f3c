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
  struct lapic *apic;         // where interrupts go: napic local APICs (0 means 1)
  int napic;
  void (*notify)(int i);      // optional: apic[i] took an NMI (smp.c wakes its vcpu)
  void (*accept)(int i, int vector, int level);   // optional: a fixed interrupt for apic[i]
                              // (smp.c: instead of lapic_accept, and wakes the vcpu)
};

// The APIC bus's addressing (Intel SDM Vol. 3A §10.6.2): whether a message
// for dest (8 bits) in physical or logical mode reaches local APIC a.
int lapic_match_dest(const struct lapic *a, uint32 dest, int logical);
// Lowest priority (§10.6.2.4): the index of the APIC of set (bit i:
// apics[i]) that takes the interrupt, -1 for an empty set.
int lapic_lowest(const struct lapic *apics, int n, uint32 set);

void ioapic_reset(struct ioapic *io, uint32 id);
void ioapic_set_irq(struct ioapic *io, int pin, int level);
void ioapic_eoi(void *ctx, int vector);   // lapic.eoi_level callback
int ioapic_read(struct ioapic *io, uint64 off, uint32 *val);
int ioapic_pin_masked(const struct ioapic *io, int pin);
int ioapic_write(struct ioapic *io, uint64 off, uint32 val);

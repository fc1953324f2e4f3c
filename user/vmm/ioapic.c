// The I/O APIC model (82093AA datasheet, §3 "Register Description"): the
// IOREGSEL/IOWIN window at 0xFEC00000, ID, version (24 pins), and the
// redirection table. A pin's interrupt goes to the local APIC(s) its entry
// names unless masked; level-triggered pins set Remote IRR until the local
// APIC's EOI for that vector comes back (ioapic_eoi), and a level still high
// then is delivered again.
#include "ioapic.h"
#include "../../lib/string.h"

#define RTE_MASKED (1UL << 16)
#define RTE_LEVEL (1UL << 15)
#define RTE_REMOTE_IRR (1UL << 14)
#define RTE_POLARITY_LOW (1UL << 13)
#define RTE_DELIVERY_STATUS (1UL << 12)
#define RTE_LOGICAL (1UL << 11)
#define RTE_DM_SHIFT 8
// Bits the guest may write: vector, delivery mode, destination mode,
// polarity, trigger, mask, destination (Remote IRR and status are read-only).
#define RTE_WRITABLE (0xFF000000000000FFUL | 0x700UL | RTE_LOGICAL | RTE_POLARITY_LOW | RTE_LEVEL | RTE_MASKED)

void ioapic_reset(struct ioapic *io, uint32 id)
{
  memset(io, 0, sizeof *io);
  io->id = id;
  for (int i = 0; i < IOAPIC_PINS; i++)
    io->rte[i] = RTE_MASKED;
}

// The lab 8 handout's stand-in for lapic_match_dest: every message reaches
// the APIC that had ID 0 at reset and no other. One vcpu still gets its I/O
// APIC interrupts; between several vcpus, messages go astray.
__attribute__((unused)) static int lab8_first_apic_only(const struct lapic *a) { return a->id0 == 0; }

// §10.6.2.1: physical mode names one APIC ID, 0xFF all of them. §10.6.2.2:
// logical mode compares with each LDR as the DFR's model says: flat (1111b)
// ANDs the 8-bit masks; cluster (0000b) needs the same cluster number (bits
// 7:4) and ANDs the four low bits. A logical 0xFF reaches every APIC.
int lapic_match_dest(const struct lapic *a, uint32 dest, int logical)
{
  // LAB 8 BEGIN
  uint32 ldr = a->ldr >> 24;
  if (!logical)
    return dest == a->id || dest == 0xFF;
  if (dest == 0xFF)
    return 1;
  if ((a->dfr >> 28) == 0xF)
    return (dest & ldr) != 0;
  return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xF) != 0;
  // LAB 8 STUB
  // // LAB 8: 1 if a message for dest reaches local APIC a: in physical mode by its APIC ID, in
  // //   logical mode by its LDR as its DFR's model reads it (flat or cluster); and the broadcast.
  // (void)dest, (void)logical;
  // return lab8_first_apic_only(a);
  // LAB 8 END
}

// Lowest priority (§10.6.2.4): of the APICs in set (bit i: apics[i]), the
// one that takes the interrupt: here the one with the lowest TPR, the first
// of equals (the choice among equals is the implementation's; KVM's too).
int lapic_lowest(const struct lapic *apics, int n, uint32 set)
{
  // LAB 8 BEGIN
  int best = -1;
  for (int i = 0; i < n; i++)
    if ((set >> i & 1) && (best < 0 || apics[i].tpr < apics[best].tpr))
      best = i;
  return best;
  // LAB 8 STUB
  // // LAB 8: the index of the APIC in set (bit i: apics[i]) that takes a lowest-priority
  // //   interrupt: one whose priority is lowest; -1 if the set is empty.
  // (void)apics, (void)n, (void)set;
  // return -1;
  // LAB 8 END
}

// The local APICs an entry names, as a bit mask (bit i: io->apic[i]).
static uint32 dest_set(const struct ioapic *io, uint64 rte, int n)
{
  uint32 set = 0;
  for (int i = 0; i < n; i++)
    if (lapic_match_dest(&io->apic[i], rte >> 56, (rte & RTE_LOGICAL) != 0))
      set |= 1u << i;
  return set;
}

// Lowest priority's destination; with one APIC there is no choice to make.
static int lowest_of(const struct ioapic *io, uint64 rte, int n)
{
  uint32 set = dest_set(io, rte, n);
  if (n == 1)
    return set ? 0 : -1;
  return lapic_lowest(io->apic, n, set);
}

// Sends pin's interrupt to the local APICs its entry names, if it lets it through.
static void deliver(struct ioapic *io, int pin)
{
  uint64 rte = io->rte[pin];
  uint32 dm = (rte >> RTE_DM_SHIFT) & 7;
  int n = io->napic ? io->napic : 1, lowest = dm == 1 ? lowest_of(io, rte, n) : -1, any = 0;
  if ((rte & RTE_MASKED) || ((rte & RTE_LEVEL) && (rte & RTE_REMOTE_IRR)))
    return;
  if (dm != 0 && dm != 1 && dm != 4)
    return;        // SMI, INIT, ExtINT through the IOAPIC: not modelled
  for (int i = 0; i < n; i++) {
    struct lapic *a = &io->apic[i];
    if (dm == 1 ? i != lowest : !lapic_match_dest(a, rte >> 56, (rte & RTE_LOGICAL) != 0))
      continue;
    any = 1;
    if (dm == 4) {
      lapic_nmi(a);
      if (io->notify)
        io->notify(i);
    } else if (io->accept) {
      io->accept(i, rte & 0xFF, (rte & RTE_LEVEL) != 0);
    } else {
      lapic_accept(a, rte & 0xFF, (rte & RTE_LEVEL) != 0);
    }
  }
  if (any && dm != 4 && (rte & RTE_LEVEL))
    io->rte[pin] |= RTE_REMOTE_IRR;
}

// The device's line on pin changes to level (1 = asserted, whatever the
// polarity bit says: the board inverts for active-low pins). Edge-triggered
// pins fire on the rising edge, level-triggered ones while high.
void ioapic_set_irq(struct ioapic *io, int pin, int level)
{
  if (pin < 0 || pin >= IOAPIC_PINS)
    return;
  int old = io->level[pin];
  io->level[pin] = level != 0;
  if (level && (!old || (io->rte[pin] & RTE_LEVEL)))
    deliver(io, pin);
}

// The local APIC retired vector (a level-triggered one): clear Remote IRR on
// the pins that use it, and deliver again where the line is still high.
void ioapic_eoi(void *ctx, int vector)
{
  struct ioapic *io = ctx;
  for (int pin = 0; pin < IOAPIC_PINS; pin++) {
    if ((io->rte[pin] & 0xFF) != (uint64)vector || !(io->rte[pin] & RTE_REMOTE_IRR))
      continue;
    io->rte[pin] &= ~RTE_REMOTE_IRR;
    if (io->level[pin] && (io->rte[pin] & RTE_LEVEL))
      deliver(io, pin);
  }
}

// Indirect registers (§3.2): 0x00 ID, 0x01 version, 0x02 arbitration, 0x10 +
// 2n / 2n+1 the low and high halves of redirection entry n.
static uint32 read_indirect(const struct ioapic *io)
{
  uint32 r = io->sel;
  if (r == 0x00)
    return io->id << 24;
  if (r == 0x01)
    return ((IOAPIC_PINS - 1) << 16) | 0x11;
  if (r == 0x02)
    return io->id << 24;
  if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
    uint64 rte = io->rte[(r - 0x10) / 2];
    return r & 1 ? rte >> 32 : (uint32)rte;
  }
  return 0xFFFFFFFF;   // no such register
}

static void write_indirect(struct ioapic *io, uint32 v)
{
  uint32 r = io->sel;
  if (r == 0x00) {
    io->id = (v >> 24) & 0xF;
    return;
  }
  if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS)
    return;
  int pin = (r - 0x10) / 2;
  uint64 old = io->rte[pin], keep = old & ~RTE_WRITABLE;
  uint64 val = r & 1 ? ((uint64)v << 32) | (uint32)old : (old & 0xFFFFFFFF00000000UL) | v;
  io->rte[pin] = (val & RTE_WRITABLE) | keep;
  // Unmasking a level-triggered pin whose line is high delivers it.
  if ((old & RTE_MASKED) && !(io->rte[pin] & RTE_MASKED) && io->level[pin] && (io->rte[pin] & RTE_LEVEL))
    deliver(io, pin);
}

int ioapic_pin_masked(const struct ioapic *io, int pin)
{
  return pin < 0 || pin >= IOAPIC_PINS || (io->rte[pin] & RTE_MASKED);
}

// MMIO: IOREGSEL at +0x00, IOWIN at +0x10, 32-bit accesses (§3.1).
int ioapic_read(struct ioapic *io, uint64 off, uint32 *val)
{
  if (off == 0x00)
    *val = io->sel;
  else if (off == 0x10)
    *val = read_indirect(io);
  else if (off < IOAPIC_SIZE && off % 4 == 0)
    *val = 0;
  else
    return -1;
  return 0;
}

int ioapic_write(struct ioapic *io, uint64 off, uint32 val)
{
  if (off == 0x00)
    io->sel = val & 0xFF;
  else if (off == 0x10)
    write_indirect(io, val);
  else if (off >= IOAPIC_SIZE || off % 4)
    return -1;
  return 0;
}

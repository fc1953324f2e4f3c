// The local APIC's x2APIC mode (Intel SDM Vol. 3A §10.12): the registers as
// MSRs 800h-8FFh instead of the MMIO page, for guests whose CPUID offers
// x2APIC (the KVM paravirtual interface, kvmpv.c). A guest's RDMSR/WRMSR
// needs no instruction decoding, so a timer tick or an EOI is one exit.
// This is a front end: every register goes through lapic_read/lapic_write
// (lapic.c), so the two views cannot disagree. The rules, §10.12.1.2
// Table 10-6 and §10.12.1.3:
// - MSR 800h + (MMIO offset >> 4); only while APIC_BASE.EXTD is set,
//   otherwise any access is #GP;
// - read-only registers (ID, version, PPR, LDR, ISR, TMR, IRR, current
//   count) #GP on WRMSR, write-only ones (EOI, SELF IPI) on RDMSR, numbers
//   Table 10-6 does not list (APR, RRD, DFR, ICR high, CMCI: this APIC has
//   no CMCI LVT) on both;
// - bits 63:32 are reserved except in the ICR, which is one 64-bit register
//   with the destination in bits 63:32; a WRMSR with them set is #GP;
// - EOI and ESR take only 0 (a non-zero write is #GP);
// - the ID is 32 bits and read-only; LDR is derived from it (§10.12.10.2:
//   cluster ID[19:4] in bits 31:16, bit ID[3:0] of the low 16 bits).
#include "vmm.h"
#include "kvmpv.h"

#define X2APIC_FIRST 0x800
#define X2APIC_LAST 0x8FF
#define X2_SELF_IPI 0x3F0   // offset of MSR 83Fh (no MMIO register there)

static int x2apic_mode(const struct lapic *a) { return lapic_enabled(a) && (a->base_msr & APIC_BASE_EXTD); }

// The ICR's 32-bit destination (bits 63:32) of each vcpu's APIC: the model's
// ICR high keeps the xAPIC's 8 bits, which the one-vcpu path and the MMIO
// view use; IPIs between x2APICs are matched on all 32 (x2apic_ipi_reaches).
static uint32 icr_dest[GUEST_MAXVCPUS];

static uint32 *dest_slot(const struct lapic *a)
{
  struct lapic *first = apic_lapic(0);
  long i = first ? a - first : 0;
  return &icr_dest[i >= 0 && i < GUEST_MAXVCPUS ? i : 0];
}

// The logical ID an x2APIC derives from its ID (§10.12.10.2): cluster
// ID[19:4] in bits 31:16, bit ID[3:0] of the low 16 bits.
static uint32 x2_ldr(uint32 id) { return ((id & 0xFFFF0) << 12) | (1u << (id & 0xF)); }

// What an x2APIC register allows: 1 read, 2 write.
static int access_of(uint32 off)
{
  if (off >= LAPIC_ISR && off < LAPIC_IRR + 0x80)
    return 1;   // ISR, TMR, IRR
  if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR)
    return 3;
  switch (off) {
  case LAPIC_ID: case LAPIC_VER: case LAPIC_PPR: case LAPIC_LDR: case LAPIC_TIMER_CCR: return 1;
  case LAPIC_EOI: case X2_SELF_IPI: return 2;
  case LAPIC_TPR: case LAPIC_SVR: case LAPIC_ESR: case LAPIC_ICR_LO: case LAPIC_TIMER_ICR:
  case LAPIC_TIMER_DCR: return 3;
  }
  return 0;   // not an x2APIC register
}

static uint64 x2_read(struct lapic *a, uint32 off, uint64 now)
{
  uint32 v = 0;
  if (off == LAPIC_ID)
    return a->id;
  if (off == LAPIC_LDR)
    return x2_ldr(a->id);
  lapic_read(a, off, &v, now);
  if (off == LAPIC_ICR_LO)
    return (uint64)*dest_slot(a) << 32 | v;
  return v;
}

// A write the rules above allow; 0, or -1 for #GP.
static int x2_write(struct lapic *a, uint32 off, uint64 v, uint64 now)
{
  if (off != LAPIC_ICR_LO && (v >> 32))
    return -1;
  if ((off == LAPIC_EOI || off == LAPIC_ESR) && v)
    return -1;
  if (off == X2_SELF_IPI)   // a fixed IPI to itself (§10.12.11), reserved bits ignored as KVM does
    return lapic_write(a, LAPIC_ICR_LO, (1u << 18) | (v & 0xFF), now);
  if (off == LAPIC_ICR_LO) {   // destination FFFF_FFFFh is the broadcast (§10.12.9)
    uint32 dest = v >> 32;
    *dest_slot(a) = dest;
    lapic_write(a, LAPIC_ICR_HI, (dest == 0xFFFFFFFF ? 0xFFu : dest < 0xFF ? dest : 0xFEu) << 24, now);
  }
  return lapic_write(a, off, (uint32)v, now);
}

// RDMSR/WRMSR of msr: 1 done, 0 #GP, -1 not an x2APIC MSR.
int x2apic_msr(struct lapic *a, uint32 msr, int write, uint64 *v, uint64 now)
{
  if (msr < X2APIC_FIRST || msr > X2APIC_LAST)
    return -1;
  uint32 off = (msr - X2APIC_FIRST) << 4;
  int ok = access_of(off) & (write ? 2 : 1);
  if (!x2apic_mode(a) || !ok)
    return 0;
  if (write)
    return x2_write(a, off, *v, now) == 0;
  *v = x2_read(a, off, now);
  return 1;
}

// Whether the IPI in `from`'s ICR (low half lo) reaches `to`, for a sender in
// x2APIC mode without a shorthand: the 32-bit destination, FFFF_FFFFh to
// all (§10.12.9); physical: equal to the x2APIC ID; logical (cluster model,
// §10.12.10.2): the same cluster (bits 31:16) and a common bit in 15:0.
// -1 when the xAPIC's rules apply (an xAPIC sender, or a shorthand).
int x2apic_ipi_reaches(const struct lapic *from, const struct lapic *to, uint32 lo)
{
  if (!x2apic_mode(from) || ((lo >> 18) & 3) || !to)
    return -1;
  uint32 dest = *dest_slot(from), ldr = x2_ldr(to->id);
  if (dest == 0xFFFFFFFF)
    return 1;
  if (!(lo & (1u << 11)))   // destination mode: physical
    return dest == to->id;
  return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xFFFF) != 0;
}

// The APIC_BASE states of §10.12.5 (Figure 10-27), as KVM's kvm_set_apic_base
// enforces them: EXTD without EN is invalid, and the x2APIC is entered only
// from the xAPIC and left only to the disabled state. 1 if old -> v is legal.
int x2apic_base_ok(uint64 old, uint64 v)
{
  int was_x2 = (old & APIC_BASE_EN) && (old & APIC_BASE_EXTD), was_off = !(old & APIC_BASE_EN);
  int en = (v & APIC_BASE_EN) != 0, extd = (v & APIC_BASE_EXTD) != 0;
  if (extd && !en)
    return 0;
  if (was_x2 && en && !extd)
    return 0;   // x2APIC -> xAPIC
  if (was_off && extd)
    return 0;   // disabled -> x2APIC
  return 1;
}

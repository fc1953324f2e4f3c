// The local APIC model (see lapic.h): registers, priorities, EOI, the timer
// in one-shot and periodic mode with its divider, self-IPIs through the ICR,
// LINT0/LINT1. Section numbers are Intel SDM Vol. 3A chapter 10.
#include "lapic.h"
#include "../../lib/string.h"

static int test_bit(const uint32 *r, int v) { return (r[v >> 5] >> (v & 31)) & 1; }
static void set_bit(uint32 *r, int v) { r[v >> 5] |= 1u << (v & 31); }
static void clear_bit(uint32 *r, int v) { r[v >> 5] &= ~(1u << (v & 31)); }

// Highest set vector in a 256-bit register, -1 if none.
static int highest(const uint32 *r)
{
  for (int i = 7; i >= 0; i--)
    if (r[i])
      return 32 * i + 31 - __builtin_clz(r[i]);
  return -1;
}

// Power-on state (§10.4.7.1): every LVT masked, SVR 0xFF (software-disabled).
// The BSP gets LINT0 = ExtINT and LINT1 = NMI, the "virtual wire" a PC BIOS
// leaves behind, so that a kernel that never touches the APIC still gets the
// 8259's interrupts (KVM's kvm_lapic_reset does the same).
void lapic_reset(struct lapic *a, uint32 id, int bsp)
{
  memset(a, 0, sizeof *a);
  a->base_msr = LAPIC_BASE_DEFAULT | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
  a->id = a->id0 = id;
  a->dfr = 0xFFFFFFFF;
  a->svr = 0xFF;
  for (int i = 0; i < 6; i++)
    a->lvt[i] = LVT_MASKED;
  if (bsp) {
    a->lvt[3] = DM_EXTINT << LVT_DM_SHIFT;
    a->lvt[4] = DM_NMI << LVT_DM_SHIFT;
  }
}

// Processor priority (§10.8.3.1): the TPR, or the class of the highest
// in-service vector if that is higher.
static uint32 ppr(const struct lapic *a)
{
  int isrv = highest(a->isr);
  uint32 isr_class = isrv < 0 ? 0 : (uint32)isrv & 0xF0;
  return (a->tpr & 0xF0) >= isr_class ? a->tpr & 0xFF : isr_class;
}

// Timer divider (§10.5.4, Figure 10-10): DCR bits 3,1:0; 111b is divide by 1.
static uint32 divisor(const struct lapic *a)
{
  uint32 v = ((a->timer_dcr & 8) >> 1) | (a->timer_dcr & 3);
  return v == 7 ? 1 : 2u << v;
}

static uint64 ns_per_tick(const struct lapic *a) { return (uint64)divisor(a) * LAPIC_NS_PER_COUNT; }

// A periodic timer's period, at least LAPIC_MIN_PERIOD_NS (KVM's
// min_timer_period_us does the same): shorter, its next expiry has passed
// before vcpu_run can enter the guest, every run ends at its deadline at once
// and the guest never runs (kvm-unit-tests' svm `interrupt` asks for 1 us).
#define LAPIC_MIN_PERIOD_NS 200000
static uint64 timer_period(const struct lapic *a)
{
  uint64 p = a->timer_icr * ns_per_tick(a);
  return (a->lvt[0] & LVT_TIMER_MODE) == LVT_TIMER_PERIODIC && p < LAPIC_MIN_PERIOD_NS ? LAPIC_MIN_PERIOD_NS : p;
}

// (Re)loads the timer from the initial count at time now (§10.5.4).
static void timer_load(struct lapic *a, uint64 now)
{
  a->timer_start = now;
  a->timer_due = a->timer_icr ? now + timer_period(a) : 0;
  if (a->timer_due == 0 && a->timer_icr)
    a->timer_due = 1;
}

static uint32 timer_ccr(const struct lapic *a, uint64 now)
{
  if (!a->timer_icr || !a->timer_due)
    return 0;
  uint64 ticks = (now - a->timer_start) / ns_per_tick(a);
  if (a->lvt[0] & LVT_TIMER_PERIODIC)
    return a->timer_icr - ticks % a->timer_icr;
  return ticks >= a->timer_icr ? 0 : a->timer_icr - ticks;
}

// An interrupt arrives for vector (fixed delivery). Vectors 0-15 are illegal
// (§10.5.3: "received illegal vector", ESR bit 6) and are dropped.
void lapic_accept(struct lapic *a, int vector, int level)
{
  if (!lapic_enabled(a))
    return;   // a globally disabled APIC takes no messages (§10.4.3)
  if (vector < 16) {
    a->esr_pending |= 1u << 6;
    return;
  }
  set_bit(a->irr, vector);
  if (level)
    set_bit(a->tmr, vector);
  else
    clear_bit(a->tmr, vector);
}

// An NMI message arrives. Two that arrive before the vcpu's thread looks are
// two, not one: the CPU takes one and holds the next pending until the
// handler's IRET (SDM Vol. 3A §6.7.1 "Handling Multiple NMIs"; KVM counts
// them in nmi_queued). The kernel drops what a CPU would not keep
// (vcpu_queue_nmi); more than 2 never survive.
void lapic_nmi(struct lapic *a)
{
  if (a->nmi_pending < 2)
    a->nmi_pending++;
}

// An interrupt through an LVT entry: fixed, NMI or ExtINT (the last is the
// PIC's business: the caller checks lapic_accepts_pic).
static void lvt_fire(struct lapic *a, uint32 lvt)
{
  if ((lvt & LVT_MASKED) || !(a->svr & SVR_ENABLE))
    return;
  uint32 dm = (lvt >> LVT_DM_SHIFT) & 7;
  if (dm == DM_NMI)
    lapic_nmi(a);
  else if (dm == DM_FIXED)
    lapic_accept(a, lvt & 0xFF, 0);
}

void lapic_advance(struct lapic *a, uint64 now)
{
  while (a->timer_due && now >= a->timer_due) {
    a->fired++;
    lvt_fire(a, a->lvt[0] & ~(7u << LVT_DM_SHIFT));   // the timer LVT has no delivery mode
    if ((a->lvt[0] & LVT_TIMER_MODE) == LVT_TIMER_PERIODIC && a->timer_icr) {
      a->timer_due += timer_period(a);
      a->timer_start += timer_period(a);
    } else {
      a->timer_due = 0;
      a->tsc_deadline = 0;   // a TSC deadline disarms itself when it fires (§10.5.4.1)
    }
  }
}

uint64 lapic_deadline(const struct lapic *a) { return a->timer_due; }

static int tsc_deadline_mode(const struct lapic *a)
{
  return (a->lvt[0] & LVT_TIMER_MODE) == LVT_TIMER_TSC_DEADLINE;
}

void lapic_set_tsc_deadline(struct lapic *a, uint64 tsc, uint64 due_ns)
{
  if (!tsc_deadline_mode(a))
    return;
  a->tsc_deadline = tsc;
  a->timer_due = tsc ? (due_ns ? due_ns : 1) : 0;
}

uint64 lapic_tsc_deadline(const struct lapic *a) { return tsc_deadline_mode(a) ? a->tsc_deadline : 0; }

int lapic_pending(struct lapic *a)
{
  if (!lapic_enabled(a) || !(a->svr & SVR_ENABLE))
    return -1;
  int v = highest(a->irr);
  return v >= 0 && ((uint32)v & 0xF0) > (ppr(a) & 0xF0) ? v : -1;
}

void lapic_ack(struct lapic *a, int vector)
{
  if (vector < 0 || !test_bit(a->irr, vector))
    return;
  clear_bit(a->irr, vector);
  set_bit(a->isr, vector);
}

// Also while the APIC is globally disabled: the 8259's INTR then reaches
// the CPU directly, as on a CPU without an APIC (§10.4.3; KVM's
// kvm_apic_accept_pic_intr).
int lapic_accepts_pic(const struct lapic *a)
{
  uint32 l = a->lvt[3];
  if (!lapic_enabled(a))
    return 1;
  return !(l & LVT_MASKED) && ((l >> LVT_DM_SHIFT) & 7) == DM_EXTINT;
}

// EOI (§10.8.5): retires the highest in-service vector; a level-triggered
// one is broadcast to the IOAPIC, which clears its Remote IRR.
static void eoi(struct lapic *a)
{
  int v = highest(a->isr);
  if (v < 0)
    return;
  clear_bit(a->isr, v);
  if (test_bit(a->tmr, v) && a->eoi_level)
    a->eoi_level(a->eoi_ctx, v);
}

void (*lapic_ipi_hook)(struct lapic *from);

// ICR write (§10.6.1): with one vcpu, fixed/lowest-priority IPIs to itself
// (shorthand self or all, or its own APIC ID, or broadcast 0xFF) and NMIs are
// delivered; with several, the hook (user/vmm/smp.c) delivers every kind.
static void send_ipi(struct lapic *a)
{
  uint32 lo = a->icr_lo, shorthand = (lo >> 18) & 3, dm = (lo >> 8) & 7;
  uint32 dest = a->icr_hi >> 24;
  int to_self = shorthand == 1 || shorthand == 2 || (shorthand == 0 && (dest == a->id || dest == 0xFF));
  a->icr_lo &= ~(1u << 12);   // delivery status: idle at once
  if (lapic_ipi_hook) {
    lapic_ipi_hook(a);   // several vcpus: smp.c delivers it
    return;
  }
  if (!to_self)
    return;
  if (dm == DM_FIXED || dm == DM_LOWEST)
    lapic_accept(a, lo & 0xFF, 0);
  else if (dm == DM_NMI)
    lapic_nmi(a);
}

static int read_reg(struct lapic *a, uint32 off, uint32 *v, uint64 now)
{
  if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x180) {   // ISR, TMR, IRR banks
    const uint32 *bank = off < LAPIC_TMR ? a->isr : off < LAPIC_IRR ? a->tmr : a->irr;
    *v = bank[((off - LAPIC_ISR) % 0x80) >> 4];
    return 0;
  }
  if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR) {
    *v = a->lvt[(off - LAPIC_LVT_TIMER) >> 4];
    return 0;
  }
  switch (off) {
  case LAPIC_ID: *v = a->id << 24; return 0;
  case LAPIC_VER: *v = LAPIC_VERSION; return 0;
  case LAPIC_TPR: *v = a->tpr; return 0;
  case LAPIC_APR: *v = 0; return 0;
  case LAPIC_PPR: *v = ppr(a); return 0;
  case LAPIC_EOI: *v = 0; return 0;
  case LAPIC_LDR: *v = a->ldr; return 0;
  case LAPIC_DFR: *v = a->dfr; return 0;
  case LAPIC_SVR: *v = a->svr; return 0;
  case LAPIC_ESR: *v = a->esr; return 0;
  case LAPIC_ICR_LO: *v = a->icr_lo; return 0;
  case LAPIC_ICR_HI: *v = a->icr_hi; return 0;
  case LAPIC_TIMER_ICR: *v = a->timer_icr; return 0;
  case LAPIC_TIMER_CCR: *v = timer_ccr(a, now); return 0;
  case LAPIC_TIMER_DCR: *v = a->timer_dcr; return 0;
  default: *v = 0; return 0;   // reserved: reads as 0
  }
}

// LVT writes: reserved bits dropped; while the APIC is software-disabled
// the mask bit stays set (§10.4.7.2).
static void write_lvt(struct lapic *a, int i, uint32 v, uint64 now)
{
  static const uint32 writable[6] = {0x700FF, 0x107FF, 0x107FF, 0x1A7FF, 0x1A7FF, 0x100FF};
  uint32 old_mode = a->lvt[0] & LVT_TIMER_MODE;
  a->lvt[i] = v & writable[i];
  if (i == 0 && !a->has_tsc_deadline)
    a->lvt[0] &= ~(1u << 18);   // no TSC-deadline mode: bit 18 dropped, as KVM's timer_mode_mask does
  if (!(a->svr & SVR_ENABLE))
    a->lvt[i] |= LVT_MASKED;
  if (i == 0 && ((old_mode ^ a->lvt[0]) & LVT_TIMER_TSC_DEADLINE)) {
    a->timer_icr = 0, a->timer_due = 0, a->tsc_deadline = 0;   // into or out of TSC-deadline: disarmed (KVM)
  } else if (i == 0 && (a->lvt[0] & LVT_TIMER_MODE) != old_mode) {
    timer_load(a, now);   // a mode change restarts the count
  }
}

static void write_svr(struct lapic *a, uint32 v)
{
  a->svr = v & 0x3FF;
  if (!(a->svr & SVR_ENABLE))
    for (int i = 0; i < 6; i++)
      a->lvt[i] |= LVT_MASKED;
}

static int write_reg(struct lapic *a, uint32 off, uint32 v, uint64 now)
{
  if (off >= LAPIC_LVT_TIMER && off <= LAPIC_LVT_ERROR) {
    write_lvt(a, (off - LAPIC_LVT_TIMER) >> 4, v, now);
    return 0;
  }
  switch (off) {
  case LAPIC_ID: a->id = v >> 24; return 0;
  case LAPIC_TPR: a->tpr = v & 0xFF; return 0;
  case LAPIC_EOI: eoi(a); return 0;
  case LAPIC_LDR: a->ldr = v & 0xFF000000; return 0;
  case LAPIC_DFR: a->dfr = v | 0x0FFFFFFF; return 0;
  case LAPIC_SVR: write_svr(a, v); return 0;
  case LAPIC_ESR: a->esr = a->esr_pending, a->esr_pending = 0; return 0;   // a write latches the errors
  case LAPIC_ICR_HI: a->icr_hi = v & 0xFF000000; return 0;
  case LAPIC_ICR_LO: a->icr_lo = v & 0x000CCFFF; send_ipi(a); return 0;
  case LAPIC_TIMER_ICR:
    if (!tsc_deadline_mode(a))   // ignored in TSC-deadline mode (§10.5.4.1)
      a->timer_icr = v, timer_load(a, now);
    return 0;
  case LAPIC_TIMER_DCR: {
    uint32 left = timer_ccr(a, now);
    a->timer_dcr = v & 0xB;
    if (left) {   // the remaining count goes on at the new rate
      a->timer_start = now - (uint64)(a->timer_icr - left) * ns_per_tick(a);
      a->timer_due = now + (uint64)left * ns_per_tick(a);
    }
    return 0;
  }
  default: return 0;   // read-only and reserved registers ignore writes
  }
}

// Register accesses: 32-bit, 16-byte aligned (§10.4.1), -1 for any other
// offset. The guest's accesses of every width go through lapic_mmio_read/
// lapic_mmio_write below.
int lapic_read(struct lapic *a, uint64 off, uint32 *val, uint64 now)
{
  if (off >= LAPIC_SIZE || off % 16)
    return -1;
  return read_reg(a, off, val, now);
}

int lapic_write(struct lapic *a, uint64 off, uint32 val, uint64 now)
{
  if (off >= LAPIC_SIZE || off % 16)
    return -1;
  return write_reg(a, off, val, now);
}

int lapic_enabled(const struct lapic *a) { return (a->base_msr & APIC_BASE_EN) != 0; }

// Guest accesses of any width to the APIC page. §10.4.1 defines only
// 32-bit accesses at 16-byte boundaries and leaves the rest undefined; a
// compiler's memset or a byte read must not end the guest, so this does
// what KVM's apic_mmio_read/apic_mmio_write do: a read of n bytes at byte
// b of a register (b + n <= 4) returns those bytes of its value, other
// reads return 0 (KVM leaves them undefined); a write that is not 32 bits
// at a 16-byte boundary is dropped. While APIC_BASE.EN is clear the page
// is not decoded: reads see all ones, writes go nowhere (KVM's MMIO-hole
// behaviour).
// In x2APIC mode the page is not decoded either (§10.12.1.2; KVM).
static int mmio_decoded(const struct lapic *a) { return lapic_enabled(a) && !(a->base_msr & APIC_BASE_EXTD); }

void lapic_mmio_read(struct lapic *a, uint64 off, void *buf, int n, uint64 now)
{
  uint32 v = 0, b = off & 0xF;
  memset(buf, mmio_decoded(a) ? 0 : 0xFF, n);
  if (!mmio_decoded(a) || off >= LAPIC_SIZE || b + n > 4)
    return;
  read_reg(a, off - b, &v, now);
  memmove(buf, (uint8 *)&v + b, n);
}

void lapic_mmio_write(struct lapic *a, uint64 off, const void *buf, int n, uint64 now)
{
  uint32 v;
  if (!mmio_decoded(a) || n != 4 || (off & 0xF) || off >= LAPIC_SIZE)
    return;
  memmove(&v, buf, 4);
  write_reg(a, off, v, now);
}

// Reserved bits and an address beyond MAXPHYADDR are #GP (§10.4.4).
int lapic_base_valid(uint64 v, int maxphyaddr)
{
  uint64 high = maxphyaddr >= 64 ? 0 : ~0UL << maxphyaddr;
  return !(v & (APIC_BASE_RESERVED | high));
}

// WRMSR APIC_BASE (§10.4.3, §10.4.4); the caller moves the page (apic.c).
// Clearing EN disables the APIC globally: its registers return to the
// power-up state of §10.4.7.1 (the SDM allows it; KVM keeps them), so
// nothing pending survives, and the page stops being decoded. Setting EN
// again brings it back in that state, software-disabled. BSP is kept as
// written, as KVM does.
int lapic_set_base(struct lapic *a, uint64 v, int maxphyaddr)
{
  if (!lapic_base_valid(v, maxphyaddr))
    return -1;
  if ((v ^ a->base_msr) & APIC_BASE_EN) {
    void (*eoi_level)(void *, int) = a->eoi_level;
    void *eoi_ctx = a->eoi_ctx;
    uint64 fired = a->fired;
    int has_tsc_deadline = a->has_tsc_deadline;
    lapic_reset(a, a->id0, 0);
    a->eoi_level = eoi_level, a->eoi_ctx = eoi_ctx, a->fired = fired, a->has_tsc_deadline = has_tsc_deadline;
  }
  a->base_msr = v;
  return 0;
}

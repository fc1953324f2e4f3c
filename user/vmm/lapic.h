// The local APIC model (lapic.c): an xAPIC at the APIC_BASE MSR's address
// (default 0xFEE00000), as Intel SDM Vol. 3A ch. 10 "Advanced Programmable
// Interrupt Controller (APIC)" and AMD APM Vol. 2 §16 "Advanced
// Programmable Interrupt Controller (APIC)" define it. One per vcpu.
//
// The model keeps time in nanoseconds of the host clock given to each call,
// so that a test bench can drive it with a fake clock (user/apictest.c), and
// it knows nothing of system calls: the VMM asks it for the vector to raise
// on the vcpu's INTR line (lapic_pending), tells it which vector the kernel
// injected (lapic_ack), and asks for its next timer deadline.
#pragma once
#include "../../kern/types.h"

#define LAPIC_BASE_DEFAULT 0xFEE00000UL
#define LAPIC_SIZE 0x1000
#define LAPIC_VERSION 0x00050014   // version 0x14 (integrated xAPIC), max LVT entry 5 (the error LVT)

// Register offsets (SDM Vol. 3A Table 10-1).
#define LAPIC_ID 0x020
#define LAPIC_VER 0x030
#define LAPIC_TPR 0x080
#define LAPIC_APR 0x090
#define LAPIC_PPR 0x0A0
#define LAPIC_EOI 0x0B0
#define LAPIC_RRD 0x0C0
#define LAPIC_LDR 0x0D0
#define LAPIC_DFR 0x0E0
#define LAPIC_SVR 0x0F0
#define LAPIC_ISR 0x100
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_THERMAL 0x330
#define LAPIC_LVT_PERF 0x340
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3E0

// LVT and ICR bits.
#define LVT_MASKED (1u << 16)
#define LVT_LEVEL (1u << 15)
#define LVT_TIMER_PERIODIC (1u << 17)
#define LVT_TIMER_MODE (3u << 17)
#define LVT_TIMER_TSC_DEADLINE (2u << 17)   // §10.5.4.1: IA32_TSC_DEADLINE arms the timer
#define LVT_DM_SHIFT 8
#define DM_FIXED 0
#define DM_LOWEST 1
#define DM_SMI 2
#define DM_NMI 4
#define DM_INIT 5
#define DM_SIPI 6
#define DM_EXTINT 7
#define SVR_ENABLE (1u << 8)

// The APIC_BASE MSR 0x1B (SDM Vol. 3A §10.4.4 Figure 10-5; APM Vol. 2
// §16.3.1): bits 51:12 the page, 11 the global enable, 8 BSP. Bits 7:0, 9
// and 10 (x2APIC enable, which this xAPIC does not offer) are reserved.
#define APIC_BASE_MSR 0x1B
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_EN (1u << 11)
#define APIC_BASE_EXTD (1u << 10)   // x2APIC mode (§10.12.1), for guests offered it (x2apic.c)
#define APIC_BASE_RESERVED 0x6FFUL

// The APIC bus clock the timer counts: 1 GHz, one count per ns before the
// divider (as KVM's APIC_BUS_CYCLE_NS = 1).
#define LAPIC_NS_PER_COUNT 1

struct lapic {
  uint64 base_msr;          // APIC_BASE: EN clear = globally disabled, the page not decoded
  uint32 id, id0;           // APIC ID now, and at reset (power-up, or after a global disable)
  uint32 tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
  uint32 lvt[6];            // timer, thermal, perf, LINT0, LINT1, error (offsets 0x320..0x370)
  uint32 irr[8], isr[8], tmr[8];   // 256 bits each, bit v of vector v
  uint32 timer_icr, timer_dcr;
  uint64 timer_start;       // ns when the current count was loaded
  uint64 timer_due;         // ns of the next expiry, 0 if none
  uint64 tsc_deadline;      // TSC-deadline mode: IA32_TSC_DEADLINE (0: disarmed)
  int has_tsc_deadline;     // CPUID offers it (kvmpv.c): else LVT timer bit 18 is reserved (KVM)
  int nmi_pending;          // NMIs the VMM must inject (ICR, LINT1): a count (lapic_nmi)
  uint64 fired;             // timer interrupts raised (statistics)
  // Level-triggered EOI: the IOAPIC clears its Remote IRR (ioapic_eoi).
  void (*eoi_level)(void *ctx, int vector);
  void *eoi_ctx;
};

// With several vcpus (user/vmm/smp.c) every ICR write goes here instead
// (NULL: the one-vcpu self-IPIs below).
extern void (*lapic_ipi_hook)(struct lapic *from);

void lapic_reset(struct lapic *a, uint32 id, int bsp);
int lapic_read(struct lapic *a, uint64 off, uint32 *val, uint64 now);
int lapic_write(struct lapic *a, uint64 off, uint32 val, uint64 now);
// A guest access of n bytes (1, 2, 4, 8) at off in the APIC page, as KVM's
// apic_mmio_read/apic_mmio_write answer it; never refused.
void lapic_mmio_read(struct lapic *a, uint64 off, void *buf, int n, uint64 now);
void lapic_mmio_write(struct lapic *a, uint64 off, const void *buf, int n, uint64 now);
int lapic_base_valid(uint64 v, int maxphyaddr);                 // an APIC_BASE value a WRMSR may write
int lapic_set_base(struct lapic *a, uint64 v, int maxphyaddr);   // WRMSR APIC_BASE: 0, or -1 for #GP
int lapic_enabled(const struct lapic *a);                        // APIC_BASE.EN
void lapic_accept(struct lapic *a, int vector, int level);   // an interrupt arrives (IRR)
void lapic_nmi(struct lapic *a);                             // an NMI arrives (counted)
int lapic_pending(struct lapic *a);                          // vector to deliver now, or -1
void lapic_ack(struct lapic *a, int vector);                 // the CPU took it: IRR -> ISR
void lapic_advance(struct lapic *a, uint64 now);             // fire an expired timer
uint64 lapic_deadline(const struct lapic *a);                // ns of the next timer expiry, 0 none
// IA32_TSC_DEADLINE (MSR 6E0h, §10.5.4.1): in TSC-deadline mode a write arms
// the timer for TSC value tsc, which the caller found to fall at due_ns (0
// disarms); in other modes writes are ignored and reads return 0.
void lapic_set_tsc_deadline(struct lapic *a, uint64 tsc, uint64 due_ns);
uint64 lapic_tsc_deadline(const struct lapic *a);
int lapic_accepts_pic(const struct lapic *a);                // LINT0 is ExtINT and unmasked

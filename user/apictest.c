// apictest: the VMM's local APIC and I/O APIC models (user/vmm/lapic.c,
// ioapic.c) driven register by register with a fake clock, against what the
// Intel SDM (Vol. 3A ch. 10) and the 82093AA datasheet say they must do:
// reset state, priorities (TPR/PPR, one vector per class in service), EOI,
// the timer's one-shot and periodic modes and divider, self-IPIs, LINT0 as
// the 8259's virtual wire, IOAPIC routing, masks, edge versus level and
// Remote IRR, the APIC bus's destinations and routing to several APICs. Prints failed checks and "apictest: N checks, M failed".
#include "user.h"
#include "../user/vmm/ioapic.h"

static int checks, failed;

static void check(int ok, const char *what, long seen, long want)
{
  checks++;
  if (!ok) {
    failed++;
    printf("apictest: FAIL: %s: got 0x%lx, expected 0x%lx\n", what, seen, want);
  }
}
#define EQ(what, seen, want) check((long)(seen) == (long)(want), what, (long)(seen), (long)(want))

static uint32 rd(struct lapic *a, uint32 off, uint64 now)
{
  uint32 v = 0xDEAD;
  check(lapic_read(a, off, &v, now) == 0, "aligned 32-bit read accepted", off, 0);
  return v;
}
static void wr(struct lapic *a, uint32 off, uint32 v, uint64 now) { lapic_write(a, off, v, now); }

static void reset_state(void)
{
  struct lapic a, b;
  lapic_reset(&a, 3, 1);
  lapic_reset(&b, 1, 0);
  EQ("ID register holds the APIC ID in bits 31:24", rd(&a, LAPIC_ID, 0), 3u << 24);
  EQ("version: 0x14, max LVT 5", rd(&a, LAPIC_VER, 0), 0x00050014);
  EQ("SVR after reset: 0xFF, software-disabled", rd(&a, LAPIC_SVR, 0), 0xFF);
  EQ("timer LVT masked after reset", rd(&a, LAPIC_LVT_TIMER, 0), LVT_MASKED);
  EQ("BSP: LINT0 is the 8259's virtual wire (ExtINT)", lapic_accepts_pic(&a), 1);
  EQ("AP: LINT0 masked", lapic_accepts_pic(&b), 0);
  lapic_accept(&a, 0x40, 0);
  EQ("software-disabled APIC delivers nothing", lapic_pending(&a), -1);
  wr(&a, LAPIC_LVT_TIMER, 0x20, 0);
  EQ("LVT mask stays set while software-disabled", rd(&a, LAPIC_LVT_TIMER, 0) & LVT_MASKED, LVT_MASKED);
  uint32 v;
  EQ("unaligned access refused", lapic_read(&a, LAPIC_TPR + 4, &v, 0), -1);
}

static void priorities(void)
{
  struct lapic a;
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  lapic_accept(&a, 0x30, 0);
  lapic_accept(&a, 0x50, 0);
  EQ("highest requested vector first", lapic_pending(&a), 0x50);
  EQ("IRR bank 2 shows vector 0x50", rd(&a, LAPIC_IRR + 0x20, 0), 1u << 16);
  lapic_ack(&a, 0x50);
  EQ("ack moves 0x50 to ISR", rd(&a, LAPIC_ISR + 0x20, 0), 1u << 16);
  EQ("PPR is the in-service class", rd(&a, LAPIC_PPR, 0), 0x50);
  EQ("a lower class waits while 0x50 is in service", lapic_pending(&a), -1);
  lapic_accept(&a, 0x55, 0);
  EQ("the same class waits too", lapic_pending(&a), -1);
  wr(&a, LAPIC_EOI, 0, 0);
  EQ("EOI retires 0x50; 0x55 goes next", lapic_pending(&a), 0x55);
  lapic_ack(&a, 0x55);
  wr(&a, LAPIC_EOI, 0, 0);
  wr(&a, LAPIC_TPR, 0x40, 0);
  EQ("TPR 0x40 holds back class 4 and below", lapic_pending(&a), -1);
  EQ("PPR follows the TPR", rd(&a, LAPIC_PPR, 0), 0x40);
  lapic_accept(&a, 0x51, 0);
  EQ("TPR 0x40 lets class 5 through", lapic_pending(&a), 0x51);
  lapic_accept(&a, 5, 0);
  wr(&a, LAPIC_ESR, 0, 0);
  EQ("an illegal vector sets ESR bit 6", rd(&a, LAPIC_ESR, 0), 0x40);
}

static void timer(void)
{
  struct lapic a;
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_TIMER_DCR, 0x3, 0);          // divide by 16
  wr(&a, LAPIC_LVT_TIMER, 0x31, 0);         // one-shot, vector 0x31
  wr(&a, LAPIC_TIMER_ICR, 1000, 1000);
  EQ("one-shot deadline: 1000 counts x 16 ns", lapic_deadline(&a), 1000 + 16000);
  EQ("current count halfway", rd(&a, LAPIC_TIMER_CCR, 1000 + 8000), 500);
  lapic_advance(&a, 16999);
  EQ("not fired before its time", lapic_pending(&a), -1);
  lapic_advance(&a, 17000);
  EQ("fired at its time", lapic_pending(&a), 0x31);
  EQ("one-shot: no next deadline", lapic_deadline(&a), 0);
  EQ("one-shot: count stays 0", rd(&a, LAPIC_TIMER_CCR, 50000), 0);
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_TIMER_DCR, 0xB, 0);          // divide by 1
  wr(&a, LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | 0x32, 0);
  wr(&a, LAPIC_TIMER_ICR, 1000000, 0);     // 1 ms
  lapic_advance(&a, 10500000);
  EQ("periodic: 10 expiries in 10.5 ms", a.fired, 10);
  EQ("periodic: next deadline", lapic_deadline(&a), 11000000);
  EQ("periodic: count reloads", rd(&a, LAPIC_TIMER_CCR, 10500000), 500000);
  wr(&a, LAPIC_TIMER_DCR, 0x0, 10500000);   // divide by 2 from now on
  EQ("divider change keeps the remaining count", rd(&a, LAPIC_TIMER_CCR, 10500000), 500000);
  EQ("divider change stretches the rest", lapic_deadline(&a), 10500000 + 1000000);
  wr(&a, LAPIC_TIMER_DCR, 0xB, 0);
  wr(&a, LAPIC_TIMER_ICR, 100, 0);          // 100 ns: held at the VMM's 200 us minimum (KVM's too)
  EQ("periodic: a period under 200 us is 200 us", lapic_deadline(&a), 200000);
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_LVT_TIMER, LVT_MASKED | 0x33, 0);
  wr(&a, LAPIC_TIMER_ICR, 10, 0);
  lapic_advance(&a, 1000);
  EQ("a masked timer counts but raises nothing", lapic_pending(&a) == -1 && a.fired == 1, 1);
  wr(&a, LAPIC_TIMER_ICR, 0, 1000);
  EQ("initial count 0 stops the timer", lapic_deadline(&a), 0);
}

static int eoi_seen = -1;
static void note_eoi(void *ctx, int v) { eoi_seen = v; }

static void ipis(void)
{
  struct lapic a;
  lapic_reset(&a, 2, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_ICR_LO, (1 << 18) | 0x70, 0);    // self
  EQ("self-IPI by shorthand", lapic_pending(&a), 0x70);
  lapic_ack(&a, 0x70);
  wr(&a, LAPIC_EOI, 0, 0);
  wr(&a, LAPIC_ICR_HI, 5u << 24, 0);
  wr(&a, LAPIC_ICR_LO, 0x71, 0);                // to APIC 5: not us
  EQ("an IPI to another APIC does not arrive here", lapic_pending(&a), -1);
  wr(&a, LAPIC_ICR_HI, 2u << 24, 0);
  wr(&a, LAPIC_ICR_LO, 0x72, 0);
  EQ("an IPI to our own APIC ID", lapic_pending(&a), 0x72);
  wr(&a, LAPIC_ICR_LO, (1 << 18) | (DM_NMI << 8), 0);
  EQ("an NMI IPI", a.nmi_pending, 1);
  wr(&a, LAPIC_ICR_LO, (1 << 18) | (DM_NMI << 8), 0);
  wr(&a, LAPIC_ICR_LO, (1 << 18) | (DM_NMI << 8), 0);
  EQ("three NMI IPIs before the vcpu looks: two kept (one taken, one held behind it)", a.nmi_pending, 2);
  a.nmi_pending = 0;
  EQ("ICR delivery status reads idle", rd(&a, LAPIC_ICR_LO, 0) & (1 << 12), 0);
  a.eoi_level = note_eoi;
  lapic_ack(&a, 0x72);
  lapic_accept(&a, 0x80, 1);
  lapic_ack(&a, 0x80);
  wr(&a, LAPIC_EOI, 0, 0);
  EQ("EOI of a level-triggered vector is broadcast", eoi_seen, 0x80);
  eoi_seen = -1;
  wr(&a, LAPIC_EOI, 0, 0);   // retires 0x72, edge-triggered
  EQ("EOI of an edge-triggered vector is not broadcast", eoi_seen, -1);
}

static uint32 io_rd(struct ioapic *io, uint32 reg)
{
  uint32 v;
  ioapic_write(io, 0, reg);
  ioapic_read(io, 0x10, &v);
  return v;
}
static void io_wr(struct ioapic *io, uint32 reg, uint32 v)
{
  ioapic_write(io, 0, reg);
  ioapic_write(io, 0x10, v);
}

static void ioapic(void)
{
  struct lapic a;
  struct ioapic io;
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  ioapic_reset(&io, 1);
  io.apic = &a;
  a.eoi_level = ioapic_eoi, a.eoi_ctx = &io;
  EQ("IOAPIC version: 24 entries, version 0x11", io_rd(&io, 1), 0x170011);
  EQ("IOAPIC ID", io_rd(&io, 0), 1u << 24);
  EQ("entries masked after reset", io_rd(&io, 0x10 + 2 * 4) & (1 << 16), 1 << 16);
  ioapic_set_irq(&io, 4, 1);
  EQ("a masked pin raises nothing", lapic_pending(&a), -1);
  ioapic_set_irq(&io, 4, 0);
  io_wr(&io, 0x10 + 2 * 2 + 1, 0);          // pin 2 to APIC 0
  io_wr(&io, 0x10 + 2 * 2, 0x30);           // edge, unmasked, vector 0x30
  ioapic_set_irq(&io, 2, 1);
  EQ("edge pin delivers its vector", lapic_pending(&a), 0x30);
  lapic_ack(&a, 0x30);
  ioapic_set_irq(&io, 2, 1);
  EQ("no new edge while the line stays high", lapic_pending(&a), -1);
  wr(&a, LAPIC_EOI, 0, 0);
  io_wr(&io, 0x10 + 2 * 9, (1 << 15) | 0x39);   // level, vector 0x39
  ioapic_set_irq(&io, 9, 1);
  EQ("level pin delivers", lapic_pending(&a), 0x39);
  EQ("level pin sets Remote IRR", io_rd(&io, 0x10 + 2 * 9) & (1 << 14), 1 << 14);
  lapic_ack(&a, 0x39);
  ioapic_set_irq(&io, 9, 1);
  EQ("nothing more while Remote IRR is set", rd(&a, LAPIC_IRR + 0x10, 0) & (1u << (0x39 - 32)), 0);
  wr(&a, LAPIC_EOI, 0, 0);
  EQ("EOI with the line still high delivers again", lapic_pending(&a), 0x39);
  lapic_ack(&a, 0x39);
  ioapic_set_irq(&io, 9, 0);
  wr(&a, LAPIC_EOI, 0, 0);
  EQ("EOI after the line fell: nothing", lapic_pending(&a), -1);
  EQ("Remote IRR cleared by the EOI", io_rd(&io, 0x10 + 2 * 9) & (1 << 14), 0);
  io_wr(&io, 0x10 + 2 * 9, (1 << 15) | (1 << 14) | 0x39);
  EQ("Remote IRR is read-only", io_rd(&io, 0x10 + 2 * 9) & (1 << 14), 0);
  io_wr(&io, 0x10 + 2 * 3 + 1, 5u << 24);
  io_wr(&io, 0x10 + 2 * 3, 0x33);
  ioapic_set_irq(&io, 3, 1);
  EQ("a pin aimed at another APIC raises nothing here", lapic_pending(&a), -1);
  wr(&a, LAPIC_LDR, 1u << 24, 0);
  io_wr(&io, 0x10 + 2 * 5 + 1, 1u << 24);
  io_wr(&io, 0x10 + 2 * 5, (1 << 11) | 0x35);   // logical destination 1
  ioapic_set_irq(&io, 5, 1);
  EQ("logical destination matching the LDR", lapic_pending(&a), 0x35);
}

// Guest accesses of every width (SDM §10.4.1 defines only aligned 32-bit
// ones; KVM's apic_mmio_read/write answer the rest) and APIC_BASE.EN
// (§10.4.3: a globally disabled APIC takes nothing, its page is not
// decoded, and it comes back in its power-up state).
static void widths_and_enable(void)
{
  struct lapic a;
  uint8 b[8];
  uint32 v = 0;
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_TPR, 0x20, 0);
  lapic_mmio_read(&a, LAPIC_SVR + 1, b, 1, 0);
  EQ("byte 1 of SVR", b[0], 0x01);
  lapic_mmio_read(&a, LAPIC_VER + 2, b, 2, 0);
  EQ("bytes 2-3 of the version register", b[0] | b[1] << 8, 0x0005);
  lapic_mmio_read(&a, LAPIC_SVR + 2, b, 4, 0);
  EQ("a read crossing the register's low dword reads 0", b[0] | b[3], 0);
  lapic_mmio_write(&a, LAPIC_SVR, "\0", 1, 0);
  lapic_mmio_write(&a, LAPIC_TPR + 4, "\x70\0\0\0", 4, 0);
  lapic_mmio_write(&a, LAPIC_TPR, "\x50\0\0\0\0\0\0\0", 8, 0);
  EQ("byte write to SVR dropped", rd(&a, LAPIC_SVR, 0), 0x1FF);
  EQ("unaligned and 64-bit writes to TPR dropped", rd(&a, LAPIC_TPR, 0), 0x20);
  lapic_mmio_write(&a, LAPIC_TPR, "\x30\0\0\0", 4, 0);
  EQ("aligned 32-bit write taken", rd(&a, LAPIC_TPR, 0), 0x30);
  lapic_accept(&a, 0x80, 0);
  EQ("a new page is a valid base (apic.c moves the window)", lapic_base_valid(0xFED00900, 48), 1);
  EQ("bit 10 (x2APIC enable) refused", lapic_base_valid(0xFEE00D00, 48), 0);
  EQ("reserved bit 9 refused", lapic_set_base(&a, 0xFEE00B00, 48), -1);
  EQ("address beyond MAXPHYADDR refused", lapic_set_base(&a, 0x1000FEE00900UL, 40), -1);
  EQ("global disable taken", lapic_set_base(&a, 0xFEE00100, 48), 0);
  EQ("disabled: nothing pending", lapic_pending(&a), -1);
  EQ("disabled: the 8259 reaches the CPU", lapic_accepts_pic(&a), 1);
  lapic_mmio_read(&a, LAPIC_TPR, &v, 4, 0);
  EQ("disabled: the page reads all ones", v, 0xFFFFFFFF);
  lapic_mmio_write(&a, LAPIC_TPR, "\x40\0\0\0", 4, 0);
  lapic_accept(&a, 0x90, 0);
  EQ("re-enable taken", lapic_set_base(&a, 0xFEE00900, 48), 0);
  EQ("re-enabled: power-up SVR", rd(&a, LAPIC_SVR, 0), 0xFF);
  EQ("re-enabled: TPR 0, the write while disabled lost", rd(&a, LAPIC_TPR, 0), 0);
  EQ("re-enabled: IRR empty", rd(&a, LAPIC_IRR + 0x40, 0), 0);
  EQ("re-enabled: LINT0 masked (power-up, not the BIOS's virtual wire)", lapic_accepts_pic(&a), 0);
}

// TSC-deadline mode (§10.5.4.1), offered only with KVM's interface: without
// it LVT bit 18 is reserved; with it the initial count is ignored, the
// deadline arms the timer, firing disarms it, leaving the mode disarms.
static void tsc_deadline(void)
{
  struct lapic a;
  lapic_reset(&a, 0, 1);
  wr(&a, LAPIC_SVR, 0x1FF, 0);
  wr(&a, LAPIC_LVT_TIMER, 0x40 | LVT_TIMER_TSC_DEADLINE, 0);
  EQ("no TSC-deadline offered: LVT bit 18 reserved", rd(&a, LAPIC_LVT_TIMER, 0), 0x40);
  a.has_tsc_deadline = 1;
  wr(&a, LAPIC_LVT_TIMER, 0x40 | LVT_TIMER_TSC_DEADLINE, 0);
  EQ("TSC-deadline mode taken", rd(&a, LAPIC_LVT_TIMER, 0), 0x40 | LVT_TIMER_TSC_DEADLINE);
  wr(&a, LAPIC_TIMER_ICR, 1000, 0);
  EQ("initial count ignored in TSC-deadline mode", rd(&a, LAPIC_TIMER_ICR, 0), 0);
  EQ("initial count arms nothing", lapic_deadline(&a), 0);
  lapic_set_tsc_deadline(&a, 123456, 5000);
  EQ("the deadline reads back", lapic_tsc_deadline(&a), 123456);
  EQ("armed for its time", lapic_deadline(&a), 5000);
  lapic_advance(&a, 4999);
  EQ("not before its time", lapic_pending(&a), -1);
  lapic_advance(&a, 5000);
  EQ("fires at its time", lapic_pending(&a), 0x40);
  EQ("firing disarms: the MSR reads 0", lapic_tsc_deadline(&a), 0);
  EQ("and once only", lapic_deadline(&a), 0);
  lapic_set_tsc_deadline(&a, 999, 9000);
  lapic_set_tsc_deadline(&a, 0, 0);
  EQ("0 disarms", lapic_deadline(&a), 0);
  lapic_set_tsc_deadline(&a, 999, 9000);
  wr(&a, LAPIC_LVT_TIMER, 0x40, 0);
  EQ("leaving the mode disarms", lapic_deadline(&a), 0);
  lapic_set_tsc_deadline(&a, 777, 9000);
  EQ("writes outside the mode ignored", lapic_tsc_deadline(&a), 0);
  EQ("and arm nothing", lapic_deadline(&a), 0);
}

// The APIC bus's addressing (SDM Vol. 3A §10.6.2) and the I/O APIC routing
// to several local APICs (user/vmm/smp.c's vcpus): physical IDs and 0xFF,
// logical flat (8-bit masks) and cluster (cluster number in bits 7:4, a
// 4-bit mask below), a logical 0xFF; fixed to every destination, lowest
// priority to the one with the lowest TPR, NMI.
static int accepted[4];
static void count_accept(int i, int vector, int level) { accepted[i] = vector; }

static void bus(void)
{
  struct lapic a[4];
  struct ioapic io;
  for (int i = 0; i < 4; i++) {
    lapic_reset(&a[i], i, i == 0);
    wr(&a[i], LAPIC_SVR, 0x1FF, 0);
  }
  EQ("physical: its own ID", lapic_match_dest(&a[2], 2, 0), 1);
  EQ("physical: another ID", lapic_match_dest(&a[2], 3, 0), 0);
  EQ("physical: 0xFF is everyone", lapic_match_dest(&a[3], 0xFF, 0), 1);
  wr(&a[1], LAPIC_LDR, 0x02000000, 0);   // flat, bit 1
  EQ("flat: a mask with its bit", lapic_match_dest(&a[1], 0x06, 1), 1);
  EQ("flat: a mask without its bit", lapic_match_dest(&a[1], 0x05, 1), 0);
  EQ("logical 0xFF is everyone", lapic_match_dest(&a[0], 0xFF, 1), 1);
  wr(&a[1], LAPIC_DFR, 0x0FFFFFFF, 0);   // cluster model
  wr(&a[1], LAPIC_LDR, 0x32000000, 0);   // cluster 3, bit 1
  EQ("cluster: same cluster, its bit", lapic_match_dest(&a[1], 0x36, 1), 1);
  EQ("cluster: same cluster, not its bit", lapic_match_dest(&a[1], 0x35, 1), 0);
  EQ("cluster: another cluster with its bit", lapic_match_dest(&a[1], 0x22, 1), 0);
  wr(&a[1], LAPIC_DFR, 0xFFFFFFFF, 0);
  for (int i = 0; i < 4; i++)
    wr(&a[i], LAPIC_LDR, (1u << i) << 24, 0);
  ioapic_reset(&io, 4);
  io.apic = a, io.napic = 4;
  io_wr(&io, 0x10 + 2 * 5 + 1, 0x06u << 24);       // pin 5: logical mask 0110
  io_wr(&io, 0x10 + 2 * 5, (1 << 11) | 0x41);      // logical, fixed, edge, vector 0x41
  ioapic_set_irq(&io, 5, 1);
  EQ("logical fixed: APIC 1 has it", lapic_pending(&a[1]), 0x41);
  EQ("logical fixed: APIC 2 has it", lapic_pending(&a[2]), 0x41);
  EQ("logical fixed: not APIC 0", lapic_pending(&a[0]), -1);
  EQ("logical fixed: not APIC 3", lapic_pending(&a[3]), -1);
  io.accept = count_accept;
  wr(&a[1], LAPIC_TPR, 0x20, 0);
  wr(&a[2], LAPIC_TPR, 0x10, 0);
  io_wr(&io, 0x10 + 2 * 6 + 1, 0x06u << 24);
  io_wr(&io, 0x10 + 2 * 6, (1 << 11) | (1 << 8) | 0x52);   // logical, lowest priority
  ioapic_set_irq(&io, 6, 1);
  EQ("lowest priority: only the lower TPR (APIC 2)", accepted[1] * 256 + accepted[2], 0x52);
  io_wr(&io, 0x10 + 2 * 7 + 1, 3u << 24);
  io_wr(&io, 0x10 + 2 * 7, 4 << 8);                // physical APIC 3, NMI
  ioapic_set_irq(&io, 7, 1);
  EQ("NMI through the I/O APIC to APIC 3", a[3].nmi_pending * 2 + a[0].nmi_pending, 2);
}

int main(void)
{
  reset_state();
  widths_and_enable();
  priorities();
  timer();
  ipis();
  ioapic();
  tsc_deadline();
  bus();
  printf("apictest: %d checks, %d failed\n", checks, failed);
  return failed ? 1 : 0;
}

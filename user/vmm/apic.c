// The board's APICs (issue 13): for a guest that has them (multiboot kernels,
// `vmm -k` of a multiboot image), the local APIC (lapic.c) at 0xFEE00000 and
// the I/O APIC (ioapic.c) at 0xFEC00000 as MMIO devices, the interrupt
// requests of the PIT, UART and RTC also on the I/O APIC's pins (IRQ0 on pin
// 2, as the MADT's override says; others on their own numbers), the ACPI
// tables that name them with the ACPI PM registers (acpipm.c) their FADT
// points to, and QEMU's fw_cfg ports. The MADT's processors and fw_cfg's CPU
// count both come from `vmm -V N`, the vcpus guest_setup creates, one local
// APIC each (APIC ID = vcpu index). The page at 0xFEE00000 is each vcpu's own
// APIC: an access goes to the APIC of the vcpu whose exit is being handled
// (apic_select, called by smp.c under the VMM lock). Each vcpu has one INTR line
// (kern/vmabi.h): it carries the local APIC's highest deliverable vector, or,
// while LINT0 is the 8259's virtual wire (ExtINT), the PIC's. Whichever
// supplied the vector gets the INTA when the kernel reports it injected.
// The APIC_BASE MSR and CPUID.1 EDX.APIC live here too (docs/cpu-model.md).
#include "vmm.h"
#include "mmio.h"
#include "ioapic.h"
#include "acpi.h"
#include "fwcfg.h"
#include "kvmpv.h"
#include "virtio_console.h"

struct apics {
  struct lapic lapics[GUEST_MAXVCPUS];
  struct lapic *lapic; // the current vcpu's (apic_select)
  int n, cur;
  struct ioapic ioapic;
  struct fwcfg fwcfg;
  struct acpi_pm pm;
  int from_apic[GUEST_MAXVCPUS];   // the vector on a line came from the local APIC (else the PIC)
  int ready;           // apic_setup ran: apic_attach gives them to the board
};
static struct apics apics;   // one guest per VMM process

// The vcpu whose exit the VMM handles now: its local APIC is the one the
// page, the APIC_BASE MSR, CR8 and the line functions below see.
void apic_select(int i)
{
  if (i >= 0 && i < GUEST_MAXVCPUS) {
    apics.cur = i;
    apics.lapic = &apics.lapics[i];
  }
}

// Local APIC i (smp.c delivers IPIs into them); NULL if the guest has no APICs.
struct lapic *apic_lapic(int i)
{
  return apics.ready && i >= 0 && i < apics.n ? &apics.lapics[i] : NULL;
}

// The local APIC's page takes accesses of every width (lapic.c says how).
static int lapic_dev_read(void *dev, uint64 off, void *buf, int n)
{
  lapic_mmio_read(((struct apics *)dev)->lapic, off, buf, n, guest_now());
  return 0;
}

static int lapic_dev_write(void *dev, uint64 off, const void *buf, int n)
{
  lapic_mmio_write(((struct apics *)dev)->lapic, off, buf, n, guest_now());
  return 0;
}

// The I/O APIC's window takes accesses of every width too, as KVM's
// ioapic_mmio_read/ioapic_mmio_write answer them (the 82093AA datasheet
// defines only 32-bit ones): an access at IOREGSEL or IOWIN reads the
// register's low bytes, zero-extended to 8, or writes the access's value
// (narrow ones zero-extended, 8 bytes cut to 32 bits); any other offset
// reads 0 and takes nothing.
static int ioapic_mmio_read(void *dev, uint64 off, void *buf, int n)
{
  uint32 v = 0;
  uint64 q;
  if (n > 8)
    return -1;
  if (off == 0x00 || off == 0x10)
    ioapic_read(dev, off, &v);
  q = v;
  memmove(buf, &q, n);
  return 0;
}

static int ioapic_mmio_write(void *dev, uint64 off, const void *buf, int n)
{
  uint64 q = 0;
  if (n > 8)
    return -1;
  memmove(&q, buf, n);
  if (off == 0x00 || off == 0x10)
    ioapic_write(dev, off, (uint32)q);
  return 0;
}

// The I/O APIC pin of ISA irq: its own number, but the PIT's IRQ0 is wired
// to pin 2 (the MADT's interrupt source override says so).
static int pin_of(int irq) { return irq == 0 ? 2 : irq; }

// A chip's request line changed (pic_set_irq): the I/O APIC sees it too.
static void to_ioapic(void *ctx, int irq, int level)
{
  struct apics *a = ((struct board *)ctx)->apics;
  ioapic_set_irq(&a->ioapic, pin_of(irq), level);
}

// Whether the I/O APIC pin of the PIC's irq would take its edges now.
static int ioapic_open(void *ctx, int irq)
{
  struct apics *a = ((struct board *)ctx)->apics;
  return !ioapic_pin_masked(&a->ioapic, pin_of(irq));
}

// A device's interrupt line on I/O APIC pin gsi, for devices with no ISA IRQ
// (virtio_console.c); nothing without the APIC board.
void apic_set_gsi(int gsi, int level)
{
  if (apics.ready)
    ioapic_set_irq(&apics.ioapic, gsi, level);
}

// Gives g the APICs, fw_cfg and ACPI tables. 0, or -1 after saying why.
int apic_setup(struct guest *g)
{
  struct apics *a = &apics;
  a->n = g->o->nvcpus > 1 ? g->o->nvcpus : 1;
  for (int i = 0; i < a->n; i++) {
    lapic_reset(&a->lapics[i], i, i == 0);
    a->lapics[i].eoi_level = ioapic_eoi, a->lapics[i].eoi_ctx = &a->ioapic;
  }
  apic_select(0);
  // The I/O APIC's ID follows the processors' (the MADT says so): 1 with one vcpu, as before.
  ioapic_reset(&a->ioapic, a->n);
  a->ioapic.apic = a->lapics;
  a->ioapic.napic = a->n;
  a->ioapic.notify = smp_notify;
  a->ioapic.accept = smp_accept;
  fwcfg_init(&a->fwcfg, g->hdr.memsize, a->n);
  acpi_pm_reset(&a->pm);
  struct mmio_dev l = {"lapic", LAPIC_BASE_DEFAULT, LAPIC_SIZE, lapic_dev_read, lapic_dev_write, a};
  struct mmio_dev io = {"ioapic", IOAPIC_BASE_DEFAULT, IOAPIC_SIZE, ioapic_mmio_read, ioapic_mmio_write,
                        &a->ioapic};
  struct acpi_config c = {a->n, LAPIC_BASE_DEFAULT, (uint8)a->n, IOAPIC_BASE_DEFAULT, 0, 0};
  if (g->o->virtio_console)   // the DSDT names its registers and pin (acpi.c)
    c.virtio_base = VIRTIO_CONSOLE_BASE, c.virtio_gsi = VIRTIO_CONSOLE_GSI;
  if (mmio_add(&l) < 0 || mmio_add(&io) < 0 || !acpi_build(g->mem, g->hdr.memsize, ACPI_BASE_DEFAULT, &c)) {
    printf("vmm: %s: no room for the APICs or the ACPI tables\n", g->name);
    return -1;
  }
  a->ready = 1;
  return 0;
}

// Puts the APICs on a freshly initialised board (loop_init), if this guest has them.
void apic_attach(struct board *b)
{
  if (!apics.ready)
    return;
  b->apics = &apics;
  b->pic.line_hook = to_ioapic;
  b->pic.line_open = ioapic_open;
}

// The vector vcpu i's line should carry now, or -1; *from_apic says whose.
static int line_of(struct board *b, int i, int *from_apic)
{
  struct apics *a = b->apics;
  *from_apic = 0;
  if (!a)
    return i == 0 ? pic_output(&b->pic) : -1;
  int v = lapic_pending(&a->lapics[i]);
  *from_apic = v >= 0;
  if (v < 0 && lapic_accepts_pic(&a->lapics[i]))
    v = pic_output(&b->pic);
  return v;
}

// The vector the current vcpu's line should carry now, or -1.
int apic_line(struct board *b)
{
  int i = b->apics ? b->apics->cur : 0, from;
  int v = line_of(b, i, &from);
  if (b->apics)
    b->apics->from_apic[i] = from;
  return v;
}

// The same for vcpu i, without side effects (smp.c: whom the PIC's output
// concerns after another vcpu's exit).
int apic_line_of(struct board *b, int i)
{
  int from;
  return line_of(b, i, &from);
}

// The kernel injected vector from the line: the INTA of whoever supplied
// it. Returns the vector that source acknowledges.
int apic_intack(struct board *b, int vector)
{
  struct apics *a = b->apics;
  if (!a || !a->from_apic[a->cur])
    return pic_intack(&b->pic);
  lapic_ack(a->lapic, vector);
  return vector;
}

// The NMIs the local APIC received (ICR, LINT1) since the last call: how
// many (0, 1 or 2).
int apic_nmi(struct board *b)
{
  struct apics *a = b->apics;
  if (!a)
    return 0;
  int n = a->lapic->nmi_pending;
  a->lapic->nmi_pending = 0;
  return n;
}

// CR8 is the TPR's bits 7:4 (SDM Vol. 3 §10.8.6.1; a MOV to CR8 clears bits
// 3:0). The guest's MOV to/from CR8 does not exit (kern/svm/run.c): its
// value comes with every exit record and goes back with every run.
void apic_cr8_from_exit(struct board *b, uint32 cr8)
{
  struct lapic *l = b->apics ? b->apics->lapic : NULL;
  if (l && (l->tpr >> 4) != (cr8 & 0xF))
    l->tpr = (cr8 & 0xF) << 4;
}

// 1 with *cr8 set when the guest has a local APIC (VM_RUN_SET_CR8).
int apic_cr8_to_run(struct board *b, uint32 *cr8)
{
  if (!b->apics)
    return 0;
  *cr8 = (b->apics->lapic->tpr >> 4) & 0xF;
  return 1;
}

void apic_advance(struct board *b, uint64 now)
{
  if (b->apics)
    lapic_advance(b->apics->lapic, now);
}

// The local APIC of the vcpu whose exit is being handled (apic_select); NULL without APICs.
struct lapic *apic_current(struct board *b) { return b->apics ? b->apics->lapic : NULL; }

uint64 apic_deadline(struct board *b) { return b->apics ? lapic_deadline(b->apics->lapic) : 0; }

// The ACPI PM registers, byte by byte as the board's ports (ports.c). Entering
// S5 turns the board off. 1 when the port was theirs.
static int pm_io(struct board *b, uint16 port, int size, int in, uint32 *data, uint64 now)
{
  struct acpi_pm *pm = &b->apics->pm;
  uint32 v = 0;
  if (port < ACPI_PM_BASE || port >= ACPI_PM_BASE + 12)
    return 0;
  for (int i = 0; i < size; i++) {
    uint8 x = *data >> (8 * i);
    if (!acpi_pm_io(pm, port + i, in, &x, now))
      x = 0xFF;   // past the block: the empty bus
    v |= (uint32)x << (8 * i);
  }
  if (in)
    *data = v;
  if (pm->off && b->end == BOARD_RUN)
    b->end = BOARD_POWEROFF;
  return 1;
}

// fw_cfg: a 16-bit write of the selector at 0x510, byte reads of data at
// 0x511; the ACPI PM registers. 1 when the port was one of theirs.
int apic_port_io(struct board *b, uint16 port, int size, int in, uint32 *data, uint64 now)
{
  if (!b->apics)
    return 0;
  if (pm_io(b, port, size, in, data, now))
    return 1;
  if (port != FWCFG_PORT_SEL && port != FWCFG_PORT_DATA)
    return 0;
  if (port == FWCFG_PORT_SEL && !in && size >= 2)
    fwcfg_select(&b->apics->fwcfg, *data & 0xFFFF);
  else if (port == FWCFG_PORT_DATA && in)
    *data = fwcfg_read(&b->apics->fwcfg);
  else if (in)
    *data = 0xFFFFFFFF >> (32 - 8 * size);
  return 1;
}

// CPUID leaf 1 with an APIC: EDX bit 9 follows APIC_BASE.EN, as on a CPU
// (SDM Vol. 3A §10.4.3: a globally disabled APIC reads as absent in CPUID;
// KVM's kvm_update_cpuid_runtime). The APIC ID in EBX[31:24] is cpuid.c's.
void apic_cpuid(struct guest *g, uint32 leaf, uint32 *r)
{
  if (g->board->apics && leaf == 1 && lapic_enabled(g->board->apics->lapic))
    r[3] |= 1u << 9;
}

// The guest-physical address width CPUID 8000_0008h EAX[7:0] reports.
static int maxphyaddr(void)
{
  uint32 a, b, c, d;
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000008), "c"(0));
  return a & 0xFF;
}

// The APIC_BASE MSR (0x1B) of a guest with a local APIC (lapic_set_base
// has the rules). A new base moves the page, as on KVM (SDM §10.4.5); onto
// another device's page it is #GP here. -1: not this guest's or not this
// MSR (msr.c answers).
int apic_msr(struct guest *g, uint32 msr, int write, uint64 *v)
{
  if (!g->board->apics || msr != APIC_BASE_MSR)
    return -1;
  struct lapic *l = g->board->apics->lapic;
  if (!write) {
    *v = l->base_msr;
    return 1;
  }
  uint64 extd = kvmpv_on(g) ? *v & APIC_BASE_EXTD : 0;   // x2APIC offered (x2apic.c)
  // One page serves every vcpu's APIC: a move moves them all.
  if (!lapic_base_valid(*v & ~extd, maxphyaddr()) || (kvmpv_on(g) && !x2apic_base_ok(l->base_msr, *v)) ||
      mmio_move(g->board->apics, *v & ~0xFFFUL) < 0)
    return 0;   // #GP: reserved bits, an illegal x2APIC transition, or a page another device has
  lapic_set_base(l, *v & ~extd, maxphyaddr());
  l->base_msr |= extd;
  return 1;
}

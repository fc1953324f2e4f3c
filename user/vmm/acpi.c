// ACPI tables for the guest, as firmware leaves them on a PC (ACPI 6.4
// §5.2 "ACPI System Description Tables"): an RSDP in the BIOS area
// (0xE0000-0xFFFFF, 16-byte aligned, §5.2.5.1), an RSDT and an XSDT, a
// MADT (§5.2.12) that names the local APIC, the I/O APIC and the ISA
// interrupt source overrides (IRQ0 of the PIT arrives on GSI 2, as on every
// PC chipset; the SCI is level-triggered), and a FADT (§5.2.9) with its FACS
// and DSDT: the PM1 registers and PM timer of acpipm.c, a reset register,
// and the \_S5 sleep type a kernel needs to turn the machine off. Kernels
// find the interrupt controllers there, as svmlab's own kern/acpi.c and
// Linux do; Linux also takes its acpi_pm clocksource and its power-off.
//
// One page, from base: RSDP 0x000, RSDT 0x040, XSDT 0x080, FACS 0x0C0 (64-byte
// aligned, §5.2.10), MADT 0x100, FADT 0x400, DSDT 0x500.
#include "acpi.h"
#include "aml.h"
#include "../../lib/string.h"

// Standard table header (§5.2.6).
struct sdt {
  char sig[4];
  uint32 length;
  uint8 revision, checksum;
  char oem[6], oem_table[8];
  uint32 oem_rev, creator, creator_rev;
} __attribute__((packed));

struct rsdp {
  char sig[8];
  uint8 checksum;
  char oem[6];
  uint8 revision;
  uint32 rsdt;
  uint32 length;
  uint64 xsdt;
  uint8 xchecksum, reserved[3];
} __attribute__((packed));

_Static_assert(sizeof(struct sdt) == 36 && sizeof(struct rsdp) == 36, "ACPI header sizes");

// The byte that makes the sum of [p, p+n) zero.
static uint8 sum_fix(const uint8 *p, uint64 n)
{
  uint8 s = 0;
  for (uint64 i = 0; i < n; i++)
    s += p[i];
  return -s;
}

static void header(struct sdt *t, const char *sig, uint32 len, uint8 rev)
{
  memmove(t->sig, sig, 4);
  t->length = len, t->revision = rev;
  memmove(t->oem, "SVMLAB", 6);
  memmove(t->oem_table, "SVMLABVM", 8);
  t->oem_rev = 1;
  memmove(&t->creator, "SVML", 4);
  t->creator_rev = 1;
  t->checksum = 0;
  t->checksum = sum_fix((uint8 *)t, len);
}

// The MADT: local APIC address and PCAT_COMPAT (8259s present), then the
// entries: processor local APIC (type 0), I/O APIC (type 1), interrupt
// source overrides (type 2). Returns its length.
static uint32 madt(uint8 *p, const struct acpi_config *c)
{
  uint8 *e = p + 44;
  memset(p, 0, 44);
  memmove(p + 36, &c->lapic_base, 4);
  p[40] = 1;   // flags: PCAT_COMPAT
  for (int i = 0; i < c->ncpus; i++, e += 8) {
    uint8 lapic[8] = {0, 8, (uint8)i, (uint8)i, 1, 0, 0, 0};   // enabled
    memmove(e, lapic, 8);
  }
  uint8 io[12] = {1, 12, c->ioapic_id, 0};
  memmove(io + 4, &c->ioapic_base, 4);   // GSI base 0 in bytes 8..11
  memmove(e, io, 12);
  e += 12;
  uint8 iso[10] = {2, 10, 0, 0, 2, 0, 0, 0, 0, 0};   // ISA IRQ0 -> GSI 2, bus defaults
  memmove(e, iso, 10);
  e += 10;
  // The SCI: GSI 9, level-triggered, active high (flags 0xD, Table 5.50), as a
  // PIIX4 drives it; without this entry ISA conformance (edge) would apply.
  uint8 sci[10] = {2, 10, 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ, 0, 0, 0, 0xD, 0};
  memmove(e, sci, 10);
  e += 10;
  header((struct sdt *)p, "APIC", e - p, 4);
  return e - p;
}

// A Generic Address Structure (§5.2.3.2) for an I/O port block of bits bits.
static void gas_io(uint8 *p, uint16 port, uint8 bits)
{
  uint64 a = port;
  p[0] = 1;        // system I/O space
  p[1] = bits;
  p[2] = 0;        // bit offset
  p[3] = 0;        // access size: undefined (legacy reasons), the block's own width
  memmove(p + 4, &a, 8);
}

static void put32(uint8 *p, uint32 v) { memmove(p, &v, 4); }
static void put64(uint8 *p, uint64 v) { memmove(p, &v, 8); }

// The FADT, revision 3 (ACPI 2.0's 244 bytes, the 64-bit X_ fields; Table
// 5.9 gives the offsets). SMI_CMD = 0: always in ACPI mode. DSDT and X_DSDT
// agree, as Linux checks. Returns its length.
static uint32 fadt(uint8 *p, uint32 facs, uint32 dsdt)
{
  memset(p, 0, 244);
  // FIRMWARE_CTRL stays 0: X_FIRMWARE_CTRL names the FACS (Table 5.9 wants
  // one of the two; Linux would map a FACS named by both twice).
  put32(p + 40, dsdt);                 // DSDT
  p[46] = ACPI_SCI_IRQ;                // SCI_INT
  put32(p + 56, ACPI_PM_BASE);         // PM1a_EVT_BLK
  put32(p + 64, ACPI_PM_BASE + 4);     // PM1a_CNT_BLK
  put32(p + 76, ACPI_PM_BASE + 8);     // PM_TMR_BLK
  p[88] = 4, p[89] = 2, p[91] = 4;     // PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN
  uint16 c2 = 101, c3 = 1001;          // P_LVL2_LAT > 100, P_LVL3_LAT > 1000: no C2, no C3
  memmove(p + 96, &c2, 2);
  memmove(p + 98, &c3, 2);
  p[109] = 1 | 4;                      // IAPC_BOOT_ARCH: LEGACY_DEVICES, VGA not present; no 8042
  // Flags (Table 5.10): WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (none
  // fixed), TMR_VAL_EXT (a 32-bit timer), RESET_REG_SUP.
  put32(p + 112, 1 | 4 | 16 | 32 | 256 | 1024);
  gas_io(p + 116, 0xCF9, 8);           // RESET_REG: PIIX's reset control (ports.c)
  p[128] = 6;                          // RESET_VALUE: hard reset
  put64(p + 132, facs);                // X_FIRMWARE_CTRL
  put64(p + 140, dsdt);                // X_DSDT
  gas_io(p + 148, ACPI_PM_BASE, 32);        // X_PM1a_EVT_BLK
  gas_io(p + 172, ACPI_PM_BASE + 4, 16);    // X_PM1a_CNT_BLK
  gas_io(p + 208, ACPI_PM_BASE + 8, 32);    // X_PM_TMR_BLK
  header((struct sdt *)p, "FACP", 244, 3);
  return 244;
}

// The FACS (§5.2.10): no waking vector, no global lock owner. No checksum.
static void facs_table(uint8 *p)
{
  memset(p, 0, 64);
  memmove(p, "FACS", 4);
  put32(p + 4, 64);
  p[32] = 2;                           // version
}

// The DSDT: a header and AML objects (§19.6: NameOp, PackageOp),
//   Name (\_S5, Package (4) { 5, 5, 0, 0 })
// SLP_TYPa and SLP_TYPb for soft-off (§7.4.2 "\_Sx (System States)"), and
// with a virtio-mmio device (vmm -v) its declaration (aml.c):
//   Device (\_SB.VIO0) { Name (_HID, "LNRO0005") Name (_UID, 0)
//     Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, 0x200)
//                                       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } }) }
// LNRO0005 is the ID Linux's virtio_mmio driver matches (its ACPI table).
// Edge-triggered, on a pin of its own: Linux then ends the interrupt with an
// EOI alone (PV EOI, no exit), where a level-triggered one also costs an
// exit for the TMR read and one for the EOI that must reach the I/O APIC;
// virtio_mmio.c raises a new edge for bits an ACK leaves set, so none is
// lost. Room: the page ends 0xB00 bytes past the DSDT.
static uint32 dsdt(uint8 *p, const struct acpi_config *c)
{
  static const uint8 aml[] = {0x08, '_', 'S', '5', '_', 0x12, 8, 4, 0x0A, ACPI_SLP_TYP_S5,
                              0x0A, ACPI_SLP_TYP_S5, 0x00, 0x00};
  uint32 n = 36;
  memmove(p + n, aml, sizeof aml);
  n += sizeof aml;
  if (c->virtio_base) {
    uint8 crs[64];
    int k = aml_crs_mmio_irq(crs, c->virtio_base, 0x200, c->virtio_gsi, 0, 0);
    n += aml_device(p + n, "VIO0", "LNRO0005", 0, crs, k);
  }
  header((struct sdt *)p, "DSDT", n, 2);   // revision 2: 64-bit integers
  return n;
}

// Writes the tables into guest RAM at mem + base (base in 0xE0000..0xFF000,
// room for one page). Returns the RSDP's guest-physical address, or 0 when
// the configuration does not fit.
uint64 acpi_build(uint8 *mem, uint64 memsize, uint64 base, const struct acpi_config *c)
{
  if (base < 0xE0000 || base + 4096 > 0x100000 || base + 4096 > memsize || base % 64 ||
      c->ncpus < 1 || c->ncpus > 64)
    return 0;
  uint8 *p = mem + base;
  memset(p, 0, 4096);
  uint64 rsdt_pa = base + 0x40, xsdt_pa = base + 0x80, facs_pa = base + 0xC0, madt_pa = base + 0x100;
  uint64 fadt_pa = base + 0x400, dsdt_pa = base + 0x500;
  uint32 mlen = madt(mem + madt_pa, c);
  if (madt_pa + mlen > fadt_pa)
    return 0;
  facs_table(mem + facs_pa);
  dsdt(mem + dsdt_pa, c);
  fadt(mem + fadt_pa, facs_pa, dsdt_pa);
  put32(mem + rsdt_pa + 36, madt_pa);
  put32(mem + rsdt_pa + 40, fadt_pa);
  header((struct sdt *)(mem + rsdt_pa), "RSDT", 44, 1);
  put64(mem + xsdt_pa + 36, madt_pa);
  put64(mem + xsdt_pa + 44, fadt_pa);
  header((struct sdt *)(mem + xsdt_pa), "XSDT", 52, 1);
  struct rsdp *r = (struct rsdp *)p;
  memmove(r->sig, "RSD PTR ", 8);
  memmove(r->oem, "SVMLAB", 6);
  r->revision = 2;
  r->rsdt = rsdt_pa, r->xsdt = xsdt_pa, r->length = sizeof *r;
  r->checksum = sum_fix(p, 20);             // the ACPI 1.0 part
  r->xchecksum = sum_fix(p, sizeof *r);     // the whole structure
  return base;
}

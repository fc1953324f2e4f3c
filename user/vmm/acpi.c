// ACPI tables for the guest, as firmware leaves them on a PC (ACPI 6.4
// §5.2 "ACPI System Description Tables"): an RSDP in the BIOS area
// (0xE0000-0xFFFFF, 16-byte aligned, §5.2.5.1), an RSDT and an XSDT, and a
// MADT (§5.2.12) that names the local APIC, the I/O APIC and the ISA
// interrupt source overrides (IRQ0 of the PIT arrives on GSI 2, as on every
// PC chipset). Kernels find the interrupt controllers there, as svmlab's
// own kern/acpi.c and Linux do.
#include "acpi.h"
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
  header((struct sdt *)p, "APIC", e - p, 4);
  return e - p;
}

// Writes the tables into guest RAM at mem + base (base in 0xE0000..0xFF000,
// room for one page). Returns the RSDP's guest-physical address, or 0 when
// the configuration does not fit.
uint64 acpi_build(uint8 *mem, uint64 memsize, uint64 base, const struct acpi_config *c)
{
  if (base < 0xE0000 || base + 4096 > 0x100000 || base + 4096 > memsize || base % 16 ||
      c->ncpus < 1 || c->ncpus > 64)
    return 0;
  uint8 *p = mem + base;
  memset(p, 0, 4096);
  uint64 rsdt_pa = base + 0x40, xsdt_pa = base + 0x80, madt_pa = base + 0x100;
  uint32 mlen = madt(mem + madt_pa, c);
  if (madt_pa + mlen > base + 4096)
    return 0;
  uint32 m32 = madt_pa;
  memmove(mem + rsdt_pa + 36, &m32, 4);
  header((struct sdt *)(mem + rsdt_pa), "RSDT", 40, 1);
  memmove(mem + xsdt_pa + 36, &madt_pa, 8);
  header((struct sdt *)(mem + xsdt_pa), "XSDT", 44, 1);
  struct rsdp *r = (struct rsdp *)p;
  memmove(r->sig, "RSD PTR ", 8);
  memmove(r->oem, "SVMLAB", 6);
  r->revision = 2;
  r->rsdt = rsdt_pa, r->xsdt = xsdt_pa, r->length = sizeof *r;
  r->checksum = sum_fix(p, 20);             // the ACPI 1.0 part
  r->xchecksum = sum_fix(p, sizeof *r);     // the whole structure
  return base;
}

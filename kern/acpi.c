// Finds the CPUs and the IOAPIC in the ACPI MADT ("APIC" table), which
// QEMU's firmware provides. Tables are read through the PHYSBASE map.
//
//   RSDP (in the EBDA or 0xE0000..0xFFFFF, 16-byte aligned, "RSD PTR ")
//     -> RSDT (32-bit pointers) or XSDT (64-bit pointers, ACPI 2.0+)
//       -> MADT: local APIC entries (type 0), IOAPIC (type 1),
//                interrupt source overrides for ISA IRQs (type 2)
//
// cpus[0] is always the BSP (the CPU running this), whatever its place in
// the MADT; the other enabled CPUs follow in MADT order.
#include "defs.h"
#include "cpu.h"
#include "../lib/string.h"

struct rsdp {
  char sig[8];
  uint8 checksum;
  char oem[6];
  uint8 revision;
  uint32 rsdt;
  uint32 length;
  uint64 xsdt;
  uint8 xchecksum;
  uint8 rsvd[3];
} __attribute__((packed));

struct sdt {   // common table header
  char sig[4];
  uint32 length;
  uint8 revision, checksum;
  char oem[6], oemtable[8];
  uint32 oemrev, creator, creatorrev;
} __attribute__((packed));

struct madt {
  struct sdt h;
  uint32 lapic_pa;
  uint32 flags;
  uint8 entries[];
} __attribute__((packed));

#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2

uint64 ioapic_pa = 0xFEC00000;   // the PC default, if there is no MADT
static struct { int gsi, flags; } isa_irq[16];

static int sum(const void *p, uint64 n)
{
  uint8 s = 0;
  for (uint64 i = 0; i < n; i++)
    s += ((const uint8 *)p)[i];
  return s;
}

// Table fields need not be aligned (ACPI packs them): a cast-and-load of a
// misaligned uint32 is undefined in C (UBSan reports it), memcpy is not.
static uint16 rd16(const void *p) { uint16 v; memcpy(&v, p, sizeof v); return v; }
static uint32 rd32(const void *p) { uint32 v; memcpy(&v, p, sizeof v); return v; }
static uint64 rd64(const void *p) { uint64 v; memcpy(&v, p, sizeof v); return v; }

static struct rsdp *rsdp_scan(uint64 pa, uint64 len)
{
  for (uint64 a = pa; a + sizeof(struct rsdp) <= pa + len; a += 16) {
    struct rsdp *r = P2V(a);
    if (memcmp(r->sig, "RSD PTR ", 8) == 0 && sum(r, 20) == 0)
      return r;
  }
  return NULL;
}

static struct rsdp *rsdp_find(void)
{
  uint64 ebda = (uint64)*(uint16 *)P2V(0x40E) << 4;
  struct rsdp *r = ebda ? rsdp_scan(ebda, 1024) : NULL;
  return r ? r : rsdp_scan(0xE0000, 0x20000);
}

// Returns the table with signature sig, or NULL.
static struct sdt *acpi_table(struct rsdp *r, const char *sig)
{
  int x = r->revision >= 2 && r->xsdt;
  struct sdt *root = P2V(x ? r->xsdt : r->rsdt);
  int esz = x ? 8 : 4;
  int n = (root->length - sizeof(*root)) / esz;
  uint8 *ent = (uint8 *)(root + 1);
  for (int i = 0; i < n; i++) {
    uint64 pa = x ? rd64(ent + i * esz) : rd32(ent + i * esz);
    struct sdt *t = P2V(pa);
    if (memcmp(t->sig, sig, 4) == 0 && sum(t, t->length) == 0)
      return t;
  }
  return NULL;
}

// Adds an enabled CPU with APIC id apicid; the BSP keeps slot 0.
static void add_cpu(int apicid, int bsp_apicid)
{
  if (apicid == bsp_apicid)
    return;
  if (ncpu >= NCPU) {
    printf("acpi: more than %d CPUs, apic %d ignored\n", NCPU, apicid);
    return;
  }
  cpus[ncpu].id = ncpu;
  cpus[ncpu].apicid = apicid;
  ncpu++;
}

static void madt_entry(uint8 *e, int bsp_apicid)
{
  switch (e[0]) {
  case MADT_LAPIC:   // acpi id, apic id, flags (bit 0 enabled, bit 1 online capable)
    if (rd32(e + 4) & 1)
      add_cpu(e[3], bsp_apicid);
    break;
  case MADT_IOAPIC:  // id, rsvd, address, gsi base
    ioapic_pa = rd32(e + 4);
    break;
  case MADT_ISO:     // bus, source irq, gsi, flags
    if (e[3] < 16) {
      isa_irq[e[3]].gsi = rd32(e + 4);
      isa_irq[e[3]].flags = rd16(e + 8);
    }
    break;
  }
}

// Fills cpus[] and ncpu, the IOAPIC address and the ISA IRQ overrides.
// Without a MADT: one CPU and the default IOAPIC.
void acpiinit(void)
{
  int bsp = lapicid();
  cpus[0].id = 0;
  cpus[0].apicid = bsp;
  ncpu = 1;
  for (int i = 0; i < 16; i++)
    isa_irq[i].gsi = i, isa_irq[i].flags = 0;
  struct rsdp *r = rsdp_find();
  struct madt *m = r ? (struct madt *)acpi_table(r, "APIC") : NULL;
  if (!m) {
    printf("acpi: no MADT; assuming one CPU\n");
    return;
  }
  for (uint8 *e = m->entries; e < (uint8 *)m + m->h.length && e[1] >= 2; e += e[1])
    madt_entry(e, bsp);
}

// The IOAPIC input (GSI) of ISA IRQ irq and its MPS flags (polarity in
// bits 1:0, trigger mode in bits 3:2; 0 = the bus default).
int acpi_isa_gsi(int irq, int *flags)
{
  if (irq < 0 || irq >= 16) {
    *flags = 0;
    return irq;
  }
  *flags = isa_irq[irq].flags;
  return isa_irq[irq].gsi;
}

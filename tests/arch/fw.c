// What a PC kernel reads from its firmware: fw_cfg (signature, RAM size,
// CPU count), the multiboot memory map, ACPI (RSDP in the BIOS area, RSDT,
// MADT with one local APIC per CPU, the FADT and its PM timer, which counts
// at 3.579545 MHz), and the A20 port 0x92 (ACPI spec 6.x §5.2, §4.8.3.3).
#include "rt.h"

const char kernel_name[] = "fw";

struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
                 u32 syms[4], mmap_length, mmap_addr; };
extern u32 mb_info;

static int sum8(const u8 *p, u32 n)
{
  u8 s = 0;
  while (n--)
    s += *p++;
  return s;
}

static const u8 *find_rsdp(void)
{
  for (u64 a = 0xE0000; a < 0x100000; a += 16)
    if (!__builtin_memcmp((void *)a, "RSD PTR ", 8) && sum8((u8 *)a, 20) == 0)
      return (const u8 *)a;
  return 0;
}

static const u8 *find_table(const u8 *rsdt, const char *sig)
{
  u32 len = *(u32 *)(rsdt + 4);
  for (u32 off = 36; off + 4 <= len; off += 4) {
    const u8 *t = (const u8 *)(u64) * (u32 *)(rsdt + off);
    if (!__builtin_memcmp(t, sig, 4))
      return t;
  }
  return 0;
}

static void madt(const u8 *m, u16 ncpus)
{
  u32 len = *(u32 *)(m + 4);
  int lapics = 0, ioapics = 0, irq0_gsi = -1;
  u64 ioapic_addr = 0;
  for (u32 off = 44; off + 2 <= len; off += m[off + 1]) {
    const u8 *e = m + off;
    if (e[1] < 2)
      break;
    if (e[0] == 0 && (*(u32 *)(e + 4) & 1))
      lapics++;
    if (e[0] == 1)
      ioapics++, ioapic_addr = *(u32 *)(e + 4);
    if (e[0] == 2 && e[3] == 0)
      irq0_gsi = *(u32 *)(e + 4);
  }
  out("madt", "checksum %s, lapic at %x, enabled lapics %s fw_cfg cpus, ioapics %d at %lx, irq0 -> gsi %d",
      sum8(m, len) ? "bad" : "ok", *(u32 *)(m + 36), lapics == ncpus ? "==" : "!=", ioapics, ioapic_addr,
      irq0_gsi);
}

static void fadt(const u8 *f)
{
  if (!f) {
    out("fadt", "missing");
    return;
  }
  u32 len = *(u32 *)(f + 4);
  u32 pm_tmr = *(u32 *)(f + 76);
  out("fadt", "checksum %s, sci %s, pm timer block %s", sum8(f, len) ? "bad" : "ok",
      *(u16 *)(f + 46) ? "set" : "0", pm_tmr ? "set" : "0");
  if (!pm_tmr)
    return;
  u32 a = inl(pm_tmr) & 0xFFFFFF;
  delay_pit_ms(20);
  u32 b = inl(pm_tmr) & 0xFFFFFF;
  u32 ticks = (b - a) & 0xFFFFFF;   // 20 ms is 71591 ticks; a loaded host only adds time
  out("pm_timer_20ms", "%s", ticks > 64000 ? "at least 20 ms worth" : "too slow");
}

void kmain(void)
{
  char sig[5] = {0};
  fwcfg_read(0, sig, 4);
  u16 ncpus = 0;
  fwcfg_read(0x05, &ncpus, 2);
  out("fwcfg", "signature %s ram %lu MiB cpus %u", sig, ram_bytes() >> 20, ncpus);
  struct mb_info *mb = (struct mb_info *)(u64)mb_info;
  u64 usable = 0;
  if (mb->flags & 0x40)
    for (u32 off = 0; off < mb->mmap_length;) {
      u32 *e = (u32 *)(u64)(mb->mmap_addr + off);
      if (e[5] == 1)
        usable += *(u64 *)(e + 3);
      off += e[0] + 4;
    }
  out("multiboot_memory", "map %s, usable within 2 MiB of fw_cfg ram %s", mb->flags & 0x40 ? "yes" : "no",
      usable + (2 << 20) >= ram_bytes() && usable <= ram_bytes() ? "yes" : "no");
  const u8 *rsdp = find_rsdp();
  out("rsdp", "%s", rsdp ? "found" : "missing");
  if (!rsdp)
    return;
  const u8 *rsdt = (const u8 *)(u64) * (u32 *)(rsdp + 16);
  out("rsdt", "checksum %s", sum8(rsdt, *(u32 *)(rsdt + 4)) ? "bad" : "ok");
  const u8 *m = find_table(rsdt, "APIC");
  if (m)
    madt(m, ncpus);
  else
    out("madt", "missing");
  fadt(find_table(rsdt, "FACP"));
  out("port92_a20", "%u", inb(0x92) >> 1 & 1);
}

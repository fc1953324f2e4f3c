// mbcheck: the VMM's multiboot loader (user/vmm/multiboot.c) on images made
// here: a valid a.out-kludge kernel, ELF32 and higher-half ELF64 kernels and
// modules must load with the right entry, bytes, bss and boot information;
// each broken variant must be refused with a message naming its field; and
// random corruptions must never write outside guest RAM (canaries around it).
//
//   mbcheck [RANDOM]        prints one line per failed check, then
//                           "mbcheck: N checks, M failed"
#include "user.h"
#include "../user/vmm/multiboot.h"
#include "../user/vmm/acpi.h"
#include "../user/vmm/fwcfg.h"

#define MEMSIZE (4UL << 20)
#define CANARY 0xC5
static uint8 *ram;            // MEMSIZE bytes with a canary page on each side
static uint8 img[8192 + 512];
static int checks, failed;

static void check(int ok, const char *what, const char *detail)
{
  checks++;
  if (!ok) {
    failed++;
    printf("mbcheck: FAIL: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  }
}

static void p32(uint8 *p, uint32 v) { memmove(p, &v, 4); }
static void p64(uint8 *p, uint64 v) { memmove(p, &v, 8); }
static uint32 g32(const uint8 *p) { uint32 v; memmove(&v, p, 4); return v; }

static const char *load(uint64 size, const struct mb_file *mods, int n, struct mb_entry *e)
{
  struct mb_file k = {"kernel", img, size, "kernel.bin -- test=forktest"};
  memset(ram - 4096, CANARY, 4096);
  memset(ram + MEMSIZE, CANARY, 4096);
  const char *why = multiboot_load(ram, MEMSIZE, &k, mods, n, e);
  for (int i = 0; i < 4096; i++)
    if (ram[-1 - i] != CANARY || ram[MEMSIZE + i] != CANARY) {
      check(0, "a write outside guest RAM", why ? why : "loaded");
      break;
    }
  return why;
}

// A kernel with the a.out-kludge fields: 256 bytes at 1 MiB, 4 KiB of bss.
static uint64 aout(uint32 flags, uint32 hdr, uint32 load_, uint32 end, uint32 bss, uint32 entry)
{
  memset(img, 0, sizeof img);
  for (int i = 48; i < 256; i++)
    img[i] = i;
  p32(img, MB_HEADER_MAGIC);
  p32(img + 4, flags);
  p32(img + 8, -(MB_HEADER_MAGIC + flags));
  p32(img + 12, hdr), p32(img + 16, load_), p32(img + 20, end), p32(img + 24, bss), p32(img + 28, entry);
  return 256;
}
#define AOUT_OK(f) aout((f) | (1 << 16) | 2, 0x100000, 0x100000, 0, 0x101100, 0x100040)

// An ELF kernel: header, one PT_LOAD (file offset 0x100, 0x80 bytes), the
// multiboot header inside the segment at offset 0x100.
static uint64 elf(int is64, uint64 vaddr, uint64 paddr, uint64 entry)
{
  memset(img, 0, sizeof img);
  memmove(img, "\177ELF", 4);
  img[4] = is64 ? 2 : 1, img[5] = 1, img[6] = 1;
  img[18] = is64 ? 62 : 3;
  uint8 *ph = img + (is64 ? 64 : 52);
  if (is64) {
    p64(img + 24, entry), p64(img + 32, 64);
    img[54] = 56, img[56] = 1;
    p32(ph, 1), p64(ph + 8, 0x100), p64(ph + 16, vaddr), p64(ph + 24, paddr);
    p64(ph + 32, 0x80), p64(ph + 40, 0x1000);
  } else {
    p32(img + 24, entry), p32(img + 28, 52);
    img[42] = 32, img[44] = 1;
    p32(ph, 1), p32(ph + 4, 0x100), p32(ph + 8, vaddr), p32(ph + 12, paddr);
    p32(ph + 16, 0x80), p32(ph + 20, 0x1000);
  }
  p32(img + 0x100, MB_HEADER_MAGIC), p32(img + 0x104, 2), p32(img + 0x108, -(MB_HEADER_MAGIC + 2));
  for (int i = 0x10C; i < 0x180; i++)
    img[i] = i;
  return 0x180;
}

// The boot information of a good load: flags, memory, command line, modules, map, name.
static void check_info(const struct mb_entry *e, const struct mb_file *mods, int n)
{
  const uint8 *info = ram + e->info;
  check(e->info + 128 <= MEMSIZE && (g32(info) & 0x24D) == 0x24D, "info flags mem|cmdline|mods|mmap|name", 0);
  check(g32(info + 4) == 640 && g32(info + 8) == (MEMSIZE >> 10) - 1024, "mem_lower/mem_upper in KiB", 0);
  check(strcmp((char *)ram + g32(info + 16), "kernel.bin -- test=forktest") == 0, "command line", 0);
  check(g32(info + 20) == (uint32)n, "mods_count", 0);
  for (int i = 0; i < n; i++) {
    const uint8 *m = ram + g32(info + 24) + 16 * i;
    check(g32(m) % 4096 == 0 && g32(m + 4) - g32(m) == mods[i].size &&
              memcmp(ram + g32(m), mods[i].data, mods[i].size) == 0 && g32(m) >= e->kernel_end,
          "module placed page-aligned after the kernel with its bytes", mods[i].name);
    check(strcmp((char *)ram + g32(m + 8), mods[i].cmdline) == 0, "module string", mods[i].name);
  }
  const uint8 *mm = ram + g32(info + 48);
  uint64 usable = 0;
  for (uint32 off = 0; off < g32(info + 44); off += g32(mm + off) + 4) {
    uint64 len;
    memmove(&len, mm + off + 12, 8);
    usable += g32(mm + off + 20) == 1 ? len : 0;
  }
  check(usable == MEMSIZE - 0x100000 + 0x9FC00, "memory map: usable RAM adds up", 0);
  check(strcmp((char *)ram + g32(info + 64), "svmlab vmm") == 0, "boot loader name", 0);
}

static void good_images(void)
{
  static const uint8 m0[] = "first module", m1[] = "second";
  struct mb_file mods[2] = {{"m0", m0, sizeof m0, "m0 arg"}, {"m1", m1, sizeof m1, "m1"}};
  struct mb_entry e;
  memset(ram, 0xEE, MEMSIZE);   // the loader must zero the bss itself
  const char *why = load(AOUT_OK(1), mods, 2, &e);
  check(!why && e.eip == 0x100040, "a.out kludge kernel loads, entry_addr", why);
  check(!why && memcmp(ram + 0x100000, img, 256) == 0 && ram[0x100000 + 256] == 0 && ram[0x1010FF] == 0,
        "a.out kludge: bytes at load_addr, bss zeroed", 0);
  if (!why)
    check_info(&e, mods, 2);
  why = load(elf(0, 0x200000, 0x200000, 0x200010), mods, 1, &e);
  check(!why && e.eip == 0x200010 && memcmp(ram + 0x200000, img + 0x100, 0x80) == 0, "ELF32 kernel", why);
  if (!why)
    check_info(&e, mods, 1);
  // A kernel below the PC hole: a module that would overlap it goes above 1 MiB.
  static uint8 big[0x90000];
  struct mb_file bigmod = {"big", big, sizeof big, "big"};
  why = load(aout(0x10003, 0x10000, 0x10000, 0, 0, 0x10040), &bigmod, 1, &e);
  uint32 mstart = why ? 0 : g32(ram + g32(ram + e.info + 24));
  check(!why && e.eip == 0x10040 && (mstart >= 0x100000 || mstart + sizeof big <= 0xA0000),
        "a module never lands in the 0xa0000-0xfffff hole", why);
  why = load(elf(1, 0xFFFFFFFF80100000UL, 0x100000, 0xFFFFFFFF80100020UL), NULL, 0, &e);
  check(!why && e.eip == 0x100020, "higher-half ELF64: entry translated to its physical address", why);
}

// Broken variant i of a good image: builds it into img, returns its size
// (0 past the last), and says what is broken and which word the refusal
// must contain.
static uint64 broken(int i, const char **what, const char **expect)
{
#define CASE(n, w, x, build) case n: *what = w, *expect = x; return build
  switch (i) {
  CASE(0, "checksum off by one", "checksum", (AOUT_OK(0), img[8] ^= 1, 256));
  CASE(1, "header past 8 KiB", "no multiboot header", (AOUT_OK(0), memmove(img + 8192, img, 32), memset(img, 0, 32), 8192 + 256));
  CASE(2, "video mode required", "video", AOUT_OK(4));
  CASE(3, "unknown required bit 5", "required feature", AOUT_OK(0x20));
  CASE(4, "header_addr below load_addr", "header_addr", aout(0x10002, 0x100000, 0x100100, 0, 0, 0x100140));
  CASE(5, "image would start before the file", "header_addr", aout(0x10002, 0x100010, 0x100000, 0, 0, 0x100040));
  CASE(6, "load_end_addr below load_addr", "load_end_addr", aout(0x10002, 0x100000, 0x100000, 0xFFFFF, 0, 0x100040));
  CASE(7, "load_end_addr past the file", "load_end_addr", aout(0x10002, 0x100000, 0x100000, 0x100400, 0, 0x100040));
  CASE(8, "bss_end_addr below load_end", "bss_end_addr", aout(0x10002, 0x100000, 0x100000, 0, 0x100080, 0x100040));
  CASE(9, "loaded into the VGA hole", "outside guest RAM", aout(0x10002, 0xA0000, 0xA0000, 0, 0, 0xA0040));
  CASE(10, "loaded past the end of RAM", "outside guest RAM", aout(0x10002, 0x3FFFFF0, 0x3FFFFF0, 0, 0, 0x3FFFFF0));
  CASE(11, "bss to 4 GiB", "outside guest RAM", aout(0x10002, 0x100000, 0x100000, 0, 0xFFFFFFFF, 0x100040));
  CASE(12, "entry_addr past the image", "entry_addr", aout(0x10002, 0x100000, 0x100000, 0, 0, 0x100100));
  CASE(13, "flag-16 header truncated", "truncated", (aout(0x10002, 0x100000, 0x100000, 0, 0, 0x100040), 20));
  CASE(14, "e_phoff past the file", "program headers", (elf(0, 0x200000, 0x200000, 0x200010), p32(img + 28, 0x170), 0x180));
  CASE(15, "p_filesz > p_memsz", "p_filesz", (elf(0, 0x200000, 0x200000, 0x200010), p32(img + 52 + 20, 0x10), 0x180));
  CASE(16, "segment past the file", "p_offset", (elf(0, 0x200000, 0x200000, 0x200010), p32(img + 52 + 16, 0x1000), 0x180));
  CASE(17, "segment past the end of RAM", "p_paddr", elf(0, 0x200000, 0x3FFF000, 0x200010));
  CASE(18, "entry in no segment", "e_entry", elf(0, 0x200000, 0x200000, 0x300000));
  CASE(19, "ELF class 3", "class", (elf(0, 0x200000, 0x200000, 0x200010), img[4] = 3, 0x180));
  CASE(20, "ELF for ARM", "machine", (elf(0, 0x200000, 0x200000, 0x200010), img[18] = 40, 0x180));
  CASE(21, "no PT_LOAD", "PT_LOAD", (elf(0, 0x200000, 0x200000, 0x200010), p32(img + 52, 2), 0x180));
  CASE(22, "ELF64 header truncated", "ELF64", (elf(1, 0x200000, 0x200000, 0x200010), memmove(img + 48, img + 0x100, 12), 60));
  default: return 0;
  }
#undef CASE
}

// strstr for the checks.
static int contains(const char *s, const char *w)
{
  for (; *s; s++)
    if (strncmp(s, w, strlen(w)) == 0)
      return 1;
  return 0;
}

static void bad_images(void)
{
  struct mb_entry e;
  const char *what, *expect;
  uint64 n;
  for (int i = 0; (n = broken(i, &what, &expect)) != 0; i++) {
    const char *why = load(n, NULL, 0, &e);
    check(why && contains(why, expect), what, why ? why : "loaded anyway");
  }
  static const uint8 byte[1];
  struct mb_file huge = {"huge", byte, MEMSIZE, "huge"};   // size lies: never read past RAM's end
  huge.size = MEMSIZE - 0x100000;
  const char *why = load(AOUT_OK(0), &huge, 1, &e);
  check(why && contains(why, "module 0"), "a module larger than the RAM left", why ? why : "loaded anyway");
}

// Random corruptions of the good images: loaded or refused, never a write
// outside guest RAM (load() checks the canaries) and never an entry outside it.
static void random_images(long count)
{
  uint64 seed = 12345;
  for (long i = 0; i < count; i++) {
    uint64 n = i % 3 == 0 ? AOUT_OK(1) : elf(i % 3 == 2, 0x200000, 0x200000, 0x200010);
    for (int k = 0; k < 4; k++) {
      seed = seed * 6364136223846793005UL + 1442695040888963407UL;
      img[(seed >> 33) % n] ^= 1 << ((seed >> 20) & 7);
    }
    struct mb_entry e;
    const char *why = load(n - (seed >> 60) % 3 * 7, NULL, 0, &e);
    if (!why)
      check(e.eip < MEMSIZE && e.info < MEMSIZE, "a corrupt image that loads has its entry in RAM", 0);
  }
}

// The ACPI tables, read back as a kernel finds them: RSDP by its signature in
// the BIOS area, both checksums, RSDT and XSDT to the MADT, its entries.
static int sum(const uint8 *p, uint32 n)
{
  uint8 s = 0;
  while (n--)
    s += *p++;
  return s;
}

// A Generic Address Structure naming I/O port `port`, `bits` wide.
static int gas_io(const uint8 *g, uint32 port, int bits)
{
  return g[0] == 1 && g[1] == bits && g32(g + 4) == port && g32(g + 8) == 0;
}

// The FADT (ACPI 6.4 §5.2.9, Table 5.9 offsets), its FACS and DSDT: what
// Linux needs for the PM timer and for acpi_power_off.
static void fadt_checks(const uint8 *rsdt, const uint8 *xsdt)
{
  check(g32(rsdt + 4) == 44 && g32(xsdt + 4) == 52 && g32(rsdt + 40) == g32(xsdt + 44) && g32(xsdt + 48) == 0,
        "RSDT and XSDT list a second table, the same one", 0);
  const uint8 *f = ram + g32(rsdt + 40);
  check(memcmp(f, "FACP", 4) == 0 && sum(f, g32(f + 4)) == 0 && g32(f + 4) >= 244 && f[8] >= 3,
        "FADT: signature, checksum, revision 3 or later with the X_ fields", 0);
  if (memcmp(f, "FACP", 4) != 0)
    return;
  const uint8 *d = ram + g32(f + 140);
  check(g32(f + 144) == 0 && g32(f + 40) == g32(f + 140) && memcmp(d, "DSDT", 4) == 0 && sum(d, g32(d + 4)) == 0,
        "FADT: X_DSDT (= DSDT) names a DSDT with a good checksum", 0);
  static const uint8 s5[] = {0x08, '_', 'S', '5', '_', 0x12};   // Name (_S5, Package ...
  int found = 0;
  for (uint32 i = 36; i + sizeof s5 + 4 <= g32(d + 4) && !found; i++)
    if (memcmp(d + i, s5, sizeof s5) == 0)
      found = d[i + 8] == 0x0A && d[i + 9] == ACPI_SLP_TYP_S5;
  check(found, "DSDT: \\_S5 package with SLP_TYPa 5", 0);
  const uint8 *facs = ram + g32(f + 132);
  check(g32(f + 132) % 64 == 0 && g32(f + 36) == 0 && memcmp(facs, "FACS", 4) == 0 && g32(facs + 4) >= 64,
        "FADT: X_FIRMWARE_CTRL (FIRMWARE_CTRL 0) names a 64-byte aligned FACS", 0);
  check(f[46] == 9 && g32(f + 48) == 0, "FADT: SCI on IRQ 9, no SMI_CMD (always in ACPI mode)", 0);
  check(g32(f + 56) == 0x600 && g32(f + 64) == 0x604 && g32(f + 76) == 0x608 && f[88] == 4 && f[89] == 2 &&
        f[91] == 4 && gas_io(f + 148, 0x600, 32) && gas_io(f + 172, 0x604, 16) && gas_io(f + 208, 0x608, 32),
        "FADT: PM1a event, PM1a control, PM timer blocks (legacy and X_ fields agree)", 0);
  check((g32(f + 112) & 0x100) && (g32(f + 112) & 0x400) && gas_io(f + 116, 0xCF9, 8) && f[128] == 6,
        "FADT: 32-bit PM timer (TMR_VAL_EXT), reset register 0xCF9 <- 6", 0);
}

// The PM registers: timer at 3.579545 MHz, SCI_EN set, S5 only with SLP_EN.
static uint8 pm_in(struct acpi_pm *p, uint16 port, uint64 now)
{
  uint8 v = 0;
  return acpi_pm_io(p, port, 1, &v, now) ? v : 0xEE;
}

static uint32 pm_timer(struct acpi_pm *p, uint64 now)
{
  uint32 v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32)pm_in(p, 0x608 + i, now) << (8 * i);
  return v;
}

static void pm_out(struct acpi_pm *p, uint16 port, uint8 v) { acpi_pm_io(p, port, 0, &v, 0); }

static void acpi_pm_checks(void)
{
  struct acpi_pm p;
  acpi_pm_reset(&p);
  // 3579545 clocks a second; 2000 s is 7159090000 clocks, which wraps 32 bits once.
  check(pm_timer(&p, 1000000000UL) == 3579545 && pm_timer(&p, 2000000000000UL) == 2864122704U &&
        pm_timer(&p, 1000) == 3, "PM timer: 3.579545 MHz, 32 bits, from guest time", 0);
  check(pm_in(&p, 0x604, 0) == 1 && pm_in(&p, 0x605, 0) == 0, "PM1_CNT: SCI_EN reads 1", 0);
  pm_out(&p, 0x602, 0x21), pm_out(&p, 0x603, 0x01);
  check(pm_in(&p, 0x602, 0) == 0x21 && pm_in(&p, 0x603, 0) == 1, "PM1_EN holds what was written", 0);
  pm_out(&p, 0x605, ACPI_SLP_TYP_S5 << 2);
  check(!p.off && pm_in(&p, 0x605, 0) == ACPI_SLP_TYP_S5 << 2, "SLP_TYP without SLP_EN: still on", 0);
  pm_out(&p, 0x605, 1 << 2 | 0x20);
  check(!p.off && !(pm_in(&p, 0x605, 0) & 0x20), "SLP_EN with SLP_TYP 1 (no \\_S1): still on; SLP_EN reads 0", 0);
  pm_out(&p, 0x605, ACPI_SLP_TYP_S5 << 2 | 0x20);
  check(p.off, "SLP_EN with the \\_S5 SLP_TYP: off", 0);
  check(pm_in(&p, 0x5FF, 0) == 0xEE && pm_in(&p, 0x60C, 0) == 0xEE, "ports around the block are not the PM's", 0);
}

static void acpi_checks(void)
{
  struct acpi_config c = {1, 0xFEE00000, 1, 0xFEC00000};
  memset(ram, 0, 0x100000);
  uint64 at = acpi_build(ram, MEMSIZE, 0xE0000, &c);
  uint64 found = 0;
  for (uint64 a = 0xE0000; a < 0x100000 && !found; a += 16)
    if (memcmp(ram + a, "RSD PTR ", 8) == 0)
      found = a;
  check(at && found == at, "RSDP found by its signature in 0xE0000-0xFFFFF", 0);
  if (!found)
    return;
  const uint8 *r = ram + found;
  check(sum(r, 20) == 0 && sum(r, 36) == 0 && r[15] == 2, "RSDP checksums (20 and 36 bytes), revision 2", 0);
  const uint8 *rsdt = ram + g32(r + 16), *xsdt = ram + g32(r + 24);
  check(memcmp(rsdt, "RSDT", 4) == 0 && sum(rsdt, g32(rsdt + 4)) == 0, "RSDT signature and checksum", 0);
  check(memcmp(xsdt, "XSDT", 4) == 0 && sum(xsdt, g32(xsdt + 4)) == 0, "XSDT signature and checksum", 0);
  const uint8 *m = ram + g32(rsdt + 36);
  check(m == ram + g32(xsdt + 36) && memcmp(m, "APIC", 4) == 0 && sum(m, g32(m + 4)) == 0,
        "RSDT and XSDT name one MADT with a good checksum", 0);
  check(g32(m + 36) == 0xFEE00000 && (g32(m + 40) & 1), "MADT: local APIC address, PCAT_COMPAT", 0);
  int cpus = 0, ioapics = 0, iso = 0;
  for (uint32 off = 44; off < g32(m + 4); off += m[off + 1]) {
    if (m[off] == 0 && (g32(m + off + 4) & 1))
      cpus++;
    if (m[off] == 1 && m[off + 1] == 12 && g32(m + off + 4) == 0xFEC00000 && g32(m + off + 8) == 0)
      ioapics++;
    if (m[off] == 2 && m[off + 3] == 0 && g32(m + off + 4) == 2)
      iso++;
    if (m[off + 1] == 0)
      break;
  }
  check(cpus == 1 && ioapics == 1 && iso == 1, "MADT: one enabled CPU, the I/O APIC at GSI 0, IRQ0 -> GSI 2", 0);
  fadt_checks(rsdt, xsdt);
  check(acpi_build(ram, MEMSIZE, 0xFF800, &c) == 0, "tables that would run past 1 MiB are refused", 0);
}

// fw_cfg through its two ports' operations: signature, RAM size, CPUs, end of item.
static void fwcfg_checks(void)
{
  struct fwcfg f;
  fwcfg_init(&f, MEMSIZE, 3);
  char sig[5] = {0};
  fwcfg_select(&f, FWCFG_SIGNATURE);
  for (int i = 0; i < 4; i++)
    sig[i] = fwcfg_read(&f);
  check(strcmp(sig, "QEMU") == 0 && fwcfg_read(&f) == 0, "fw_cfg signature, then 0 past its end", 0);
  uint64 ram_size = 0;
  fwcfg_select(&f, FWCFG_RAM_SIZE);
  for (int i = 0; i < 8; i++)
    ram_size |= (uint64)fwcfg_read(&f) << (8 * i);
  check(ram_size == MEMSIZE, "fw_cfg RAM size, little-endian", 0);
  fwcfg_select(&f, FWCFG_NB_CPUS);
  check(fwcfg_read(&f) == 3 && fwcfg_read(&f) == 0, "fw_cfg CPU count", 0);
  fwcfg_select(&f, FWCFG_ID);
  check(fwcfg_read(&f) == 1, "fw_cfg ID: the port interface, no DMA", 0);
  fwcfg_select(&f, 0x4242);
  check(fwcfg_read(&f) == 0, "fw_cfg unknown key reads 0", 0);
}

int main(int argc, char **argv)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  if (sbrk(pad + MEMSIZE + 2 * 4096) < 0)
    return printf("mbcheck: no memory\n"), 1;
  ram = (uint8 *)(cur + pad + 4096);
  good_images();
  bad_images();
  random_images(argc > 1 ? atoi(argv[1]) : 2000);
  acpi_checks();
  acpi_pm_checks();
  fwcfg_checks();
  printf("mbcheck: %d checks, %d failed\n", checks, failed);
  return failed ? 1 : 0;
}

// The multiboot (version 1) loader: finds the header in the kernel's first
// 8 KiB, loads the kernel by the header's a.out-kludge addresses (flag 16) or
// by its ELF32/ELF64 program headers, places the modules after it, and builds
// the information structure the kernel gets in EBX: memory sizes, a memory
// map, the command line, the modules and the boot loader's name.
// The Multiboot Specification 0.6.96 is the contract (§3.1 "OS image format",
// §3.2 "Machine state", §3.3 "Boot information format"); the kernel is
// entered in 32-bit protected mode, paging off, EAX = 0x2BADB002.
//
// Every field that comes from the file is checked before it is used: a
// malformed kernel is refused with a message that names the field, never
// loaded halfway or trusted (tools: user/mbcheck.c feeds it broken images).
#include "multiboot.h"
#include "../../lib/string.h"
#include "../../lib/fmt.h"

#define HOLE_START 0xA0000UL     // VGA memory and ROMs on a PC: not RAM
#define HOLE_END 0x100000UL
#define EBDA_START 0x9FC00UL     // the last KiB of low memory, reserved as on a PC

// Header flags (§3.1.2): bits 0-15 are requirements the loader must meet.
#define MBF_ALIGN_MODS (1u << 0)
#define MBF_MEMINFO (1u << 1)
#define MBF_VIDEO (1u << 2)
#define MBF_ADDRS (1u << 16)
#define MBF_KNOWN_REQUIRED (MBF_ALIGN_MODS | MBF_MEMINFO)

// Info flags (§3.3).
#define MBI_MEM (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER (1u << 9)

static char problem[128];

static const char *fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(problem, sizeof problem, fmt, ap);
  va_end(ap);
  return problem;
}

static uint32 get32(const uint8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32)p[3] << 24; }
static uint64 get64(const uint8 *p) { return get32(p) | (uint64)get32(p + 4) << 32; }
static uint16 get16(const uint8 *p) { return p[0] | p[1] << 8; }
static void put32(uint8 *p, uint32 v) { memmove(p, &v, 4); }

// Offset of the first header with a valid checksum, -1 if none, -2 if only
// headers with a bad checksum were seen.
static long find_header(const uint8 *d, uint64 n)
{
  long bad = -1;
  for (uint64 off = 0; off + 12 <= n && off + 12 <= MB_SEARCH; off += 4) {
    if (get32(d + off) != MB_HEADER_MAGIC)
      continue;
    if ((uint32)(get32(d + off) + get32(d + off + 4) + get32(d + off + 8)) == 0)
      return off;
    bad = -2;
  }
  return bad;
}

int multiboot_detect(const uint8 *data, uint64 size) { return find_header(data, size) >= 0; }

// [a, a+len) lies in RAM outside the PC hole and wraps nowhere.
static int fits(uint64 a, uint64 len, uint64 memsize)
{
  if (a + len < a || a + len > memsize)
    return 0;
  return len == 0 || a + len <= HOLE_START || a >= HOLE_END;
}

// Flag 16: load [load_addr, load_end_addr) from the file offset that puts the
// header at header_addr, zero up to bss_end_addr (§3.1.3).
static const char *load_aout(uint8 *mem, uint64 memsize, const uint8 *d, uint64 n, long h,
                             struct mb_entry *out)
{
  if ((uint64)h + 32 > n)
    return fail("multiboot header truncated: the address fields (flag 16) run past the file");
  uint32 hdr = get32(d + h + 12), load = get32(d + h + 16), end = get32(d + h + 20);
  uint32 bss = get32(d + h + 24), entry = get32(d + h + 28);
  if (hdr < load || hdr - load > (uint64)h)
    return fail("header_addr 0x%x / load_addr 0x%x: the image would start before the file", hdr, load);
  uint64 off = h - (hdr - load);
  uint64 len = end ? (uint64)end - load : n - off;
  if (end && end < load)
    return fail("load_end_addr 0x%x below load_addr 0x%x", end, load);
  if (off + len > n)
    return fail("load_end_addr 0x%x past the end of the file (%lu bytes)", end, n);
  uint64 top = bss ? bss : load + len;
  if (bss && bss < load + len)
    return fail("bss_end_addr 0x%x below load_end_addr 0x%lx", bss, load + len);
  if (!fits(load, top - load, memsize))
    return fail("load_addr..bss_end_addr 0x%x..0x%lx outside guest RAM (0..0x%lx, hole 0xa0000-0xfffff)",
                load, top, memsize);
  if (entry < load || entry >= load + len)
    return fail("entry_addr 0x%x outside the loaded image 0x%x..0x%lx", entry, load, load + len);
  memmove(mem + load, d + off, len);
  memset(mem + load + len, 0, top - load - len);
  out->eip = entry, out->kernel_end = top;
  return NULL;
}

// One program header of an ELF32 or ELF64 file, widened.
struct seg {
  uint32 type;
  uint64 offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const uint8 *p, int is64, struct seg *s)
{
  s->type = get32(p);
  if (is64) {
    s->offset = get64(p + 8), s->vaddr = get64(p + 16), s->paddr = get64(p + 24);
    s->filesz = get64(p + 32), s->memsz = get64(p + 40);
  } else {
    s->offset = get32(p + 4), s->vaddr = get32(p + 8), s->paddr = get32(p + 12);
    s->filesz = get32(p + 16), s->memsz = get32(p + 20);
  }
}

// Checks one PT_LOAD segment against the file and guest RAM.
static const char *check_seg(const struct seg *s, int i, uint64 n, uint64 memsize)
{
  if (s->offset + s->filesz < s->offset || s->offset + s->filesz > n)
    return fail("ELF segment %d: p_offset 0x%lx + p_filesz 0x%lx past the end of the file", i, s->offset,
                s->filesz);
  if (s->filesz > s->memsz)
    return fail("ELF segment %d: p_filesz 0x%lx larger than p_memsz 0x%lx", i, s->filesz, s->memsz);
  if (!fits(s->paddr, s->memsz, memsize))
    return fail("ELF segment %d: p_paddr 0x%lx + p_memsz 0x%lx outside guest RAM (0..0x%lx, hole "
                "0xa0000-0xfffff)", i, s->paddr, s->memsz, memsize);
  return NULL;
}

// Validates the ELF header; returns NULL and sets *is64, *phoff, *phnum.
static const char *elf_header(const uint8 *d, uint64 n, int *is64, uint64 *phoff, int *phnum)
{
  if (n < 52 || memcmp(d, "\177ELF", 4) != 0)
    return fail("no a.out-kludge addresses (flag 16) and not an ELF file");
  if (d[4] != 1 && d[4] != 2)
    return fail("ELF class %d: neither ELF32 nor ELF64", d[4]);
  *is64 = d[4] == 2;
  uint16 machine = get16(d + 18);
  if (d[5] != 1 || (machine != 3 && machine != 62))
    return fail("ELF machine %d (data %d): not little-endian x86", machine, d[5]);
  if (*is64 && n < 64)
    return fail("ELF64 header truncated");
  *phoff = *is64 ? get64(d + 32) : get32(d + 28);
  uint16 phentsize = get16(d + (*is64 ? 54 : 42));
  *phnum = get16(d + (*is64 ? 56 : 44));
  if (phentsize != (*is64 ? 56 : 32) || *phnum == 0)
    return fail("ELF e_phentsize %d / e_phnum %d: no program headers to load", phentsize, *phnum);
  if (*phoff > n || (uint64)*phnum * phentsize > n - *phoff)
    return fail("ELF program headers (e_phoff 0x%lx, %d entries) past the end of the file", *phoff, *phnum);
  return NULL;
}

// Without flag 16: the ELF program headers, at their physical addresses
// (as GRUB and QEMU do); the entry is translated through the segment that
// holds it, so a higher-half ELF64 kernel starts at its physical address.
static const char *load_elf(uint8 *mem, uint64 memsize, const uint8 *d, uint64 n, struct mb_entry *out)
{
  int is64 = 0, phnum = 0, loaded = 0;
  uint64 phoff = 0;
  const char *why = elf_header(d, n, &is64, &phoff, &phnum);
  if (why)
    return why;
  uint64 entry = is64 ? get64(d + 24) : get32(d + 24), eip = ~0UL, top = 0;
  for (int i = 0; i < phnum; i++) {
    struct seg s;
    read_phdr(d + phoff + (uint64)i * (is64 ? 56 : 32), is64, &s);
    if (s.type != 1)
      continue;
    if ((why = check_seg(&s, i, n, memsize)))
      return why;
    memmove(mem + s.paddr, d + s.offset, s.filesz);
    memset(mem + s.paddr + s.filesz, 0, s.memsz - s.filesz);
    if (entry - s.vaddr < s.memsz)
      eip = entry - s.vaddr + s.paddr;
    if (s.paddr + s.memsz > top)
      top = s.paddr + s.memsz;
    loaded++;
  }
  if (!loaded)
    return fail("ELF file has no PT_LOAD segment");
  if (eip == ~0UL)
    return fail("ELF e_entry 0x%lx is in no loaded segment", entry);
  out->eip = eip, out->kernel_end = top;
  return NULL;
}

// Reserves len bytes at *top (aligned); NULL if they do not fit.
static uint8 *take(uint8 *mem, uint64 memsize, uint64 *top, uint64 len, uint64 align)
{
  uint64 a = (*top + align - 1) & ~(align - 1);
  if (a < HOLE_END && a + len > HOLE_START)
    a = HOLE_END;
  if (a + len < a || a + len > memsize)
    return NULL;
  *top = a + len;
  return mem + a;
}

// Copies a NUL-terminated string into guest RAM at *top; its address or 0.
static uint32 put_string(uint8 *mem, uint64 memsize, uint64 *top, const char *s)
{
  uint64 len = strlen(s ? s : "") + 1;
  uint8 *p = take(mem, memsize, top, len, 1);
  if (!p)
    return 0;
  memmove(p, s ? s : "", len);
  return p - mem;
}

// The memory map (§3.3, "mmap_*"): low RAM, the reserved EBDA and hole,
// then RAM from 1 MiB.
static uint32 put_mmap(uint8 *mem, uint64 memsize, uint64 *top, uint32 *length)
{
  static const uint64 map[3][3] = {{0, EBDA_START, 1}, {EBDA_START, HOLE_END - EBDA_START, 2},
                                   {HOLE_END, 0, 1}};
  uint8 *p = take(mem, memsize, top, 3 * 24, 4), *q = p;
  if (!p)
    return 0;
  for (int i = 0; i < 3; i++, q += 24) {
    uint64 len = i == 2 ? memsize - HOLE_END : map[i][1];
    put32(q, 20);
    memmove(q + 4, &map[i][0], 8);
    memmove(q + 12, &len, 8);
    put32(q + 20, map[i][2]);
  }
  *length = 3 * 24;
  return p - mem;
}

// Modules after the kernel (page-aligned: GRUB does so always, and flag 0
// asks for it), then the information structure and its strings.
static const char *boot_info(uint8 *mem, uint64 memsize, const struct mb_file *kernel,
                             const struct mb_file *mods, int nmods, struct mb_entry *out)
{
  uint64 top = out->kernel_end;
  uint32 modaddr[16][2];
  if (nmods > 16)
    return fail("%d modules: at most 16", nmods);
  for (int i = 0; i < nmods; i++) {
    uint8 *p = take(mem, memsize, &top, mods[i].size, 4096);
    if (!p)
      return fail("module %d (%s, %lu bytes) does not fit in guest RAM (0x%lx bytes)", i, mods[i].name,
                  mods[i].size, memsize);
    memmove(p, mods[i].data, mods[i].size);
    modaddr[i][0] = p - mem, modaddr[i][1] = p - mem + mods[i].size;
  }
  uint8 *info = take(mem, memsize, &top, 128, 8), *modlist = take(mem, memsize, &top, 16 * nmods + 16, 8);
  if (!info || !modlist)
    return fail("no room for the boot information in guest RAM");
  memset(info, 0, 128);
  uint32 flags = MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER, mmaplen = 0;
  put32(info + 4, 640);                              // mem_lower, KiB below 640 KiB
  put32(info + 8, (memsize - HOLE_END) >> 10);       // mem_upper, KiB above 1 MiB
  put32(info + 16, put_string(mem, memsize, &top, kernel->cmdline ? kernel->cmdline : kernel->name));
  put32(info + 20, nmods);
  put32(info + 24, modlist - mem);
  for (int i = 0; i < nmods; i++) {
    put32(modlist + 16 * i, modaddr[i][0]);
    put32(modlist + 16 * i + 4, modaddr[i][1]);
    put32(modlist + 16 * i + 8, put_string(mem, memsize, &top, mods[i].cmdline ? mods[i].cmdline : mods[i].name));
  }
  put32(info + 48, put_mmap(mem, memsize, &top, &mmaplen));
  put32(info + 44, mmaplen);
  put32(info + 64, put_string(mem, memsize, &top, "svmlab vmm"));
  if (!get32(info + 16) || !get32(info + 48) || !get32(info + 64))
    return fail("no room for the boot information in guest RAM");
  put32(info, flags);
  out->info = info - mem;
  return NULL;
}

const char *multiboot_load(uint8 *mem, uint64 memsize, const struct mb_file *kernel,
                           const struct mb_file *mods, int nmods, struct mb_entry *out)
{
  if (memsize < 2 * HOLE_END || memsize > (1UL << 32))
    return fail("guest RAM of 0x%lx bytes: between 2 MiB and 4 GiB please", memsize);
  long h = find_header(kernel->data, kernel->size);
  if (h == -2)
    return fail("multiboot header checksum: magic + flags + checksum is not 0");
  if (h < 0)
    return fail("no multiboot header (magic 0x1badb002) in the first 8 KiB");
  uint32 flags = get32(kernel->data + h + 4);
  if (flags & MBF_VIDEO)
    return fail("flags: a video mode is required (bit 2); this loader has no framebuffer");
  if (flags & 0xFFFF & ~MBF_KNOWN_REQUIRED)
    return fail("flags 0x%x: required feature bits this loader does not know", flags & 0xFFFF);
  const char *why = (flags & MBF_ADDRS) ? load_aout(mem, memsize, kernel->data, kernel->size, h, out)
                                        : load_elf(mem, memsize, kernel->data, kernel->size, out);
  if (why)
    return why;
  return boot_info(mem, memsize, kernel, mods, nmods, out);
}

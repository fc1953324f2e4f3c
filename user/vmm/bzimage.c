// The Linux/x86 boot protocol (Linux's Documentation/arch/x86/boot.rst):
// loads a bzImage, an initramfs and a command line into guest RAM, fills
// the zero page (struct boot_params) and enters the kernel through its
// 64-bit entry point, as a boot loader would after leaving the firmware.
//
// Guest-physical layout (all below 1 MiB is ours; Linux reserves it anyway):
//   0x01000  boot GDT (selectors 0x10 code, 0x18 data, as the protocol wants)
//   0x07000  zero page (struct boot_params, 4 KiB)
//   0x09000  identity page tables for the 64-bit entry (PML4, PDPT, 4 PDs)
//   0x20000  kernel command line
//   0x100000 the protected-mode kernel (the file after its setup sectors)
//   ...      the initramfs, where bz_place_initrd puts it
// A file that is not a bzImage we can boot is refused with a message naming
// the header field that is wrong; nothing in the file is trusted.
#include "vmm.h"
#include "bzimage.h"

// Setup header fields: offsets in the file's first sectors, and in the
// zero page, which holds a copy of the header at the same offsets.
#define HDR_SETUP_SECTS 0x1F1   // u8: 512-byte setup sectors after the boot sector (0 = 4)
#define HDR_SYSSIZE 0x1F4       // u32: protected-mode size in 16-byte paragraphs
#define HDR_VID_MODE 0x1FA      // u16: 0xFFFF = "normal"
#define HDR_BOOT_FLAG 0x1FE     // u16: 0xAA55
#define HDR_JUMP 0x200          // u8 0xEB, then the header's length - 0x202 + ...
#define HDR_MAGIC 0x202         // u32: "HdrS"
#define HDR_VERSION 0x206       // u16: protocol version, major.minor as 0xMMmm
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21C
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22C
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END 0x268           // the end of the 2.12 header: we read this much
#define BP_E820_ENTRIES 0x1E8   // u8 in the zero page
#define BP_E820_TABLE 0x2D0     // 20-byte entries: u64 addr, u64 size, u32 type
#define BP_E820_MAX 128

#define HDRS_MAGIC 0x53726448   // "HdrS"
#define LOADED_HIGH 0x01        // loadflags: protected-mode code at 0x100000 (a bzImage)
#define XLF_KERNEL_64 0x01      // xloadflags: a 64-bit entry at code32_start + 0x200
#define E820_RAM 1
#define E820_RESERVED 2

static inline uint8 u8at(const uint8 *p, int off) { return p[off]; }
static inline uint16 u16at(const uint8 *p, int off) { return p[off] | p[off + 1] << 8; }
static inline uint32 u32at(const uint8 *p, int off) { return u16at(p, off) | (uint32)u16at(p, off + 2) << 16; }
static inline uint64 u64at(const uint8 *p, int off) { return u32at(p, off) | (uint64)u32at(p, off + 4) << 32; }
static inline void put16(uint8 *p, int off, uint16 v) { p[off] = v, p[off + 1] = v >> 8; }
static inline void put32(uint8 *p, int off, uint32 v) { put16(p, off, v), put16(p, off + 2, v >> 16); }
static inline void put64(uint8 *p, int off, uint64 v) { put32(p, off, v), put32(p, off + 4, v >> 32); }

// Signature, protocol version and flags: is this a bzImage with a 64-bit
// entry? NULL or the problem, naming the field.
static const char *bz_check_kind(const uint8 *h, uint64 n)
{
  // LAB 6 BEGIN
  if (n < HDR_END)
    return "truncated: shorter than the setup header";
  if (u16at(h, HDR_BOOT_FLAG) != 0xAA55 || u32at(h, HDR_MAGIC) != HDRS_MAGIC)
    return "boot_flag/header: no 0xAA55 and \"HdrS\" (not a Linux bzImage)";
  if (u16at(h, HDR_VERSION) < 0x020C)
    return "version: boot protocol older than 2.12 (no 64-bit entry, no xloadflags)";
  if (!(u8at(h, HDR_LOADFLAGS) & LOADED_HIGH))
    return "loadflags: not LOADED_HIGH (a zImage, not a bzImage)";
  if (!(u16at(h, HDR_XLOADFLAGS) & XLF_KERNEL_64))
    return "xloadflags: no 64-bit entry point (XLF_KERNEL_64)";
  return NULL;
  // LAB 6 STUB
  // // LAB 6: NULL if h (n bytes) starts like a bzImage (boot protocol >= 2.12)
  // // with a 64-bit entry; else a message naming the field that says otherwise.
  // (void)h, (void)n;
  // return "LAB 6: bz_check_kind not written";
  // LAB 6 END
}

// The header's sizes against the file (n bytes) and guest RAM (mem bytes).
// NULL when the kernel can be booted, else the problem, naming the field.
// Fills b from the header.
const char *bz_check_header(const uint8 *h, uint64 n, uint64 mem, struct bzinfo *b)
{
  const char *bad = bz_check_kind(h, n);
  if (bad)
    return bad;
  // LAB 6 BEGIN
  static char why[120];
  uint32 sects = u8at(h, HDR_SETUP_SECTS) ? u8at(h, HDR_SETUP_SECTS) : 4;
  b->setup_size = (sects + 1) * 512;
  if (b->setup_size >= n)
    return "setup_sects: the setup sectors run past the end of the file";
  b->kernel_size = n - b->setup_size;
  uint64 sys = (uint64)u32at(h, HDR_SYSSIZE) * 16;
  if (sys == 0 || sys > b->kernel_size) {
    snprintf(why, sizeof why, "syssize: %lu bytes of kernel, but the file holds %lu after setup", sys,
             b->kernel_size);
    return why;
  }
  uint32 align = u32at(h, HDR_KERNEL_ALIGNMENT);
  if (align < 4096 || (align & (align - 1)) || align > (1u << 30))
    return "kernel_alignment: not a power of two between 4 KiB and 1 GiB";
  if (!u8at(h, HDR_RELOCATABLE) && u64at(h, HDR_PREF_ADDRESS) != BZ_KERNEL)
    return "relocatable_kernel: a kernel that must run elsewhere than 0x100000";
  b->init_size = u32at(h, HDR_INIT_SIZE);
  if (b->init_size < b->kernel_size)
    return "init_size: smaller than the kernel it has to hold";
  // The decompressor works from the higher of the load and preferred
  // addresses (LOAD_PHYSICAL_ADDR, 16 MiB for Debian) up init_size bytes.
  uint64 pref = u64at(h, HDR_PREF_ADDRESS), base = pref > BZ_KERNEL ? pref : BZ_KERNEL;
  b->kernel_end = (base + b->init_size + 4095) & ~4095UL;
  if (base >= mem || b->kernel_end > mem) {
    snprintf(why, sizeof why, "init_size: the kernel needs RAM up to 0x%lx, more than the guest's %lu MiB",
             b->kernel_end, mem >> 20);
    return why;
  }
  b->initrd_max = u32at(h, HDR_INITRD_ADDR_MAX);
  b->cmdline_size = u32at(h, HDR_CMDLINE_SIZE);
  return NULL;
  // LAB 6 STUB
  // // LAB 6: check setup_sects, syssize, kernel_alignment, init_size... against
  // // the file size n and guest RAM mem; fill *b; NULL or a message naming the field.
  // (void)n, (void)mem, (void)b;
  // return "LAB 6: bz_check_header not written";
  // LAB 6 END
}

// Where the initramfs of size bytes goes: page-aligned, inside RAM, its last
// byte at or below initrd_addr_max, clear of the kernel's init_size region.
// 0 and *why when it does not fit.
uint64 bz_place_initrd(const struct bzinfo *b, uint64 mem, uint64 size, const char **why)
{
  // LAB 6 BEGIN
  uint64 top = mem;
  if ((uint64)b->initrd_max + 1 < top)
    top = (uint64)b->initrd_max + 1;
  uint64 pages = (size + 4095) & ~4095UL;
  if (size == 0 || pages > top || ((top - pages) & ~4095UL) < b->kernel_end) {
    *why = "initrd: too big for guest RAM above the kernel (or below initrd_addr_max)";
    return 0;
  }
  return (top - pages) & ~4095UL;
  // LAB 6 STUB
  // // LAB 6: a guest-physical address for an initrd of size bytes that the boot protocol
  // // allows (see the comment above); 0 + *why if there is none.
  // (void)b, (void)mem, (void)size;
  // *why = "LAB 6: bz_place_initrd not written";
  // return 0;
  // LAB 6 END
}

// The BIOS memory map Linux reads instead of asking the firmware (INT 15h
// E820): which guest-physical ranges are RAM it may use, and which are not.
static void bz_e820(uint8 *zp, uint64 mem)
{
  // LAB 6 BEGIN
  static const uint32 types[3] = {E820_RAM, E820_RESERVED, E820_RAM};
  uint64 start[3] = {0, BZ_LOWMEM, BZ_KERNEL}, end[3] = {BZ_LOWMEM, BZ_KERNEL, mem};
  for (int i = 0; i < 3; i++) {
    int off = BP_E820_TABLE + i * 20;
    put64(zp, off, start[i]);
    put64(zp, off + 8, end[i] - start[i]);
    put32(zp, off + 16, types[i]);
  }
  zp[BP_E820_ENTRIES] = 3;
  // LAB 6 STUB
  // // LAB 6: write the e820 map of a PC with mem bytes of RAM (what a PC's firmware
  // // would report) and its entry count into the zero page.
  // (void)zp, (void)mem;
  // LAB 6 END
}

// Fills the zero page: the setup header as the file has it (from 0x1F1 to
// the end the jump at 0x200 gives), then what the loader must say.
void bz_zero_page(uint8 *zp, const uint8 *setup, uint64 mem, uint64 initrd, uint64 initrd_size)
{
  memset(zp, 0, 4096);
  // LAB 6 BEGIN
  int end = 0x202 + u8at(setup, HDR_JUMP + 1);   // the jump at 0x200 skips the header
  if (end > HDR_END + 0x100)
    end = HDR_END;
  memmove(zp + HDR_SETUP_SECTS, setup + HDR_SETUP_SECTS, end - HDR_SETUP_SECTS);
  put16(zp, HDR_VID_MODE, 0xFFFF);               // "normal": no video mode change
  zp[HDR_TYPE_OF_LOADER] = 0xFF;                 // an unregistered boot loader
  put32(zp, HDR_CMD_LINE_PTR, BZ_CMDLINE);
  put32(zp, HDR_RAMDISK_IMAGE, initrd);
  put32(zp, HDR_RAMDISK_SIZE, initrd_size);
  // LAB 6 STUB
  // // LAB 6: copy the setup header into the zero page and fill in what the
  // // loader tells the kernel: video mode, loader type, command line, initrd.
  // (void)setup, (void)initrd, (void)initrd_size;
  // LAB 6 END
  bz_e820(zp, mem);
}

// The 64-bit entry's state (boot.rst "64-bit Boot Protocol"): long mode with
// an identity map of what the loader placed, CS a flat 64-bit code segment
// at selector 0x10, DS/ES/SS flat data at 0x18, interrupts off, RSI = the
// zero page, RIP = the kernel's load address + 0x200.
void bz_entry_regs(struct vm_regs *r)
{
  // LAB 6 BEGIN
  struct vm_seg code = {0x10, 0xA9B, 0xFFFFFFFF, 0};   // P, S, type 0xB, L, G
  struct vm_seg data = {0x18, 0xC93, 0xFFFFFFFF, 0};   // P, S, type 0x3, D/B, G
  r->cs = code;
  r->ds = r->es = r->ss = r->fs = r->gs = data;
  r->gdtr.base = BZ_GDT;
  r->gdtr.limit = 4 * 8 - 1;
  r->rip = BZ_KERNEL + 0x200;
  r->rsi = BZ_ZEROPAGE;
  r->rflags = 0x2;
  r->cr3 = BZ_PT;
  r->cr0 = 0x80000011;                                // PG, ET, PE
  r->cr4 = 0x20;                                      // PAE
  r->efer = 0x500;                                    // LME, LMA
  // LAB 6 STUB
  // // LAB 6: the registers the 64-bit boot protocol requires at the kernel's
  // // 64-bit entry (segments, GDT, RIP, RSI, RFLAGS, paging with BZ_PT).
  // (void)r;
  // LAB 6 END
}

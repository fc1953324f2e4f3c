// The Linux boot-protocol loader's interface (bzimage.c, the lab 6 part,
// and linux.c, which reads the files and sets the VM up around it).
#pragma once
#include "vmm.h"

// Guest-physical layout (see bzimage.c's header comment).
#define BZ_GDT 0x1000UL
#define BZ_ZEROPAGE 0x7000UL
#define BZ_PT 0x9000UL          // PML4; PDPT at +0x1000, 4 PDs after it
#define BZ_CMDLINE 0x20000UL
#define BZ_CMDLINE_MAX 4096UL
#define BZ_KERNEL 0x100000UL
#define BZ_LOWMEM 0x9F000UL     // RAM below the EBDA and the legacy video/BIOS hole
#define BZ_MEM_MIN (32UL << 20)
#define BZ_MEM_MAX (3UL << 30)  // guest RAM stays below the 4 GiB of guest-physical space

// What the header checks learn from a bzImage.
struct bzinfo {
  uint64 setup_size;    // bytes of boot sector + setup code before the kernel
  uint64 kernel_size;   // bytes of protected-mode kernel (the rest of the file)
  uint64 init_size;     // RAM the kernel needs from its load address to decompress
  uint64 kernel_end;    // first guest-physical byte the kernel leaves alone
  uint32 initrd_max;    // initrd_addr_max: highest address of the initrd's last byte
  uint32 cmdline_size;  // longest command line the kernel takes (without the NUL)
};

const char *bz_check_header(const uint8 *h, uint64 n, uint64 mem, struct bzinfo *b);
uint64 bz_place_initrd(const struct bzinfo *b, uint64 mem, uint64 size, const char **why);
void bz_zero_page(uint8 *zp, const uint8 *setup, uint64 mem, uint64 initrd, uint64 initrd_size);
void bz_entry_regs(struct vm_regs *r);

// The multiboot (version 1) loader (multiboot.c): what QEMU's -kernel and GRUB
// do for a multiboot kernel, into the VMM's copy of guest RAM.
#pragma once
#include "../../kern/types.h"

#define MB_HEADER_MAGIC 0x1BADB002     // in the kernel image
#define MB_BOOT_MAGIC 0x2BADB002       // in EAX at the kernel's entry
#define MB_SEARCH 8192                 // the header lies in the image's first 8 KiB

// A file the loader places: the kernel or a module, with its command line.
struct mb_file {
  const char *name;
  const uint8 *data;
  uint64 size;
  const char *cmdline;
};

// Where the kernel starts: EIP, and EBX = the info structure's address.
struct mb_entry {
  uint64 eip, info;
  uint64 kernel_end;                   // first byte after the kernel (bss included)
};

// Loads kernel and modules into mem[0..memsize) (guest-physical 0..) and
// builds the multiboot information. NULL on success with *out filled, else
// a message naming the field that is wrong; mem may then be partly written.
const char *multiboot_load(uint8 *mem, uint64 memsize, const struct mb_file *kernel,
                           const struct mb_file *mods, int nmods, struct mb_entry *out);
// 1 if data holds a multiboot header in its first 8 KiB (valid checksum).
int multiboot_detect(const uint8 *data, uint64 size);

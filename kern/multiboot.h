// Multiboot (version 1) structures the loader hands us in %ebx.
#pragma once
#include "types.h"
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002
#define MB_INFO_CMDLINE  (1 << 2)
#define MB_INFO_MODS     (1 << 3)
#define MB_INFO_MEM_MAP  (1 << 6)

struct mb_info {
  uint32 flags;
  uint32 mem_lower, mem_upper;
  uint32 boot_device;
  uint32 cmdline;
  uint32 mods_count, mods_addr;
  uint32 syms[4];
  uint32 mmap_length, mmap_addr;
} __attribute__((packed));

struct mb_module {
  uint32 mod_start, mod_end;
  uint32 string;
  uint32 reserved;
} __attribute__((packed));

struct mb_mmap_entry {
  uint32 size;        // size of the rest of this entry
  uint64 addr, len;
  uint32 type;        // 1 = usable RAM
} __attribute__((packed));

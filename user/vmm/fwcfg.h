// QEMU's fw_cfg interface, the traditional I/O port form (fwcfg.c).
#pragma once
#include "../../kern/types.h"

#define FWCFG_PORT_SEL 0x510    // 16-bit write: the item key
#define FWCFG_PORT_DATA 0x511   // 8-bit read: the item's next byte

// Keys (QEMU docs/specs/fw_cfg.rst; include/standard-headers/linux/qemu_fw_cfg.h).
#define FWCFG_SIGNATURE 0x00    // "QEMU"
#define FWCFG_ID 0x01           // u32 feature bitmap: bit 0 = this port interface (no DMA)
#define FWCFG_UUID 0x02         // 16 bytes
#define FWCFG_RAM_SIZE 0x03     // u64, little-endian
#define FWCFG_NOGRAPHIC 0x04    // u16
#define FWCFG_NB_CPUS 0x05      // u16
#define FWCFG_MAX_CPUS 0x0F     // u16
#define FWCFG_FILE_DIR 0x19     // u32 big-endian count, then 64-byte entries (none here)

struct fwcfg {
  uint16 key;
  uint32 offset;
  uint64 ram_size;
  uint16 ncpus;
};

void fwcfg_init(struct fwcfg *f, uint64 ram_size, int ncpus);
void fwcfg_select(struct fwcfg *f, uint16 key);
uint8 fwcfg_read(struct fwcfg *f);

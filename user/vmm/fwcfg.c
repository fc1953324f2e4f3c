// QEMU's fw_cfg device, the traditional I/O port interface (QEMU's
// docs/specs/fw_cfg.rst, "Selector (Control) Register" and "Data Register"):
// writing a key to port 0x510 selects an item and rewinds it; each read of
// port 0x511 returns its next byte, and 0 past its end or for an unknown key.
// Test kernels written for QEMU's pc machine read the signature, the RAM size
// and the CPU count from it. The DMA interface (ID bit 1) is not offered.
#include "fwcfg.h"
#include "../../lib/string.h"

void fwcfg_init(struct fwcfg *f, uint64 ram_size, int ncpus)
{
  memset(f, 0, sizeof *f);
  f->ram_size = ram_size;
  f->ncpus = ncpus;
}

void fwcfg_select(struct fwcfg *f, uint16 key)
{
  f->key = key;
  f->offset = 0;
}

// The selected item's bytes: *len of them at *p (a scratch buffer for the
// numeric items, little-endian as the spec says for them).
static void item(struct fwcfg *f, uint8 *buf, const uint8 **p, uint32 *len)
{
  uint64 v = 0;
  *p = buf, *len = 0;
  switch (f->key) {
  case FWCFG_SIGNATURE: *p = (const uint8 *)"QEMU", *len = 4; return;
  case FWCFG_ID: v = 1, *len = 4; break;
  case FWCFG_UUID: *len = 16; break;   // all zero
  case FWCFG_RAM_SIZE: v = f->ram_size, *len = 8; break;
  case FWCFG_NOGRAPHIC: v = 1, *len = 2; break;
  case FWCFG_NB_CPUS:
  case FWCFG_MAX_CPUS: v = f->ncpus, *len = 2; break;
  case FWCFG_FILE_DIR: *len = 4; break;   // a big-endian count of 0 files
  default: return;
  }
  memset(buf, 0, 16);
  memmove(buf, &v, 8);
}

uint8 fwcfg_read(struct fwcfg *f)
{
  uint8 buf[16];
  const uint8 *p;
  uint32 len;
  item(f, buf, &p, &len);
  if (f->offset >= len)
    return 0;
  return p[f->offset++];
}

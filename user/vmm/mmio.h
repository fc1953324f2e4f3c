// MMIO device ranges and the exit that emulates accesses to them (mmio.c).
#pragma once
#include "vmm.h"

// A device model's guest-physical range. read/write get the offset in the
// range and one access of n = 1, 2, 4 or 8 bytes; they return 0, or -1 to
// refuse it (the guest ends with a report).
struct mmio_dev {
  const char *name;
  uint64 base, len;
  int (*read)(void *dev, uint64 off, void *buf, int n);
  int (*write)(void *dev, uint64 off, const void *buf, int n);
  void *dev;
};

extern uint64 mmio_emulated;
int mmio_add(const struct mmio_dev *d);
int mmio_move(void *dev, uint64 base);   // the window of the device with this dev to base; -1 overlap
const struct mmio_dev *mmio_find(uint64 gpa);
void mmio_reset(void);
const struct mmio_dev *mmio_dev_at(int i);
int mmio_exit(struct guest *g);
// testdev.c: the test device of guests with GUEST_F_TESTDEV
int testdev_setup(struct guest *g);
uint8 *testdev_page(void);
uint64 *mmio_gpr(struct vm_regs *r, int i);   // register i in x86 encoding order (X86_RAX ..)   // the test device's page (user/mmiodiff.c)
void testdev_report(struct guest *g);

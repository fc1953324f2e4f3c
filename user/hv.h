// hv.h: a tiny VMM harness for the hostile tests (user/hostile.c,
// user/guestfuzz.c): guest RAM from the heap, one vcpu, register helpers and
// guest-image loading. Static functions: each program includes it once.
#pragma once
#include "user.h"
#include "vm.h"
#include "guests/guest.h"

#define PGSIZE 4096UL
#define HVFN static __attribute__((unused))   // each program uses some of these

struct hv {
  int vm, vcpu;
  uint8 *mem;          // guest RAM: guest-physical 0 .. memsize
  uint64 memsize;
  struct vm_exit e;    // the last exit, passed back to vcpu_run
};

// n fresh zeroed pages at the top of the heap, page-aligned; NULL if none.
HVFN uint8 *hv_pages(uint64 n)
{
  uint64 brk = (uint64)sbrk(0);
  uint64 pad = (PGSIZE - brk % PGSIZE) % PGSIZE;
  if (sbrk(pad + n * PGSIZE) < 0)
    return NULL;
  return (uint8 *)(brk + pad);
}

// A VM with memsize bytes of RAM at guest-physical 0 (mem, or fresh pages
// when mem is NULL) and one vcpu in mode. 0, or a negative error (nothing
// is left behind).
HVFN int hv_new_mem(struct hv *h, uint8 *mem, uint64 memsize, int mode)
{
  memset(h, 0, sizeof *h);
  h->memsize = memsize;
  h->mem = mem ? mem : hv_pages(memsize / PGSIZE);
  if (!h->mem)
    return -ENOMEM;
  h->vm = vm_create();
  if (h->vm < 0)
    return h->vm;
  int r = vm_map(h->vm, 0, h->mem, memsize, VM_MAP_RWX);
  if (r >= 0)
    r = h->vcpu = vcpu_create(h->vm, mode);
  if (r < 0)
    vm_destroy(h->vm);
  return r < 0 ? r : 0;
}

HVFN int hv_new(struct hv *h, uint64 memsize, int mode)
{
  return hv_new_mem(h, NULL, memsize, mode);
}

HVFN void hv_free(struct hv *h) { vm_destroy(h->vm); }

// Sets RIP and RSP (and CR3 when cr3 is not 0), keeping the mode's state.
HVFN int hv_setrip(struct hv *h, uint64 rip, uint64 rsp)
{
  struct vm_regs r;
  int e = vcpu_getregs(h->vm, h->vcpu, &r);
  if (e < 0)
    return e;
  r.rip = rip;
  r.rsp = rsp;
  return vcpu_setregs(h->vm, h->vcpu, &r);
}

// Reads initrd file path into buf (at most n bytes): its size, or an error.
HVFN long hv_readfile(const char *path, uint8 *buf, long n)
{
  int fd = open(path);
  if (fd < 0)
    return fd;
  long size = fsize(fd), got = 0;
  while (got < size && got < n) {
    long r = read(fd, buf + got, n - got);
    if (r <= 0)
      break;
    got += r;
  }
  close(fd);
  return got == size ? size : -EIO;
}

// Loads initrd image NAME.guest (user/guests/guest.h; the hostile tests'
// own images, trusted) into a new VM as hv_new does, entry registers set.
// 0 or a negative error.
HVFN int hv_load(struct hv *h, const char *name)
{
  static uint8 buf[64 * 1024];
  char path[64];
  snprintf(path, sizeof path, "/%s.guest", name);
  long n = hv_readfile(path, buf, sizeof buf);
  const struct guest_header *g = (const struct guest_header *)buf;
  if (n < GUEST_HDRSIZE || g->magic != GUEST_MAGIC || g->load + n > g->memsize)
    return n < 0 ? n : -ENOEXEC;
  int r = hv_new(h, g->memsize, g->mode);
  if (r < 0)
    return r;
  memcpy(h->mem + g->load, buf, n);
  struct vm_regs regs;
  if ((r = vcpu_getregs(h->vm, h->vcpu, &regs)) < 0)
    return r;
  regs.rip = g->entry;
  regs.rsp = g->stack;
  if (g->mode == GUEST_MODE_LONG64)
    regs.cr3 = g->cr3;
  return vcpu_setregs(h->vm, h->vcpu, &regs);
}

// Runs the vcpu until an exit other than VM_EXIT_INTR; vcpu_run's result.
HVFN int hv_run(struct hv *h) { return vcpu_run_guest(h->vm, h->vcpu, &h->e); }

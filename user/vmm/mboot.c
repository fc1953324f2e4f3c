// Booting a multiboot kernel: `vmm -k KERNEL [-r MODULE] [-a CMDLINE] [-M MiB]`
// when KERNEL has a multiboot header (else linux.c treats it as a bzImage).
// The files come from svmlab's initrd; the loader is multiboot.c; the guest
// gets the board's APICs, ACPI tables and fw_cfg (apic.c), since kernels
// written for a PC (svmlab's own among them) find their interrupt
// controllers there. -a names a file holding the command line, or, when no
// such file exists, is the command line itself.
#include "vmm.h"
#include "multiboot.h"

static struct mb_entry entry;
static int booted_mb;

// The whole of an initrd file in a malloc'd buffer; its size, or -errno.
static long slurp(const char *path, uint8 **out)
{
  int fd = open(path);
  long n = fd < 0 ? fd : fsize(fd);
  if (n < 0)
    return n;
  uint8 *buf = malloc(n ? n : 1);
  long got = buf ? read(fd, buf, n) : -ENOMEM;
  close(fd);
  if (got != n) {
    free(buf);
    return got < 0 ? got : -EIO;
  }
  *out = buf;
  return n;
}

// The command line: the file -a names, or -a itself, or the kernel's name.
static const char *kernel_cmdline(struct guest *g)
{
  static char line[512];
  uint8 *buf;
  const char *a = g->o->cmdline;
  if (!a)
    return g->o->kernel;
  long n = slurp(a, &buf);
  if (n < 0)
    return a;
  n = n < (long)sizeof line - 1 ? n : (long)sizeof line - 1;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    n--;
  for (long i = 0; i < n; i++)
    line[i] = buf[i] == '\n' ? ' ' : buf[i];
  line[n] = 0;
  free(buf);
  return line;
}

// Guest RAM for -M MiB, page-aligned and zeroed (sbrk'd pages are).
static uint8 *ram(uint64 size)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  return sbrk(pad + size) < 0 ? NULL : (uint8 *)(cur + pad);
}

// 1 if -k is a multiboot kernel and was loaded into g (mode, entry, RAM,
// APICs), 0 if it is not one (linux.c goes on), -1 after printing why not.
int mboot_load(struct guest *g)
{
  uint8 *k, *m = NULL;
  long nk = slurp(g->o->kernel, &k), nm = 0;
  if (nk < 0)
    return printf("vmm: %s: %s\n", g->o->kernel, errstr(nk)), -1;
  if (!multiboot_detect(k, nk)) {
    free(k);
    return 0;
  }
  if (g->o->initrd && (nm = slurp(g->o->initrd, &m)) < 0)
    return printf("vmm: %s: %s\n", g->o->initrd, errstr(nm)), -1;
  uint64 mem = (uint64)(g->o->mem_mb ? g->o->mem_mb : 64) << 20;
  if (!(g->mem = ram(mem)))
    return printf("vmm: no memory for %lu MiB of guest RAM (-M)\n", mem >> 20), -1;
  struct mb_file kf = {g->o->kernel, k, nk, kernel_cmdline(g)};
  struct mb_file mf = {g->o->initrd, m, nm, g->o->initrd};
  const char *why = multiboot_load(g->mem, mem, &kf, &mf, m ? 1 : 0, &entry);
  free(k), free(m);
  if (why)
    return printf("vmm: %s: %s\n", g->o->kernel, why), -1;
  g->hdr.memsize = mem;
  g->hdr.mode = GUEST_MODE_PROT32;
  g->hdr.entry = entry.eip;
  g->imagesize = entry.kernel_end;
  booted_mb = 1;
  return apic_setup(g) < 0 ? -1 : 1;
}

// The machine state at a multiboot entry (spec §3.2): EAX the magic, EBX the
// information structure; 32-bit flat segments and paging off come with
// GUEST_MODE_PROT32. 1 if this guest was booted that way.
int mboot_regs(struct guest *g, struct vm_regs *r)
{
  if (!booted_mb)
    return 0;
  r->rax = MB_BOOT_MAGIC;
  r->rbx = entry.info;
  r->rsp = 0;
  return 1;
}

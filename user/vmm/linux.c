// Booting Linux: `vmm -k BZIMAGE [-r INITRD] [-a CMDLINE-FILE] [-M MiB]`.
// Reads the kernel, the initramfs and the command line from svmlab's initrd
// into guest RAM around the boot-protocol loader (bzimage.c), and builds
// what a boot loader leaves behind for the 64-bit entry: a GDT and an
// identity map of the low 4 GiB.
#include "vmm.h"
#include "bzimage.h"
#include "kvmpv.h"
#include "virtio_console.h"

#define DEFAULT_CMDLINE "console=ttyS0"

// Reads exactly n bytes of fd into dst; 0 or -1 (short file, read error).
static int read_all(int fd, uint8 *dst, uint64 n)
{
  while (n) {
    long got = read(fd, dst, n > (1UL << 30) ? 1UL << 30 : n);
    if (got <= 0)
      return -1;
    dst += got, n -= got;
  }
  return 0;
}

// Skips n bytes of fd (the setup code, which a 64-bit entry does not run).
static int skip(int fd, uint64 n)
{
  static uint8 scratch[4096];
  while (n) {
    uint64 k = n < sizeof scratch ? n : sizeof scratch;
    if (read_all(fd, scratch, k) < 0)
      return -1;
    n -= k;
  }
  return 0;
}

// Page-aligned zeroed memory (sbrk'd pages are zeroed).
static uint8 *ram(uint64 size)
{
  long cur = sbrk(0);
  long pad = (4096 - cur % 4096) % 4096;
  if (sbrk(pad + size) < 0)
    return NULL;
  return (uint8 *)(cur + pad);
}

// The GDT the protocol names (0x10 code, 0x18 data) and page tables mapping
// guest-physical 0..4 GiB to itself with 2 MiB pages (APM Vol. 2 §5.3
// "Long-Mode Page Translation").
static void boot_tables(uint8 *mem, int entry32)
{
  uint64 *gdt = (uint64 *)(mem + BZ_GDT);
  gdt[2] = entry32 ? 0x00CF9A000000FFFFUL    // 32-bit code: P, S, execute/read, D, G
                   : 0x00AF9A000000FFFFUL;   // 64-bit code: P, S, execute/read, L, G
  gdt[3] = 0x00CF92000000FFFFUL;   // data: P, S, read/write, D/B, G
  uint64 *pml4 = (uint64 *)(mem + BZ_PT), *pdpt = pml4 + 512, *pd = pdpt + 512;
  pml4[0] = (BZ_PT + 0x1000) | 0x3;
  for (int i = 0; i < 4; i++)
    pdpt[i] = (BZ_PT + 0x2000 + i * 0x1000) | 0x3;
  for (int j = 0; j < 4 * 512; j++)
    pd[j] = ((uint64)j << 21) | 0x83;   // P, W, PS
}

static uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

// One (TSC, clock_ns) pair: the TSC read just before and after the system
// call, so that the bracket bounds the pair's error.
struct tsc_ns {
  uint64 before, after;
  long ns;
};

static struct tsc_ns tightest_pair(void)
{
  struct tsc_ns best = {0, ~0UL, 0};
  for (int i = 0; i < 16; i++) {
    struct tsc_ns p;
    p.before = rdtsc();
    p.ns = clock_ns();
    p.after = rdtsc();
    if (p.after - p.before < best.after - best.before)
      best = p;
  }
  return best;
}

// The TSC's frequency in kHz, as the kernel calibrated it: clock_ns() is the
// TSC scaled by that rate, so two tight pairs 20 ms apart give it back. Timing
// anything against uptime() ticks would add the delivery delay of two timer
// interrupts, which on a loaded host is milliseconds either way.
static uint64 measure_tsc_khz(void)
{
  struct tsc_ns a = tightest_pair();
  while (clock_ns() - a.ns < 20000000)
    ;
  struct tsc_ns b = tightest_pair();
  uint64 tsc = (b.before + b.after) / 2 - (a.before + a.after) / 2;
  return tsc * 1000000 / (uint64)(b.ns - a.ns);
}

uint64 vmm_tsc_khz(void)
{
  static uint64 khz;
  if (!khz)
    khz = measure_tsc_khz();
  return khz;
}

// Linux calibrates the TSC by polling the PIT through port 0x61 and 0x42:
// pit_calibrate_tsc wants 1000 polls in 10 ms, and each poll here is an exit
// of some 15-20 us, so it fails and the TSC is marked unstable. The VMM
// says the frequency instead, as firmware or a hypervisor leaf would: it
// appends tsc_early_khz= to the command line unless one is there already.
// And tsc=reliable: the TSC here runs at a constant rate on every CPU (it
// follows the host's clock), while the clocksource watchdog would judge it
// against jiffies, which fall behind whenever timer ticks arrive late.
// With KVM's interface (kvmpv_wanted) none of this: kvmclock gives the TSC's rate, and the TSC-deadline
// timer replaces the PIT.
static void add_tsc_khz(const struct guest *g, char *line, long *n)
{
  if (kvmpv_wanted(g))
    return;
  if (!strstr(line, "tsc_early_khz="))
    *n += snprintf(line + *n, BZ_CMDLINE_MAX - *n, "%stsc_early_khz=%lu", *n ? " " : "", vmm_tsc_khz());
  if (!strstr(line, "tsc="))
    *n += snprintf(line + *n, BZ_CMDLINE_MAX - *n, " tsc=reliable");
  // A workaround, measured: with the PIT in one-shot mode (NO_HZ idle) each
  // expiry reaches the guest some 11 ms late, and Linux re-arms relative to
  // then, so `sleep 2` took 2.8 s; a periodic tick is delivered on time.
  if (!strstr(line, "nohz="))
    *n += snprintf(line + *n, BZ_CMDLINE_MAX - *n, " nohz=off");
}

// The command line from the -a file (newlines become spaces), else the default.
static int load_cmdline(struct guest *g, const struct bzinfo *b)
{
  char *dst = (char *)g->mem + BZ_CMDLINE;
  long n = sizeof DEFAULT_CMDLINE - 1;
  if (g->o->cmdline) {
    int fd = open(g->o->cmdline);
    n = fd < 0 ? fd : fsize(fd);
    if (n < 0 || n >= (long)BZ_CMDLINE_MAX || read_all(fd, (uint8 *)dst, n) < 0) {
      printf("vmm: %s: %s\n", g->o->cmdline, n < 0 ? errstr(n) : "unreadable or longer than 4095 bytes");
      return -1;
    }
    close(fd);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
      n--;
    for (long i = 0; i < n; i++)
      dst[i] = dst[i] == '\n' ? ' ' : dst[i];
  } else {
    memmove(dst, DEFAULT_CMDLINE, n);
  }
  dst[n] = 0;
  add_tsc_khz(g, dst, &n);
  if ((uint64)n > b->cmdline_size) {
    printf("vmm: %s: cmdline_size: the kernel takes %u bytes of command line, not %ld\n", g->o->kernel,
           b->cmdline_size, n);
    return -1;
  }
  return 0;
}

// Places the -r file in guest RAM; fills *addr, *size (0, 0 without one).
static int load_initrd(struct guest *g, const struct bzinfo *b, uint64 *addr, uint64 *size)
{
  *addr = *size = 0;
  if (!g->o->initrd)
    return 0;
  int fd = open(g->o->initrd);
  long n = fd < 0 ? fd : fsize(fd);
  if (n < 0) {
    printf("vmm: %s: %s\n", g->o->initrd, errstr(n));
    return -1;
  }
  const char *why = NULL;
  *addr = bz_place_initrd(b, g->hdr.memsize, n, &why);
  if (!*addr) {
    printf("vmm: %s: %s\n", g->o->initrd, why ? why : "initrd: does not fit");
    close(fd);
    return -1;
  }
  if (*addr < b->kernel_end || *addr % 4096 || *addr + n > g->hdr.memsize) {   // the loader's own bug
    printf("vmm: %s: placement: bz_place_initrd gave 0x%lx, outside [0x%lx, RAM) or unaligned\n",
           g->o->initrd, *addr, b->kernel_end);
    close(fd);
    return -1;
  }
  int r = read_all(fd, g->mem + *addr, n);
  close(fd);
  *size = n;
  return r < 0 ? printf("vmm: %s: read failed\n", g->o->initrd), -1 : 0;
}

// Reads and checks the bzImage; loads its kernel part into fresh guest RAM.
static int load_kernel(struct guest *g, struct bzinfo *b, uint8 *setup)
{
  const char *path = g->o->kernel, *bad;
  uint64 mem = g->hdr.memsize;
  int fd = open(path);
  long n = fd < 0 ? fd : fsize(fd);
  if (n < 0)
    return printf("vmm: %s: %s\n", path, errstr(n)), -1;
  uint64 first = n < 1024 ? n : 1024;
  if (read_all(fd, setup, first) < 0)
    bad = "read failed";
  else
    bad = bz_check_header(setup, n, mem, b);
  if (!bad && (b->setup_size < 1024 || skip(fd, b->setup_size - 1024) < 0))
    bad = "setup_sects: cannot skip the setup sectors";
  if (!bad && !(g->mem = ram(mem)))
    bad = "no memory for the guest's RAM (-M)";
  if (!bad && BZ_KERNEL + b->kernel_size > b->kernel_end)
    bad = "init_size: the kernel does not fit its own region";
  if (!bad && read_all(fd, g->mem + BZ_KERNEL, b->kernel_size) < 0)
    bad = "read failed";
  close(fd);
  if (bad)
    printf("vmm: %s: %s\n", path, bad);
  return bad ? -1 : 0;
}

// Loads -k/-r/-a into a new guest of -M MiB: g->mem, g->hdr as for an
// image in long mode. 0, or -1 after printing why not.
int linux_load(struct guest *g)
{
  static uint8 setup[1024];
  struct bzinfo b;
  uint64 mem = (uint64)g->o->mem_mb << 20, initrd, size;
  if (mem < BZ_MEM_MIN || mem > BZ_MEM_MAX) {
    printf("vmm: -M %ld: guest RAM must be %lu..%lu MiB\n", g->o->mem_mb, BZ_MEM_MIN >> 20, BZ_MEM_MAX >> 20);
    return -1;
  }
  int mb = mboot_load(g);   // a multiboot kernel (mboot.c) rather than a bzImage?
  if (mb)   // its APIC board and ACPI tables are set up; -v adds the virtio console there too
    return mb < 0 ? -1 : g->o->virtio_console ? virtio_console_setup(g) : 0;
  memset(&b, 0, sizeof b);
  g->bzimage = 1;
  g->hdr.memsize = mem;
  if (load_kernel(g, &b, setup) < 0 || load_cmdline(g, &b) < 0 || load_initrd(g, &b, &initrd, &size) < 0)
    return -1;
  bz_zero_page(g->mem + BZ_ZEROPAGE, setup, mem, initrd, size);
  boot_tables(g->mem, g->o->entry32);
  g->hdr.mode = g->o->entry32 ? GUEST_MODE_PROT32 : GUEST_MODE_LONG64;
  g->hdr.entry = g->o->entry32 ? BZ_KERNEL : BZ_KERNEL + 0x200;
  g->hdr.cr3 = BZ_PT;
  g->imagesize = b.kernel_size;
  if (g->o->apic && apic_setup(g) < 0)
    return -1;
  return g->o->virtio_console ? virtio_console_setup(g) : 0;
}

// The 32-bit entry's state (boot.rst "32-bit Boot Protocol"): protected
// mode with paging off, the GDT with flat 4 GiB segments at __BOOT_CS (0x10,
// execute/read) and __BOOT_DS (0x18, read/write) loaded, CS = 0x10 and
// DS/ES/SS = 0x18, interrupts off, ESI = the zero page, EBP = EDI = EBX = 0,
// EIP = code32_start (the load address). The kernel turns on PAE, EFER.LME
// and paging itself (kern/svm/cr0.c follows it into long mode).
static void bz_entry32_regs(struct vm_regs *r)
{
  struct vm_seg code = {0x10, 0xC9B, 0xFFFFFFFF, 0};   // P, S, type 0xB, D/B, G
  struct vm_seg data = {0x18, 0xC93, 0xFFFFFFFF, 0};   // P, S, type 0x3, D/B, G
  r->cs = code;
  r->ds = r->es = r->ss = r->fs = r->gs = data;
  r->gdtr.base = BZ_GDT;
  r->gdtr.limit = 4 * 8 - 1;
  r->rip = BZ_KERNEL;
  r->rsi = BZ_ZEROPAGE;
  r->rbp = r->rdi = r->rbx = 0;
  r->rflags = 0x2;
  r->cr0 = 0x11;   // PE, ET
  r->cr3 = r->cr4 = r->efer = 0;
}

// The entry registers, from the loader (guest_setup calls this for -k).
void linux_regs(struct guest *g, struct vm_regs *r)
{
  if (mboot_regs(g, r))
    return;
  if (g->o->entry32)
    bz_entry32_regs(r);
  else
    bz_entry_regs(r);
}

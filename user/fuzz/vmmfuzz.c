// The VMM's side of guestfuzz (user/guestfuzz.c modes d and l): it is linked
// with the VMM's own code (every user/vmm/*.c but main.c), so what it runs
// is the real device models, exit loop and loaders.
//   d  a 32-bit guest made of random port I/O (every port, biased towards
//      the ones devices use), string I/O, and MMIO reads and writes of every
//      registered device range (mmio_dev_at) or a random address; run by
//      guest_setup/guest_run as the vmm runs a guest
//   l  a corrupted guest image (a real one from the initrd, header fields
//      set to edge values, bytes flipped, truncated) through image_load_buf,
//      and run if accepted; a corrupted multiboot kernel through
//      multiboot_load into RAM with a canary page on each side
// Every choice is a word from the caller (guided or random).
#include "../vmm/vmm.h"
#include "../vmm/mmio.h"
#include "../vmm/multiboot.h"
#include "../vmm/ioapic.h"
#include "kcov.h"
#include "vmmfuzz.h"

#define DEVRAM (64 * 1024)
#define CODE 0x1000               // the guest image (header + code) starts here
#define MAXOPS 128
#define MBRAM (2UL << 20)
#define CANARY 0xC5

static uint64 (*word)(void);
// 0..n-1; 0 for n = 0 (an image corrupted down to 0 bytes: UBSan found the
// division by zero in make fuzz's loader run).
static uint64 pick(uint64 n) { return n ? word() % n : 0; }

static uint8 *devram;             // the device guest's RAM, reused
static struct opts run_opts = {100, 256, -1, 0, END_HALT, 0, 0};   // 100 ms or 256 exits
static const char *const templates[] = {"hello.guest", "long64.guest", "prot32.guest", "demand.guest",
                                        "mmio.guest"};
static struct {
  uint8 *data;
  long n;
} tmpl[ARRAY_SIZE(templates)];
static int ntmpl;
static uint8 *image;              // the mutated copy
static uint8 *mbram;              // MBRAM bytes with a canary page on each side

// Reads the templates and sets memory aside. 0, or -1.
int vmmfuzz_init(uint64 (*w)(void))
{
  word = w;
  for (uint64 i = 0; i < ARRAY_SIZE(templates); i++) {
    int fd = open(templates[i]);
    long n = fd >= 0 ? fsize(fd) : -1;
    uint8 *b = n > 0 ? malloc(n) : NULL;
    if (b && read(fd, b, n) == n)
      tmpl[ntmpl].data = b, tmpl[ntmpl++].n = n;
    if (fd >= 0)
      close(fd);
  }
  image = malloc(64 * 1024);
  devram = malloc(DEVRAM + 4096);
  mbram = malloc(MBRAM + 3 * 4096);
  if (!ntmpl || !image || !devram || !mbram)
    return -1;
  devram = (uint8 *)(((uint64)devram + 4095) & ~4095UL);
  mbram = (uint8 *)(((uint64)mbram + 4095) & ~4095UL) + 4096;
  // Grow the heap as far as the loader may and back: the page tables for
  // that range exist from now on, so the leak check sees only real leaks.
  long brk = sbrk(0);
  if (sbrk(GUEST_MAXMEM + 0x10000) >= 0)
    sbrk(brk - sbrk(0));
  return 0;
}

// ---- device guests ------------------------------------------------------

// Device models the VMM does not map for its guests yet are mapped here, at
// their usual addresses, so that they are fuzzed from the day they exist.
// An access a model refuses reads as all ones and writes nothing here (the
// VMM would end the guest), so that one guest reaches deeper states.
static struct lapic lapic;
static struct ioapic ioapic;

static uint64 now_ns(void) { return uptime() * 10000000UL; }

static int lapic_rd(void *d, uint64 off, void *buf, int n)
{
  lapic_mmio_read(d, off, buf, n, now_ns());   // every width, as the VMM's apic.c
  return 0;
}

static int lapic_wr(void *d, uint64 off, const void *buf, int n)
{
  lapic_mmio_write(d, off, buf, n, now_ns());
  return 0;
}

static int ioapic_rd(void *d, uint64 off, void *buf, int n)
{
  uint32 v = ~0U;
  if (n != 4 || ioapic_read(d, off, &v) < 0)
    v = ~0U;
  memcpy(buf, &v, n);
  return 0;
}

static int ioapic_wr(void *d, uint64 off, const void *buf, int n)
{
  uint32 v;
  memcpy(&v, buf, 4);
  if (n == 4)
    ioapic_write(d, off, v);
  return 0;
}

static void add_models(void)
{
  static const struct mmio_dev la = {"lapic", LAPIC_BASE_DEFAULT, LAPIC_SIZE, lapic_rd, lapic_wr, &lapic};
  static const struct mmio_dev io = {"ioapic", IOAPIC_BASE_DEFAULT, IOAPIC_SIZE, ioapic_rd, ioapic_wr, &ioapic};
  if (!mmio_find(LAPIC_BASE_DEFAULT)) {
    lapic_reset(&lapic, 0, 1);
    mmio_add(&la);
  }
  if (!mmio_find(IOAPIC_BASE_DEFAULT)) {
    ioapic_reset(&ioapic, 0);
    ioapic.apic = &lapic;
    mmio_add(&io);
  }
}

// Constants the VMM's code compared with so far (trace-cmp, user/lib/kcov.c).
static uint64 dict[256];
static long ndict;

// A learnt constant, or one next to it, or 0 when none is known yet.
static uint64 dict_value(void)
{
  return ndict ? dict[pick(ndict)] + pick(3) - 1 : 0;
}

// Register values: learnt constants, small ones, powers of two and their
// neighbours (the edges an index or length check gets wrong), or anything.
static uint32 any_value(void)
{
  if (ndict && pick(4) == 0)
    return dict_value();
  switch (pick(4)) {
  case 0: return pick(256);
  case 1: {
    uint32 p = 1U << pick(32);
    return p + pick(3) - 1;
  }
  case 2: return pick(2) ? 0 : 0xFFFFFFFF;
  default: return word();
  }
}

static const uint16 dev_ports[] = {0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, 0x70,
                                   0x71, 0x80, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF,
                                   0x2F8, 0x2FD, 0x4D0, 0x4D1, 0x510, 0x511, 0xCF8, 0xCFC};

static uint16 any_port(void)
{
  if (ndict && pick(6) == 0)
    return dict_value();
  switch (pick(4)) {
  case 0: case 1: return dev_ports[pick(ARRAY_SIZE(dev_ports))];
  case 2: return pick(0x400);
  default: return word();
  }
}

// An offset in a device's range: registers sit low and aligned.
static uint64 any_offset(const struct mmio_dev *d)
{
  if (ndict && pick(6) == 0)
    return dict_value() % d->len;
  switch (pick(4)) {
  case 0: return pick(4) * 0x10 % d->len;
  case 1: return pick(64) * 0x10 % d->len;
  case 2: return (pick(0x400) & ~3UL) % d->len;
  default: return pick(8) ? (pick(d->len) & ~3UL) : pick(d->len);
  }
}

// A registered device (mostly), or NULL: then any address.
static const struct mmio_dev *any_dev(void)
{
  int n = 0;
  while (mmio_dev_at(n))
    n++;
  return n && pick(32) ? mmio_dev_at(pick(n)) : NULL;
}

static uint32 any_mmio(const struct mmio_dev *d)
{
  return d ? d->base + any_offset(d) : pick(2) ? word() : 0xFEC00000 + pick(0x2000);
}

static uint8 *put32(uint8 *p, uint32 v) { memcpy(p, &v, 4); return p + 4; }

// One MMIO access: mov $addr, %ebx; mov $v, %eax; mov %eax|%ax|%al to/from (%ebx).
static uint8 *emit_mmio(uint8 *p, uint32 addr, uint32 v, int size, int write)
{
  *p++ = 0xBB, p = put32(p, addr);
  *p++ = 0xB8, p = put32(p, v);
  if (size == 2)
    *p++ = 0x66;
  *p++ = (write ? 0x88 : 0x8A) | (size > 1);
  *p++ = 0x03;
  return p;
}

// One port access: mov $port, %edx; mov $v, %eax; out|in %al|%ax|%eax, (%dx).
static uint8 *emit_pio(uint8 *p, uint16 port, uint32 v, int size, int write)
{
  *p++ = 0xBA, p = put32(p, port);
  *p++ = 0xB8, p = put32(p, v);
  if (size == 2)
    *p++ = 0x66;
  *p++ = (write ? 0xEE : 0xEC) | (size > 1);
  return p;
}

// The commonest register layout of devices: an index register, then a data
// register next to it (RTC 0x70/0x71, PCI 0xCF8/0xCFC, I/O APIC +0x00/+0x10,
// VGA, PIC ICWs): write an 8-bit index, then read or write the data; half
// the time for 8 indices in a row, as a driver walks a register table.
static uint8 *emit_pair(uint8 *p)
{
  static const uint32 stride[] = {1, 4, 0x10};
  uint32 index = pick(2) ? pick(256) : any_value(), step = stride[pick(3)];
  int size = pick(2) ? 1 : 4, n = pick(2) ? 1 : 8, write = pick(2);
  if (n > 1)
    index &= ~7U;
  if (pick(2)) {
    uint16 port = any_port();
    for (int k = 0; k < n; k++) {
      p = emit_pio(p, port, index + k, size, 1);
      p = emit_pio(p, port + step, any_value(), size, write);
    }
    return p;
  }
  const struct mmio_dev *d = any_dev();
  uint64 a = d && pick(2) ? d->base : any_mmio(d);
  uint64 b = d ? d->base + (a - d->base + step) % d->len : a + step;
  for (int k = 0; k < n; k++) {
    p = emit_mmio(p, a, index + k, 4, 1);
    p = emit_mmio(p, b, any_value(), 4, write);
  }
  return p;
}

// A count for string I/O and hypercall lengths: small, a learnt constant
// (a buffer's size the VMM compared a length with), or any 16-bit value.
static uint32 any_count(void)
{
  switch (pick(8)) {
  case 0: case 1: case 2: return pick(16);
  case 3: case 4: return pick(512);
  case 5: case 6: return ndict ? dict_value() & 0xFFFF : pick(2048);
  default: return pick(0x10000);
  }
}

// One hypercall (VMMCALL, user/guests/guest.h): mov $nr, %eax; mov $a,
// %ebx; mov $b, %ecx; vmmcall. HC_PRINT's bytes come from guest RAM. Mostly
// HC_PRINT and the calls that return: HC_EXIT and HC_RAISE (an event into a
// guest without an IDT) end a guest, and a guest that ends early reaches
// less of the device models.
static uint8 *emit_hypercall(uint8 *p)
{
  static const uint32 nrs[] = {HC_PRINT, HC_PRINT, HC_PRINT, HC_ACK, HC_YIELD, HC_RAISE, HC_EXIT};
  uint32 nr = pick(16) ? nrs[pick(pick(4) ? 5 : ARRAY_SIZE(nrs))] : any_value();
  *p++ = 0xB8, p = put32(p, nr);
  *p++ = 0xBB, p = put32(p, pick(8) ? pick(DEVRAM) : any_value());
  *p++ = 0xB9, p = put32(p, nr == HC_PRINT && pick(4) ? any_count() : any_value());
  *p++ = 0x0F, *p++ = 0x01, *p++ = 0xD9;
  return p;
}

// One operation in 32-bit code: at most 8 * 28 bytes.
static uint8 *emit_op(uint8 *p)
{
  if (pick(16) == 0)
    return emit_hypercall(p);
  int size = 1 << pick(3), op = pick(10);
  if (op < 5) {
    p = emit_pio(p, any_port(), any_value(), size, op < 3);
  } else if (op == 5) {                                // rep outs/ins
    *p++ = 0xBA, p = put32(p, any_port());
    *p++ = 0xBE, p = put32(p, pick(8) ? pick(DEVRAM) : word());   // %esi
    *p++ = 0xBF, p = put32(p, pick(8) ? pick(DEVRAM) : word());   // %edi
    *p++ = 0xB9, p = put32(p, any_count());   // %ecx
    *p++ = 0xF3, *p++ = pick(2) ? 0x6E | (size > 1) : 0x6C | (size > 1);
  } else if (op < 8) {                                 // one MMIO access
    p = emit_mmio(p, any_mmio(any_dev()), any_value(), pick(4) ? 4 : size, op == 6);
  } else {
    p = emit_pair(p);
  }
  return p;
}

// Header and code of a device guest in devram (after guest_setup chose the
// devices, so that MMIO addresses land in them).
static void emit_guest(struct guest *g)
{
  uint8 *p = devram + CODE + GUEST_HDRSIZE, *end = devram + DEVRAM - 0x2000;
  for (int n = 1 + pick(MAXOPS); n > 0 && p < end; n--)
    p = emit_op(p);
  *p++ = 0xF4;                                         // hlt: the guest is done
  (void)g;
}

static void dev_header(struct guest_header *h)
{
  memset(h, 0, sizeof *h);
  h->magic = GUEST_MAGIC;
  h->version = GUEST_VERSION;
  h->mode = GUEST_MODE_PROT32;
  h->load = CODE;
  h->entry = CODE + GUEST_HDRSIZE;
  h->memsize = DEVRAM;
  h->stack = DEVRAM - 16;
  h->flags = pick(2) ? GUEST_F_TESTDEV : 0;
}

_Static_assert(END_POWEROFF + 1 == DEV_NOSTART, "vmmfuzz.h and dev_end_names follow enum end");
const char *const dev_end_names[DEV_NENDS] = {"running", "exited", "shutdown", "halted", "budget", "failed",
                                              "reset", "poweroff", "nostart"};

// One device guest; how it ended (enum end), or DEV_NOSTART.
int vmmfuzz_dev(void)
{
  static struct guest g;
  memset(&g, 0, sizeof g);
  memset(devram, 0, DEVRAM);
  mmio_reset();
  g.name = "devfuzz";
  g.prefix = "";
  g.o = &run_opts;
  g.mem = devram;
  g.vm = -1;
  dev_header(&g.hdr);
  memcpy(devram + CODE, &g.hdr, sizeof g.hdr);
  g.imagesize = DEVRAM - CODE;
  int r = guest_setup(&g);
  ndict = ucov_dict(dict, ARRAY_SIZE(dict));
  if (r == 0) {
    add_models();
    emit_guest(&g);
    guest_run(&g);
  }
  if (g.vm >= 0)
    vm_destroy(g.vm);
  return r < 0 ? DEV_NOSTART : (int)g.end;
}

// ---- loaders ----------------------------------------------------------------

// A value a length or address check may get wrong.
static uint64 edge_value(void)
{
  static const uint64 v[] = {0, 1, 0x40, 0xFFF, 0x1000, 0x1001, 0x2000, 0xFFFF, 0x10000, 0x100000,
                             GUEST_MAXMEM, GUEST_MAXMEM + 0x1000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFF000,
                             0x100000000UL, (uint64)-1, (uint64)-0x1000};
  uint64 x = v[pick(ARRAY_SIZE(v))];
  return pick(4) ? x : x + pick(16) - 8;
}

// 1..4 random changes to image[0..*n): mostly in the first 64 bytes (the
// header), 4 or 8 bytes at a time; sometimes a flip or a shorter file.
static void corrupt(long *n, long cap)
{
  for (int k = 1 + pick(4); k > 0; k--) {
    long at = pick(3) ? pick(8) * 8 + pick(2) * 4 : pick(*n);
    uint64 v = pick(4) ? edge_value() : word();
    switch (pick(5)) {
    case 0: case 1:
      if (at + 8 <= *n)
        memcpy(image + at, &v, 8);
      break;
    case 2:
      if (at + 4 <= *n)
        memcpy(image + at, &v, 4);
      break;
    case 3:
      if (*n)
        image[at % *n] ^= 1 << pick(8);
      break;
    default:
      *n = pick(3) ? pick(*n + 1) : *n + pick(cap - *n + 1);   // truncated or grown (zeros)
    }
  }
}

// A corrupted svmlab image through the VMM's loader; run when accepted.
static int fuzz_guest_image(void)
{
  int t = pick(ntmpl);
  long n = tmpl[t].n, cap = 64 * 1024;
  if (n > cap)
    n = cap;
  memset(image, 0, cap);
  memcpy(image, tmpl[t].data, n);
  corrupt(&n, cap);
  static struct guest g;
  memset(&g, 0, sizeof g);
  mmio_reset();
  g.name = "imgfuzz";
  g.prefix = "";
  g.o = &run_opts;
  g.vm = -1;
  long brk = sbrk(0);
  int r = image_load_buf(&g, "imgfuzz", image, n);
  if (r == 0 && guest_setup(&g) == 0)
    guest_run(&g), r = 1;
  if (g.vm >= 0)
    vm_destroy(g.vm);
  sbrk(brk - sbrk(0));      // the guest memory the loader took
  return r < 0 ? LOAD_REFUSED : r == 0 ? LOAD_LOADED : LOAD_RAN;
}

// A multiboot a.out-kludge kernel (as user/mbcheck.c makes them), corrupted.
static long mb_template(void)
{
  uint32 f = (1 << 16) | 2 | (pick(2) ? 1 : 0), w[8] = {MB_HEADER_MAGIC, f, -(MB_HEADER_MAGIC + f), 0x100000,
                                                        0x100000, 0, 0x101100, 0x100040};
  memset(image, 0, 512);
  for (int i = 48; i < 512; i++)
    image[i] = i;
  memcpy(image, w, sizeof w);
  return 512;
}

static int fuzz_multiboot(void)
{
  long n = mb_template();
  corrupt(&n, 8192);
  if (pick(2)) {            // the checksum right again, so that the fields are what is tested
    uint32 m, f, c;
    memcpy(&m, image, 4), memcpy(&f, image + 4, 4);
    c = -(m + f);
    memcpy(image + 8, &c, 4);
  }
  struct mb_file k = {"kernel", image, n, "kernel.bin fuzz"};
  struct mb_entry e;
  memset(mbram - 4096, CANARY, 4096);
  memset(mbram + MBRAM, CANARY, 4096);
  const char *why = multiboot_load(mbram, MBRAM, &k, NULL, 0, &e);
  for (int i = 0; i < 4096; i++)
    if (mbram[-1 - i] != CANARY || mbram[MBRAM + i] != CANARY) {
      fprintf(2, "guestfuzz: VIOLATION: multiboot_load wrote outside guest RAM (%s)\n", why ? why : "loaded");
      return LOAD_VIOLATION;
    }
  return why ? LOAD_REFUSED : LOAD_LOADED;
}

int vmmfuzz_loader(void)
{
  return pick(3) ? fuzz_guest_image() : fuzz_multiboot();
}

// bzcheck: random setup headers through the lab 6 loader's checks
// (user/vmm/bzimage.c: bz_check_header, bz_place_initrd). It only generates
// and reports: the grader (grade/lab_linux.py, bzimage_random) parses each
// line and judges it against the boot protocol's rules, computed there on its
// own, so that the loader and the oracle cannot share a mistake.
//
//   bzcheck COUNT           the seed: seed=N on the kernel command line
//
// One line per case:
//   bz N k=v ... -> refuse MESSAGE
//   bz N k=v ... -> ok end=HEX cmdline=HEX initrd=HEX        (the initrd's address)
//   bz N k=v ... -> ok end=HEX cmdline=HEX noinitrd MESSAGE  (the initrd was refused)
// (cmdline: the cmdline_size the loader recorded)
// then the 64-bit entry's registers (bz_entry_regs) for the grader to judge
// against the boot protocol:
//   bzentry kernel=HEX zp=HEX rip=HEX rsi=HEX rflags=HEX cr0=HEX cr4=HEX efer=HEX
//           cs=SEL/ATTR/LIMIT/BASE ds=... es=... ss=...
// and "bzcheck: done N".
#include "user.h"
#include "cmdarg.h"
#include "../user/vmm/bzimage.h"

static uint64 state;

// xorshift64*: fast, and every bit of the result is usable.
static uint64 rnd(void)
{
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DUL;
}

static uint64 below(uint64 n) { return n ? rnd() % n : 0; }
static int chance(int in) { return below(in) == 0; }   // 1 in `in`

static void put(uint8 *h, int off, int bytes, uint64 v)
{
  for (int i = 0; i < bytes; i++)
    h[off + i] = v >> (8 * i);
}

// A power of two between 2^lo and 2^hi, or (1 in 8) any 32-bit value.
static uint32 pow2_or_junk(int lo, int hi)
{
  return chance(8) ? (uint32)rnd() : 1u << (lo + below(hi - lo + 1));
}

// Mostly valid values, each field now and then wrong in a way that matters:
// a header with several faults checks that the refusal names one of them.
static void one(int i)
{
  static uint8 h[1024];
  memset(h, 0, sizeof h);
  uint64 mem = (32 + below(3072 - 32 + 1)) << 20;
  uint64 sects = chance(6) ? 0 : chance(10) ? below(256) : 1 + below(63);
  uint64 setup = ((sects ? sects : 4) + 1) * 512;
  uint64 kernel = chance(10) ? below(4096) : 4096 + below(40UL << 20);
  uint64 n = chance(30) ? below(0x300) : setup + kernel;
  uint64 sys = chance(10) ? below(1UL << 28)                            // anything
             : chance(8) ? (kernel + 16 + below(setup)) / 16                 // past the kernel, within the file
             : kernel / 16 - (chance(2) ? 0 : below(1 + kernel / 64));
  uint64 ver = chance(6) ? 0x0200 + below(0x0C) : 0x020C + below(4);
  uint64 lf = (rnd() & 0xFE) | !chance(10);
  uint64 xlf = (rnd() & 0x1E) | !chance(10);
  uint64 align = pow2_or_junk(10, 31);
  uint64 reloc = !chance(4);
  uint64 pref = chance(3) ? BZ_KERNEL : chance(2) ? 0x1000000 : below(1UL << 33) & ~0xFFFUL;
  // init_size: below the kernel, or just above it (up to the setup's size:
  // a loader comparing with the whole file errs there), or anything larger.
  uint64 init = chance(6) ? below(kernel + 1) : chance(5) ? kernel + below(setup + 1) : kernel + below(64UL << 20);
  uint64 imax = chance(4) ? 0x37FFFFFF : chance(3) ? 0x7FFFFFFF : (uint32)rnd();
  uint64 flag = chance(20) ? (uint16)rnd() : 0xAA55, magic = chance(20) ? (uint32)rnd() : 0x53726448;
  uint64 isize = chance(20) ? 0 : below(chance(4) ? 1UL << 31 : 64UL << 20);
  uint64 cl = chance(3) ? 2048 : chance(2) ? below(1UL << 16) : (uint32)rnd();   // a 32-bit field
  put(h, 0x1F1, 1, sects);
  put(h, 0x1F4, 4, sys);
  put(h, 0x1FE, 2, flag);
  put(h, 0x200, 2, 0x6AEB);
  put(h, 0x202, 4, magic);
  put(h, 0x206, 2, ver);
  put(h, 0x211, 1, lf);
  put(h, 0x22C, 4, imax);
  put(h, 0x230, 4, align);
  put(h, 0x234, 1, reloc);
  put(h, 0x236, 2, xlf);
  put(h, 0x238, 4, cl);
  put(h, 0x258, 8, pref);
  put(h, 0x260, 4, init);
  printf("bz %d n=%lx mem=%lx sects=%lx sys=%lx ver=%lx lf=%lx xlf=%lx align=%lx reloc=%lx pref=%lx "
         "init=%lx imax=%lx flag=%lx magic=%lx isize=%lx cl=%lx -> ", i, n, mem, sects, sys, ver, lf, xlf, align,
         reloc, pref, init, imax, flag, magic, isize, cl);
  struct bzinfo b;
  memset(&b, 0, sizeof b);
  const char *bad = bz_check_header(h, n, mem, &b);
  if (bad) {
    printf("refuse %s\n", bad);
    return;
  }
  const char *why = NULL;
  uint64 at = bz_place_initrd(&b, mem, isize, &why);
  if (at)
    printf("ok end=%lx cmdline=%x initrd=%lx\n", b.kernel_end, b.cmdline_size, at);
  else
    printf("ok end=%lx cmdline=%x noinitrd %s\n", b.kernel_end, b.cmdline_size, why ? why : "(no reason)");
}

static void seg(const char *name, const struct vm_seg *s)
{
  printf(" %s=%x/%x/%x/%lx", name, s->sel, s->attr, s->limit, s->base);
}

// The registers bz_entry_regs gives the 64-bit entry, and where this loader
// puts the kernel and the zero page (bzimage.h).
static void entry(void)
{
  struct vm_regs r;
  memset(&r, 0, sizeof r);
  bz_entry_regs(&r);
  printf("bzentry kernel=%lx zp=%lx rip=%lx rsi=%lx rflags=%lx cr0=%lx cr4=%lx efer=%lx", BZ_KERNEL, BZ_ZEROPAGE,
         r.rip, r.rsi, r.rflags, r.cr0, r.cr4, r.efer);
  seg("cs", &r.cs), seg("ds", &r.ds), seg("es", &r.es), seg("ss", &r.ss);
  printf("\n");
}

int main(int argc, char **argv)
{
  if (argc < 2)
    return printf("usage: bzcheck COUNT (the seed: seed=N on the kernel command line)\n"), 1;
  state = 0x9E3779B97F4A7C15UL ^ cmdline_num("seed", 1) * 0x100000001B3UL;
  int count = atoi(argv[1]);
  for (int i = 0; i < count; i++)
    one(i);
  entry();
  printf("bzcheck: done %d\n", count);
  return 0;
}

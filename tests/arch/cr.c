// Control-register writes (APM Vol. 2 §3.1): CR0 combinations that #GP,
// bits that read back, CR4 bits settable exactly when CPUID offers their
// feature, CR8 (the TPR's priority class). Reserved bits and features not
// offered are crrsvd.c's: QEMU 7.2 itself cannot be the reference there.
// CR4 writes run from a supervisor-only page: with SMEP set for one
// instruction, a fetch from a user page would fault.
#include "rt.h"

const char kernel_name[] = "cr";

static u8 spage[4096] __attribute__((aligned(4096)));
static volatile int cr4_vec;

// spage: mov %rdi,%cr4; mov %rsi,%cr4; ret. A #GP at the first MOV skips to the RET.
static int cr4_hook(struct frame *f)
{
  if (f->rip != (u64)spage)
    return 0;
  cr4_vec = f->vec;
  f->rip = (u64)spage + 6;
  return 1;
}

// 1: the value was accepted (and undone), 0: #GP (or another vector).
static int cr4_try(u64 val)
{
  cr4_vec = -1;
  u64 old = READ_CR(4);
  ((void (*)(u64, u64))spage)(val, old);
  return cr4_vec < 0;
}

struct bit { int n; const char *name; u32 leaf, reg, fbit; };   // reg: 0 eax .. 3 edx; leaf 0: none
static const struct bit bits[] = {
  {0, "vme", 1, 3, 1}, {1, "pvi", 1, 3, 1}, {2, "tsd", 1, 3, 4}, {3, "de", 1, 3, 2},
  {4, "pse", 1, 3, 3}, {6, "mce", 1, 3, 7}, {7, "pge", 1, 3, 13}, {8, "pce", 0, 0, 0},
  {9, "osfxsr", 1, 3, 24}, {10, "osxmmexcpt", 1, 3, 25}, {11, "umip", 7, 2, 2}, {16, "fsgsbase", 7, 1, 0}, {17, "pcide", 1, 2, 17},
  {18, "osxsave", 1, 2, 26}, {20, "smep", 7, 1, 7}, {21, "smap", 7, 1, 20}, {22, "pke", 7, 2, 3},
};

static int cr4_offered(const struct bit *b)
{
  u32 r[4];
  if (!b->leaf)
    return 1;
  cpuid(b->leaf, 0, r);
  return r[b->reg] >> b->fbit & 1;
}

static void cr4_bits(void)
{
  u64 cr4 = READ_CR(4);
  for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    const struct bit *b = &bits[i];
    char check[32];
    snprintf(check, sizeof check, "cr4_%s", b->name);
    if (!cr4_offered(b)) {
      out(check, "not offered");   // crrsvd.c tries it
      continue;
    }
    int ok = cr4_try(cr4 ^ 1UL << b->n);
    out(check, "%s %s", cr4 >> b->n & 1 ? "clear" : "set", ok ? "accepted" : "refused");
  }
}

static void cr0(void)
{
  u64 c = READ_CR(0);
  // (NE and the cache bits are not printed: multiboot leaves them undefined.)
  out("cr0", "pe %lu pg %lu wp %lu et %lu", c & 1, c >> 31 & 1, c >> 16 & 1, c >> 4 & 1);
  // (Clearing PG in long mode is not tried: QEMU 7.2 accepts it and the
  // machine is lost; svmlab's kernel intercepts it, kern/svm/cr0.c.)
  out("cr0_nw_without_cd", "%s", vecname(TRY("mov %0, %%cr0", :: "r"(c | 1UL << 29))));
  WRITE_CR(0, c);
  out("cr0_clear_pe_keep_pg", "%s", vecname(TRY("mov %0, %%cr0", :: "r"(c & ~1UL))));
  WRITE_CR(0, c);
  out("cr0_bit_32", "%s", vecname(TRY("mov %0, %%cr0", :: "r"(c | 1UL << 32))));
  WRITE_CR(0, c);
  WRITE_CR(0, c & ~(1UL << 4));
  out("cr0_et_reads", "%lu", READ_CR(0) >> 4 & 1);
  WRITE_CR(0, c | 1 << 18 | 1 << 3 | 1 << 1);
  u64 n = READ_CR(0);
  out("cr0_am_ts_mp", "%lu %lu %lu", n >> 18 & 1, n >> 3 & 1, n >> 1 & 1);
  WRITE_CR(0, c);
}

static void cr3_cr8(void)
{
  lapic_enable();
  WRITE_CR(8, 5);
  out("cr8_to_tpr", "%x", LAPIC_REG(0x80));
  LAPIC_REG(0x80) = 0x30;
  out("tpr_to_cr8", "%lx", READ_CR(8));
  out("cr8_bit_4", "%s", vecname(TRY("mov %0, %%cr8", :: "r"(0x10UL))));
  WRITE_CR(8, 0);
  WRITE_CR(2, 0x123456789UL);
  out("cr2_readback", "%lx", READ_CR(2));
}

void kmain(void)
{
  static const u8 code[] = {0x0F, 0x22, 0xE7, 0x0F, 0x22, 0xE6, 0xC3};
  for (unsigned i = 0; i < sizeof code; i++)
    spage[i] = code[i];
  *pte_of(spage) &= ~4UL;   // supervisor only
  asm volatile("invlpg (%0)" :: "r"(spage) : "memory");
  trap_hook = cr4_hook;
  cr0();
  cr3_cr8();
  cr4_bits();
}

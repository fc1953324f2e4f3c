// Control-register values the APM says #GP, where plain QEMU 7.2 cannot be
// the reference: its MOV-to-CR4/CR3 answers a reserved bit with an SVM
// "VMEXIT_INVALID" even outside a guest, and the machine is lost. The
// expected lines are therefore the manual's, written in
// tests/arch/known-differences (APM Vol. 2 §3.1.3 CR4: "reserved bits must
// be zero", a feature's bit is reserved unless CPUID offers the feature;
// §3.1.2 CR3: bits 63:52 and those above MAXPHYADDR are reserved).
#include "rt.h"

const char kernel_name[] = "crrsvd";

static u8 spage[4096] __attribute__((aligned(4096)));
static volatile int cr_vec;

// spage: mov %rdi,%crN; mov %rsi,%crN; ret (N = 4 or 3).
static int cr_hook(struct frame *f)
{
  if (f->rip != (u64)spage)
    return 0;
  cr_vec = f->vec;
  f->rip = (u64)spage + 6;
  return 1;
}

static const char *cr_try(int n, u64 val, u64 old)
{
  static const u8 code4[] = {0x0F, 0x22, 0xE7, 0x0F, 0x22, 0xE6, 0xC3};
  static const u8 code3[] = {0x0F, 0x22, 0xDF, 0x0F, 0x22, 0xDE, 0xC3};
  for (int i = 0; i < 7; i++)
    spage[i] = n == 4 ? code4[i] : code3[i];
  cr_vec = -1;
  ((void (*)(u64, u64))spage)(val, old);
  return cr_vec < 0 ? "accepted" : cr_vec == 13 ? "refused" : vecname(cr_vec);
}

struct bit { int n; const char *name; u32 leaf, reg, fbit; };
static const struct bit bits[] = {
  {11, "umip", 7, 2, 2}, {12, "la57", 7, 2, 16}, {13, "vmxe", 1, 2, 5}, {14, "smxe", 1, 2, 6},
  {16, "fsgsbase", 7, 1, 0}, {17, "pcide", 1, 2, 17}, {18, "osxsave", 1, 2, 26},
  {20, "smep", 7, 1, 7}, {21, "smap", 7, 1, 20}, {22, "pke", 7, 2, 3},
  {15, "bit15", 0, 0, 0}, {19, "bit19", 0, 0, 0}, {26, "bit26", 0, 0, 0}, {31, "bit31", 0, 0, 0},
  {32, "bit32", 0, 0, 0}, {63, "bit63", 0, 0, 0},
};

void kmain(void)
{
  *pte_of(spage) &= ~4UL;   // supervisor only: SMEP may be on for one instruction
  asm volatile("invlpg (%0)" :: "r"(spage) : "memory");
  trap_hook = cr_hook;
  u64 cr4 = READ_CR(4), cr3 = READ_CR(3);
  for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
    const struct bit *b = &bits[i];
    char check[32];
    snprintf(check, sizeof check, "cr4_%s", b->name);
    u32 r[4] = {0, 0, 0, 0};
    if (b->leaf)
      cpuid(b->leaf, 0, r);
    if (b->leaf && (r[b->reg] >> b->fbit & 1) && b->n != 12)
      out(check, "offered");
    else
      out(check, "%s", cr_try(4, cr4 | 1UL << b->n, cr4));
  }
  out("cr4_clear_pae_long_mode", "%s", cr_try(4, cr4 & ~(1UL << 5), cr4));
  out("cr3_bit_63_without_pcide", "%s", cr_try(3, cr3 | 1UL << 63, cr3));
  out("cr3_bit_52", "%s", cr_try(3, cr3 | 1UL << 52, cr3));
}

// System-state programs for guestfuzz: a guest of random bytes rarely lives
// long enough to reach a MOV to CR0, so the kernel's own emulation of mode
// changes (kern/svm/cr0.c: CR0 writes while long mode is on or pending, CR8
// writes; run.c: EFER writes) stays untested by it. These programs are made
// of the instructions that reach it, with values near the ones an OS uses
// (and now and then a reserved or contradictory bit, which must be #GP):
// MOV to and from CR0/CR3/CR4/CR8 and DR0-7 through any register, CLTS, LMSW and SMSW,
// WRMSR/RDMSR of EFER, the four steps into long mode in order, STI/CLI,
// CPUID, port 0x80 (which the harness may have the kernel finish itself,
// kern/svm/pio.c), STI;HLT, and stray legacy prefixes in front. Encodings: AMD APM Vol. 3
// (MOV CRn 0F 20/22, MOV DRn 0F 21/23, CR8 as REX.R + CR0 in 64-bit mode or LOCK + CR0
// elsewhere, "LOCK MOV CR0"; LMSW 0F 01 /6; CLTS 0F 06).
#include "sysprog.h"

static uint64 (*R)(void);
static int BITS;
static uint64 SCRATCH;

static uint64 pick(uint64 n) { return R() % n; }

static uint8 *put32(uint8 *p, uint32 v)
{
  for (int i = 0; i < 4; i++)
    *p++ = v >> (8 * i);
  return p;
}

// mov $v, %reg (reg 0..15; 8..15 only in 64-bit code): 32 bits of v, zero
// extended in 64-bit code; in 16-bit code with the operand-size prefix.
static uint8 *mov_imm(uint8 *p, int reg, uint32 v)
{
  if (BITS == 16)
    *p++ = 0x66;
  if (reg >= 8)
    *p++ = 0x41;
  *p++ = 0xB8 + (reg & 7);
  return put32(p, v);
}

// A register for an operand: mostly RAX..RDI without RSP, R8..R15 in 64-bit code.
static int any_reg(void)
{
  int r = pick(BITS == 64 ? 16 : 8);
  return r == 4 ? 0 : r;
}

// A value near what an OS writes, sometimes with one bit flipped.
static uint64 near(const uint32 *v, int n, int bits)
{
  uint64 x = v[pick(n)];
  if (pick(4) == 0)
    x ^= 1UL << pick(bits);
  return x;
}

static uint32 cr0_value(void)
{
  static const uint32 v[] = {0x11, 0x80000011, 0x80010033, 0x60000011, 0x20000011, 0x80000010, 0x80000019,
                             0x31, 0x10};
  return near(v, 9, 32);
}

static uint32 cr4_value(void)
{
  static const uint32 v[] = {0x20, 0x0, 0x620, 0x6A0, 0x6B0, 0x10, 0x10620, 0x406A0, 0x300628};
  return near(v, 9, 24);
}

static uint32 efer_value(void)
{
  static const uint32 v[] = {0x100, 0x500, 0xD00, 0x900, 0x0, 0x1100, 0x1};
  return near(v, 7, 16);
}

// Some legacy prefixes the decoders must step over (or refuse).
static uint8 *noise(uint8 *p)
{
  static const uint8 pre[] = {0x66, 0x67, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36, 0xF2, 0xF3};
  if (pick(8) == 0)
    for (int k = 1 + pick(3); k > 0; k--)
      *p++ = pre[pick(sizeof pre)];
  return p;
}

// mov %reg, %crN / mov %crN, %reg (0F 22 / 0F 20, ModRM mod=11, reg=N).
static uint8 *mov_cr(uint8 *p, int cr, int reg, int write)
{
  p = noise(p);
  if (cr == 8)
    *p++ = BITS == 64 ? (uint8)(0x44 | (reg >= 8)) : 0xF0;   // REX.R, or LOCK as the alias
  else if (reg >= 8)
    *p++ = 0x41;
  *p++ = 0x0F, *p++ = write ? 0x22 : 0x20;
  *p++ = 0xC0 | ((cr & 7) << 3) | (reg & 7);
  return p;
}

static uint8 *write_cr(uint8 *p, int cr, uint32 v)
{
  int reg = any_reg();
  return mov_cr(mov_imm(p, reg, v), cr, reg, 1);
}

// mov %reg, %drN / mov %drN, %reg (0F 23 / 0F 21): every debug register,
// DR4/DR5 too (aliases or #UD by CR4.DE), values an OS or a debugger writes
// (breakpoints armed in DR7, GD, fixed bits of DR6), sometimes a bit flipped.
static uint8 *mov_dr(uint8 *p, int write)
{
  static const uint32 v[] = {0, 0x400, 0xFF, 0x2000, 0xB00000FF, 0xFFFF0FF0, 0x1000, 0xFFFFFFFF};
  int reg = any_reg(), dr = pick(8);
  if (write)
    p = mov_imm(p, reg, dr < 4 ? (uint32)R() : near(v, 8, 32));
  p = noise(p);
  if (reg >= 8)
    *p++ = 0x41;
  *p++ = 0x0F, *p++ = write ? 0x23 : 0x21;
  *p++ = 0xC0 | (dr << 3) | (reg & 7);
  return p;
}

// wrmsr EFER with v (EDX 0), or rdmsr.
static uint8 *efer(uint8 *p, int write, uint32 v)
{
  p = mov_imm(p, 1, 0xC0000080);
  if (write)
    p = mov_imm(mov_imm(p, 0, v), 2, 0);
  *p++ = 0x0F, *p++ = write ? 0x30 : 0x32;
  return p;
}

// One step of a program: at most 64 bytes.
static uint8 *step(uint8 *p)
{
  int reg = any_reg();
  switch (pick(18)) {
  case 0: case 1: return write_cr(p, 0, cr0_value());
  case 2: return write_cr(p, 4, cr4_value());
  case 3: return write_cr(p, 3, pick(4) ? 0x1000 : (uint32)R() & ~0xFFFu);
  case 4: return write_cr(p, 8, pick(8) ? pick(16) : (uint32)R());
  case 5: return mov_cr(p, (int[]){0, 3, 4, 8}[pick(4)], reg, 0);
  case 6: return efer(p, pick(4) != 0, efer_value());
  case 7:                                              // the four steps into long mode
    p = write_cr(p, 4, 0x20);
    p = write_cr(p, 3, 0x1000);
    p = efer(p, 1, 0x100 | (pick(2) ? 0x800 : 0));
    return write_cr(p, 0, 0x80000011 | (pick(2) ? 0x10000 : 0));
  case 8:                                              // clts
    p = noise(p);
    *p++ = 0x0F, *p++ = 0x06;
    return p;
  case 9:                                              // lmsw %reg
    p = mov_imm(p, reg, pick(2) ? pick(16) : (uint32)R());
    p = noise(p);
    if (reg >= 8)
      *p++ = 0x41;
    *p++ = 0x0F, *p++ = 0x01, *p++ = 0xF0 | (reg & 7);
    return p;
  case 10:                                             // lmsw (%ebx), smsw (%ebx): memory operands
    p = mov_imm(p, 3, SCRATCH + pick(256 - 2));
    if (BITS == 16)
      *p++ = 0x67;
    *p++ = 0x0F, *p++ = 0x01, *p++ = pick(2) ? 0x33 : 0x23;
    return p;
  case 11: *p++ = pick(2) ? 0xFB : 0xFA; return p;     // sti, cli
  case 12: *p++ = 0x0F, *p++ = 0xA2; return p;         // cpuid
  case 13: case 14:                                    // port 0x80: out and in, sometimes wider
    if (BITS == 16 || pick(4) == 0)
      *p++ = 0x66;
    *p++ = (uint8[]){0xE6, 0xE6, 0xE4, 0xE7}[pick(4)], *p++ = 0x80;
    return p;
  case 15:                                             // smsw %reg; now and then sti; hlt instead
    if (pick(4) == 0) {
      *p++ = 0xFB, *p++ = 0xF4;
      return p;
    }
    *p++ = 0x0F, *p++ = 0x01, *p++ = 0xE0 | (reg & 7);
    return p;
  case 16: case 17: return mov_dr(p, pick(2));   // kern/svm/dr.c
  }
  return p;
}

uint8 *sysprog_emit(uint8 *p, uint8 *end, int bits, uint64 scratch, uint64 (*rnd)(void))
{
  R = rnd, BITS = bits, SCRATCH = scratch;
  for (int n = 1 + pick(24); n > 0 && end - p > 64 + 1; n--)
    p = step(p);
  *p++ = 0xF4;   // hlt
  return p;
}

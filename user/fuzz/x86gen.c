// A random instance generator for the x86 instruction emulator
// (user/vmm/decode.c, emulate.c, alu.c): random encodings of the forms the
// emulator covers, with every prefix, REX, ModRM/SIB/RIP-relative form,
// displacement and immediate, and registers chosen so that the memory
// operand lands on a given page. It encodes from the opcode maps (SDM Vol. 2
// App. A), not from the decoder, so that the two cannot share a mistake.
// Used on the build machine by tools/emutest (native runs vs the emulator)
// and inside svmlab by user/mmiodiff.c (RAM vs the MMIO path of a guest).
#include "x86gen.h"

static uint64 code, data, gsbase, fsbase, csbase;   // from the caller's x86gen_env
static int mode;
static uint64 (*rnd)(void);
static uint64 rndn(uint64 n) { return rnd() % n; }
#define PAGE 4096


// Encoding facts of one opcode, from the opcode maps (SDM Vol. 2 App. A).
enum imm { I_NONE, I_8, I_FULL, I_MOFFS };
struct form {
  uint8 op, twobyte, modrm, bytewise, lockable;
  int8 reg;          // fixed ModRM.reg (group opcodes), or -1
  enum imm imm;
  uint8 string, regdata, width_src;  // string instruction; reg field is a data register; memory width (MOVX)
};

static int form_at(struct form *f, int i)
{
  static const uint8 alu_ops[8] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38};
  __builtin_memset(f, 0, sizeof *f);
  f->reg = -1;
  f->modrm = 1;
  if (i < 32) {   // ALU r/m,r  r,r/m in both widths
    f->op = alu_ops[i / 4] | (i % 4);
    f->bytewise = !(i & 1);
    f->regdata = 1;
    f->lockable = (i % 4) < 2 && i / 4 != 7;
    return 1;
  }
  i -= 32;
  static const struct form more[] = {
    {0x80, 0, 1, 1, 1, -2, I_8}, {0x81, 0, 1, 0, 1, -2, I_FULL}, {0x83, 0, 1, 0, 1, -2, I_8},
    {0x84, 0, 1, 1, 0, -1, I_NONE, 0, 1}, {0x85, 0, 1, 0, 0, -1, I_NONE, 0, 1},
    {0x86, 0, 1, 1, 1, -1, I_NONE, 0, 1}, {0x87, 0, 1, 0, 1, -1, I_NONE, 0, 1},
    {0x88, 0, 1, 1, 0, -1, I_NONE, 0, 1}, {0x89, 0, 1, 0, 0, -1, I_NONE, 0, 1},
    {0x8A, 0, 1, 1, 0, -1, I_NONE, 0, 1}, {0x8B, 0, 1, 0, 0, -1, I_NONE, 0, 1},
    {0xA0, 0, 0, 1, 0, -1, I_MOFFS}, {0xA1, 0, 0, 0, 0, -1, I_MOFFS},
    {0xA2, 0, 0, 1, 0, -1, I_MOFFS}, {0xA3, 0, 0, 0, 0, -1, I_MOFFS},
    {0xA4, 0, 0, 1, 0, -1, I_NONE, 1}, {0xA5, 0, 0, 0, 0, -1, I_NONE, 1},
    {0xA6, 0, 0, 1, 0, -1, I_NONE, 1}, {0xA7, 0, 0, 0, 0, -1, I_NONE, 1},
    {0xAA, 0, 0, 1, 0, -1, I_NONE, 1}, {0xAB, 0, 0, 0, 0, -1, I_NONE, 1},
    {0xAC, 0, 0, 1, 0, -1, I_NONE, 1}, {0xAD, 0, 0, 0, 0, -1, I_NONE, 1},
    {0xAE, 0, 0, 1, 0, -1, I_NONE, 1}, {0xAF, 0, 0, 0, 0, -1, I_NONE, 1},
    {0xC6, 0, 1, 1, 0, 0, I_8}, {0xC7, 0, 1, 0, 0, 0, I_FULL},
    {0xF6, 0, 1, 1, 0, 0, I_8}, {0xF7, 0, 1, 0, 0, 0, I_FULL},
    {0xF6, 0, 1, 1, 1, 2}, {0xF7, 0, 1, 0, 1, 2}, {0xF6, 0, 1, 1, 1, 3}, {0xF7, 0, 1, 0, 1, 3},
    {0xFE, 0, 1, 1, 1, 0}, {0xFF, 0, 1, 0, 1, 0}, {0xFE, 0, 1, 1, 1, 1}, {0xFF, 0, 1, 0, 1, 1},
    {0xB6, 1, 1, 0, 0, -1, I_NONE, 0, 1, 1}, {0xB7, 1, 1, 0, 0, -1, I_NONE, 0, 1, 2},
    {0xBE, 1, 1, 0, 0, -1, I_NONE, 0, 1, 1}, {0xBF, 1, 1, 0, 0, -1, I_NONE, 0, 1, 2},
    {0x63, 0, 1, 0, 0, -1, I_NONE, 0, 1, 4},
  };
  if (i >= (int)(sizeof more / sizeof more[0]))
    return 0;
  *f = more[i];
  return 1;
}
int x86gen_nforms(void)
{
  struct form f;
  int n = 0;
  while (form_at(&f, n))
    n++;
  return n;
}

static void put(struct x86gen *g, uint64 v, int n)
{
  for (int i = 0; i < n; i++)
    g->b[g->len++] = v >> (8 * i);
}

// The offset within segment s that reaches linear address la (modes 32 and
// 16). A segment's base is drawn the first time it is needed (the code
// segment's is the caller's): any 32-bit value with 32-bit addresses, so
// that base + offset often wraps at 4 GiB; within 64 KiB below la with
// 16-bit ones, keeping 256 bytes from either end for string runs. 0 when
// the offset does not fit (the caller draws again).
static int seg_offset(struct x86gen *g, int s, uint64 la, uint64 *off)
{
  if (!g->segbase[s] && s != X86_CS)
    g->segbase[s] = g->adsize == 2 ? (uint32)(la - 0x100 - rndn(0xFE00)) : (uint32)rnd() | 1;
  uint64 o = (uint32)(la - g->segbase[s]);
  if (g->adsize == 2 && (o < 0x100 || o > 0xFF00))
    return 0;
  *off = o;
  return 1;
}

// The offset that reaches target through segment seg in any mode: in 64-bit
// mode only FS and GS have a base (APM Vol. 2 §4.12.2).
static int offset_for(struct x86gen *g, int seg, uint64 target, uint64 *off)
{
  g->seg = seg;
  if (mode != 64)
    return seg_offset(g, seg, target, off);
  *off = target - (seg == X86_GS ? gsbase : seg == X86_FS ? fsbase : 0);
  return 1;
}

// 16-bit ModRM forms (SDM Vol. 2 Table 2-1): [BX+SI] [BX+DI] [BP+SI] [BP+DI]
// [SI] [DI] [BP] [BX], or disp16 alone; the BP forms default to SS. The
// registers' low halves are random but one, which makes the sum (taken
// modulo 64 KiB, as the CPU does) reach the offset: the plain sum often
// passes 64 KiB. Bits 31:16 of the registers are random and must not count.
static int address16(struct x86gen *g, uint8 reg, uint64 target)
{
  static const int8 b16[8] = {X86_RBX, X86_RBX, X86_RBP, X86_RBP, -1, -1, X86_RBP, X86_RBX};
  static const int8 i16[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, -1, -1};
  int mod = rndn(3), rm = rndn(8), base = b16[rm], index = i16[rm];
  int dispsz = mod == 1 ? 1 : mod == 2 ? 2 : 0;
  if (mod == 0 && rm == 6)
    base = -1, dispsz = 2;
  uint64 off;
  if (!offset_for(g, g->override >= 0 ? g->override : base == X86_RBP ? X86_SS : X86_DS, target, &off))
    return 0;
  int64 disp = dispsz == 1 ? (int64)(int8)rnd() : dispsz == 2 ? (int64)(uint16)rnd() : 0;
  uint64 ival = index >= 0 ? rnd() & 0xFFFF : 0, bval = 0;
  if (base < 0 && index < 0)
    disp = (int64)off;
  else if (base < 0)
    ival = (off - disp) & 0xFFFF;
  else
    bval = (off - disp - ival) & 0xFFFF;
  if (base >= 0)
    g->r.gpr[base] = bval | (rnd() & 0xFFFF0000UL);
  if (index >= 0)
    g->r.gpr[index] = ival | (rnd() & 0xFFFF0000UL);
  g->wrap16 = (base >= 0 || index >= 0) && (uint64)(bval + ival + disp) > 0xFFFF;
  g->b[g->len++] = (mod << 6) | ((reg & 7) << 3) | rm;
  put(g, (uint64)disp, dispsz);
  return 1;
}

// Picks the ModRM/SIB form and registers so that the operand lands on
// data+off. Returns 0 when the random choice cannot be used (RSP as a base
// in 64-bit mode, where it is the native run's stack; base == index), so the
// caller draws again.
static int address(struct x86gen *g, int rex, uint8 reg, uint64 target, int *ripdisp)
{
  if (g->adsize == 2)
    return *ripdisp = 0, address16(g, reg, target);
  int legacy = mode != 64;
  int mod = rndn(3), rm = rndn(8), sib = -1;
  int base = -1, index = -1, scale = 0, riprel = 0, dispsz = mod == 1 ? 1 : mod == 2 ? 4 : 0;
  if (rm == 4) {
    sib = rnd() & 0xFF;
    scale = sib >> 6;
    int ix = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
    index = ix == 4 ? -1 : ix;
    base = (sib & 7) | ((rex & 1) ? 8 : 0);
    if ((sib & 7) == 5 && mod == 0)
      base = -1, dispsz = 4;
  } else {
    base = rm | ((rex & 1) ? 8 : 0);
    if (rm == 5 && mod == 0)
      base = -1, riprel = !legacy, dispsz = 4;   // disp32 alone outside 64-bit mode
  }
  if ((base == 4 && !legacy) || (base >= 0 && base == index))
    return 0;
  int defseg = base == X86_RSP || base == X86_RBP ? X86_SS : X86_DS;
  if (!offset_for(g, g->override >= 0 ? g->override : defseg, target, &target))
    return 0;
  uint64 amask = g->adsize == 4 ? 0xFFFFFFFFUL : ~0UL;
  uint64 hi = g->adsize == 4 && !legacy ? rnd() << 32 : 0;   // ignored bits (none outside 64-bit mode)
  uint64 ival = index < 0 ? 0 : legacy ? (uint32)rnd() : rndn(64);
  int64 disp = dispsz == 1 ? (int64)(int8)rnd() : dispsz == 4 && legacy ? (int64)(int32)rnd()
             : dispsz == 4 ? (int32)rndn(1 << 20) - (1 << 19) : 0;
  g->b[g->len++] = (mod << 6) | ((reg & 7) << 3) | rm;
  if (sib >= 0)
    g->b[g->len++] = sib;
  int dpos = g->len;
  g->len += dispsz;
  if (index >= 0)
    g->r.gpr[index] = ival | hi;
  if (riprel || base < 0) {
    // disp32 carries the address: RIP-relative, or absolute (+ index).
    disp = (int64)(target - (ival << scale));
    if (riprel)
      disp = (int64)(target - (code + g->len));   // corrected after the immediate
  } else {
    uint64 bval = (target - disp - (ival << scale)) & amask;
    g->r.gpr[base] = bval | hi;
  }
  for (int i = 0; i < dispsz; i++)
    g->b[dpos + i] = (uint64)disp >> (8 * i);
  *ripdisp = riprel ? dpos : 0;
  return 1;
}

// String instructions: the source rSI (MOVS, CMPS, LODS) through the
// segment override if any, else DS, the destination ES:rDI whatever the
// override (STOS and SCAS take one that must be ignored; SDM Vol. 2 "STOS").
// In 64-bit mode only a GS or FS override moves the source by a base.
// CMPS compares a region with itself, its neighbour (equal where the page is
// uniform, g->fill) or another place; SCAS's rAX is the fill pattern or
// random: REPE and REPNE then both run on and both stop. The registers'
// bits above the address size are random and must neither count nor change.
static int string_operands(struct x86gen *g, const struct form *f, uint64 target)
{
  uint64 src = data + 256 + rndn(PAGE - 512), soff, doff;
  uint64 hi = g->adsize == 4 && mode == 64 ? rnd() << 32 : g->adsize == 2 ? rnd() & 0xFFFF0000UL : 0;
  if (f->op == 0xA6 || f->op == 0xA7) {
    int how = rndn(3);
    src = how == 0 ? target : how == 1 ? target + (rndn(2) ? 64 : -64) : src;
  }
  if (!offset_for(g, X86_ES, target, &doff) || !offset_for(g, g->override >= 0 ? g->override : X86_DS, src, &soff))
    return 0;
  g->r.gpr[X86_RDI] = doff | hi;
  g->r.gpr[X86_RSI] = soff | (g->adsize == 4 && mode == 64 ? rnd() << 32 : hi);
  if ((f->op == 0xAE || f->op == 0xAF) && g->fill && rndn(4))
    g->r.gpr[X86_RAX] = g->fill * 0x0101010101010101UL;
  return 1;
}

static int gen_operands(struct x86gen *g, const struct form *f, int rex, int lock, uint64 target, int *ripdisp)
{
  if (f->string)
    return string_operands(g, f, target);
  if (f->imm == I_MOFFS) {
    uint64 off;
    if (!offset_for(g, g->override >= 0 ? g->override : X86_DS, target, &off))
      return 0;
    put(g, off, g->adsize);
    return 1;
  }
  // Group 1: any operation, but LOCK CMP is #UD (the decoder's vectors test that).
  uint8 reg = f->reg >= 0 ? (uint8)f->reg : f->reg == -2 ? rndn(lock ? 7 : 8) : rndn(16);
  if (f->reg == -1 && !(rex & 4))
    reg &= 7;
  if (f->reg == -1 && (rex & 4))
    reg |= 8;
  int regsize = f->bytewise ? 1 : g->opsize;
  if (f->regdata && reg == 4 && (regsize > 1 || rex) && mode == 64)
    return 0;   // RSP/SPL as data: the native run's stack
  return address(g, rex, reg, target, ripdisp);
}

// The operand and address sizes of mode with 66 and 67 (SDM Vol. 1 §3.6,
// Table 3-4): a 16-bit code segment swaps the defaults of a 32-bit one.
static void sizes(struct x86gen *g, const struct form *f, int rex, int p66, int p67)
{
  if (mode == 64) {
    g->opsize = (rex & 8) ? 8 : p66 ? 2 : 4;
    g->adsize = p67 ? 4 : 8;
  } else {
    g->opsize = (mode == 32) != p66 ? 4 : 2;
    g->adsize = (mode == 32) != p67 ? 4 : 2;
  }
  if (f->bytewise)
    g->opsize = 1;
}

// The segment override, or -1. In 64-bit mode ES, CS, SS and DS overrides
// change nothing, GS and FS (when the caller gave them a base) do; outside
// it every segment has a base of its own, and half the instances name one.
static int pick_override(struct x86gen *g)
{
  if (mode != 64)
    return rndn(2) ? (int)rndn(X86_NSEG) : -1;
  g->gs = gsbase && rndn(6) == 0;
  g->fs = !g->gs && fsbase && rndn(5) == 0;
  return g->gs ? X86_GS : g->fs ? X86_FS : rndn(5) == 0 ? (int)rndn(4) : -1;
}

// Builds one random instance of form f into g; 0 to draw again.
static int generate(struct x86gen *g, const struct form *f)
{
  __builtin_memset(g, 0, sizeof *g);
  if (mode != 64 && f->op == 0x63 && !f->twobyte)
    return 0;   // ARPL outside 64-bit mode
  g->segbase[X86_CS] = mode != 64 ? csbase : 0;
  int p66 = rndn(4) == 0, p67 = rndn(mode == 64 ? 5 : 3) == 0, lock = f->lockable && f->modrm && rndn(4) == 0;
  int rex = mode == 64 && rndn(5) < 3 ? 0x40 | rndn(16) : 0;
  g->override = pick_override(g);
  if (f->op == 0x63 && !(rex & 8) && p66)
    p66 = 0;   // MOVSXD with a 16-bit operand: a legal but odd form; keep to 32/64
  sizes(g, f, rex, p66, p67);
  g->width = f->width_src && f->op != 0x63 ? f->width_src : f->op == 0x63 ? (g->opsize == 8 ? 4 : g->opsize) : g->opsize;
  uint8 pre[5];
  int np = 0;
  if (p66) pre[np++] = 0x66;
  if (p67) pre[np++] = 0x67;
  if (lock) pre[np++] = 0xF0;
  if (g->override >= 0) pre[np++] = (uint8[]){0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65}[g->override];
  if (f->string && rndn(3)) pre[np++] = rndn(2) ? 0xF3 : 0xF2;
  for (int i = np - 1; i > 0; i--) {   // prefixes in any order
    int j = rndn(i + 1);
    uint8 t = pre[i]; pre[i] = pre[j]; pre[j] = t;
  }
  for (int i = 0; i < np; i++) {
    if (mode == 64 && i == np - 1 && rndn(6) == 0) {
      g->b[g->len++] = 0x40 | rndn(16);   // a REX before a legacy prefix is ignored
      g->stray_rex = 1;
    }
    g->b[g->len++] = pre[i];
  }
  if (rex)
    g->b[g->len++] = rex;
  if (f->twobyte)
    g->b[g->len++] = 0x0F;
  g->b[g->len++] = f->op;
  for (int i = 0; i < 16; i++)   // outside 64-bit mode: 32-bit registers, no R8-R15
    g->r.gpr[i] = mode == 64 ? rnd() >> rndn(64) : i < 8 ? (uint32)(rnd() >> rndn(64)) : 0;
  uint64 target = data + 64 + rndn(PAGE - 192);
  if (f->string) {
    // Up to 12 elements, 0 among them; with a 32-bit address size ECX counts,
    // not RCX (with a 16-bit one, CX). The element run stays 256 bytes from
    // the page's ends.
    uint64 hi = g->adsize == 4 && mode == 64 ? rnd() << 40 : g->adsize == 2 ? rnd() & 0xFFFF0000UL : 0;
    g->r.gpr[X86_RCX] = rndn(13) | hi;
    target = data + 256 + rndn(PAGE - 512);
    g->fill = rndn(2) ? 0 : rnd() | 1;
  }
  int dpos = 0;
  if (!gen_operands(g, f, rex, lock, target, &dpos))
    return 0;
  if (f->imm == I_8)
    put(g, rnd(), 1);
  else if (f->imm == I_FULL)
    put(g, rnd(), g->opsize == 2 ? 2 : 4);
  if (dpos) {   // RIP-relative: the displacement counts from the end of the instruction
    int32 d;
    __builtin_memcpy(&d, g->b + dpos, 4);
    d -= g->len - (dpos + 4);
    __builtin_memcpy(g->b + dpos, &d, 4);
  }
  if (g->len > 15)
    return 0;   // a CPU raises #GP past 15 bytes (vectors test the decoder's refusal)
  for (int s = 0; mode != 64 && s < X86_NSEG; s++)   // the other segments: bases of their own
    if (!g->segbase[s])
      g->segbase[s] = (uint32)rnd() | 1;
  uint64 fl = rnd() & X86_FL_ARITH;
  if (f->string && rndn(3) == 0)
    fl |= X86_FL_DF;
  g->r.rflags = fl | 2;
  return 1;
}

// One random instance of form number `form` (0 .. x86gen_nforms()-1) whose
// memory operand lies in env->data's page; 0 when the draw cannot be used
// (the caller draws again).
int x86gen_generate(const struct x86gen_env *env, int form, struct x86gen *g)
{
  struct form f;
  code = env->code, data = env->data, gsbase = env->gsbase, rnd = env->rnd;
  fsbase = env->fsbase, csbase = env->csbase, mode = env->mode ? env->mode : 64;
  if (!form_at(&f, form))
    return 0;
  g->string = f.string;
  if (!generate(g, &f))
    return 0;
  g->string = f.string;
  return 1;
}

// The operand page's bytes before a run of g: random, or (g->fill) that byte
// with one random byte in 64 on average, so that elements compare equal for a
// while and then do not.
void x86gen_fill(const struct x86gen *g, uint8 *page, uint64 (*random)(void))
{
  for (int i = 0; i < PAGE; i++) {
    uint64 x = random();
    page[i] = !g->fill || (x >> 58) == 0 ? (uint8)x : g->fill;
  }
}

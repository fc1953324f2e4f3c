// A random instance generator for the x86 instruction emulator
// (user/vmm/decode.c, emulate.c, alu.c): random encodings of the forms the
// emulator covers, with every prefix, REX, ModRM/SIB/RIP-relative form,
// displacement and immediate, and registers chosen so that the memory
// operand lands on a given page. It encodes from the opcode maps (SDM Vol. 2
// App. A), not from the decoder, so that the two cannot share a mistake.
// Used on the build machine by tools/emutest (native runs vs the emulator)
// and inside svmlab by user/mmiodiff.c (RAM vs the MMIO path of a guest).
#include "x86gen.h"

static uint64 code, data, gsbase;   // from the caller's x86gen_env
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

// Picks the ModRM/SIB form and registers so that the operand lands on
// data+off. Returns 0 when the random choice cannot be used (RSP as a base,
// base == index), so the caller draws again.
static int address(struct x86gen *g, int rex, uint8 reg, uint64 target, int *ripdisp)
{
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
      base = -1, riprel = 1, dispsz = 4;
  }
  if (base == 4 || (base >= 0 && base == index))
    return 0;
  if (g->gs)
    target -= gsbase;   // the offset within the GS segment
  uint64 amask = g->adsize == 4 ? 0xFFFFFFFFUL : ~0UL;
  uint64 ival = index >= 0 ? rndn(64) : 0;
  int64 disp = dispsz == 1 ? (int64)(int8)rnd() : dispsz == 4 ? (int32)rndn(1 << 20) - (1 << 19) : 0;
  g->b[g->len++] = (mod << 6) | ((reg & 7) << 3) | rm;
  if (sib >= 0)
    g->b[g->len++] = sib;
  int dpos = g->len;
  g->len += dispsz;
  if (index >= 0)
    g->r.gpr[index] = ival | (g->adsize == 4 ? rnd() << 32 : 0);
  if (riprel || base < 0) {
    // disp32 carries the address: RIP-relative, or absolute (+ index).
    disp = (int64)(target - (ival << scale));
    if (riprel)
      disp = (int64)(target - (code + g->len));   // corrected after the immediate
  } else {
    uint64 bval = (target - disp - (ival << scale)) & amask;
    g->r.gpr[base] = bval | (g->adsize == 4 ? rnd() << 32 : 0);
  }
  for (int i = 0; i < dispsz; i++)
    g->b[dpos + i] = (uint64)disp >> (8 * i);
  *ripdisp = riprel ? dpos : 0;
  return 1;
}

// String instructions: the source rSI (MOVS, CMPS, LODS) through the
// segment override if any (a GS override moves it by the GS base), the
// destination ES:rDI whatever the override (STOS and SCAS take one that must
// be ignored). CMPS compares a region with itself, its neighbour (equal
// where the page is uniform, g->fill) or another place; SCAS's rAX is the
// fill pattern or random: REPE and REPNE then both run on and both stop.
static void string_operands(struct x86gen *g, const struct form *f, uint64 target)
{
  uint64 src = data + 256 + rndn(PAGE - 512), hi = g->adsize == 4 ? rnd() << 32 : 0;
  if (f->op == 0xA6 || f->op == 0xA7) {
    int how = rndn(3);
    src = how == 0 ? target : how == 1 ? target + (rndn(2) ? 64 : -64) : src;
  }
  g->r.gpr[X86_RDI] = target | hi;
  g->r.gpr[X86_RSI] = (src - (g->gs ? gsbase : 0)) | (g->adsize == 4 ? rnd() << 32 : 0);
  if ((f->op == 0xAE || f->op == 0xAF) && g->fill && rndn(4))
    g->r.gpr[X86_RAX] = g->fill * 0x0101010101010101UL;
}

static int gen_operands(struct x86gen *g, const struct form *f, int rex, int lock, uint64 target, int *ripdisp)
{
  if (f->string) {
    string_operands(g, f, target);
    return 1;
  }
  if (f->imm == I_MOFFS) {
    put(g, target - (g->gs ? gsbase : 0), g->adsize);
    return 1;
  }
  // Group 1: any operation, but LOCK CMP is #UD (the decoder's vectors test that).
  uint8 reg = f->reg >= 0 ? (uint8)f->reg : f->reg == -2 ? rndn(lock ? 7 : 8) : rndn(16);
  if (f->reg == -1 && !(rex & 4))
    reg &= 7;
  if (f->reg == -1 && (rex & 4))
    reg |= 8;
  int regsize = f->bytewise ? 1 : g->opsize;
  if (f->regdata && reg == 4 && (regsize > 1 || rex))
    return 0;   // RSP/SPL as data: the native run's stack
  return address(g, rex, reg, target, ripdisp);
}

// Builds one random instance of form f into g; 0 to draw again.
static int generate(struct x86gen *g, const struct form *f)
{
  __builtin_memset(g, 0, sizeof *g);
  int p66 = rndn(4) == 0, p67 = rndn(5) == 0, lock = f->lockable && f->modrm && rndn(4) == 0;
  int rex = rndn(5) < 3 ? 0x40 | rndn(16) : 0;
  g->gs = gsbase && rndn(6) == 0;
  if (f->op == 0x63 && !(rex & 8) && p66)
    p66 = 0;   // MOVSXD with a 16-bit operand: a legal but odd form; keep to 32/64
  g->opsize = f->bytewise ? 1 : (rex & 8) ? 8 : p66 ? 2 : 4;
  g->adsize = p67 ? 4 : 8;
  g->width = f->width_src && f->op != 0x63 ? f->width_src : f->op == 0x63 ? (g->opsize == 8 ? 4 : g->opsize) : g->opsize;
  uint8 pre[5];
  int np = 0;
  if (p66) pre[np++] = 0x66;
  if (p67) pre[np++] = 0x67;
  if (lock) pre[np++] = 0xF0;
  if (g->gs) pre[np++] = 0x65;
  else if (rndn(5) == 0) pre[np++] = (uint8[]){0x26, 0x2E, 0x36, 0x3E}[rndn(4)];
  if (f->string && rndn(3)) pre[np++] = rndn(2) ? 0xF3 : 0xF2;
  for (int i = np - 1; i > 0; i--) {   // prefixes in any order
    int j = rndn(i + 1);
    uint8 t = pre[i]; pre[i] = pre[j]; pre[j] = t;
  }
  for (int i = 0; i < np; i++) {
    if (i == np - 1 && rndn(6) == 0) {
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
  for (int i = 0; i < 16; i++)
    g->r.gpr[i] = rnd() >> rndn(64);
  uint64 target = data + 64 + rndn(PAGE - 192);
  if (f->string) {
    // Up to 12 elements, 0 among them; with a 32-bit address size ECX counts,
    // not RCX. The element run stays 256 bytes from the page's ends.
    g->r.gpr[X86_RCX] = rndn(13) | (g->adsize == 4 ? rnd() << 40 : 0);
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

// emutest: differential test of the VMM's instruction emulator
// (user/vmm/decode.c, emulate.c, alu.c) against the CPU it runs on.
//
//   build/emutest [COUNT [SEED]]        (make emutest; make test runs a small count)
//
// Each instance is a random encoding of an instruction the emulator covers
// (prefixes, REX, every ModRM/SIB/RIP-relative form, displacements,
// immediates), with random registers and flags and a memory operand aimed at
// a scratch page. The instruction runs natively (followed by RET) on the page,
// and through x86_decode/x86_emulate on a copy of it; registers, arithmetic
// flags, memory, RIP and the width of every access must agree. Then random
// and truncated byte strings go through the decoder and emulator in all
// three modes, which must refuse them cleanly, and a table of 16/32-bit
// vectors checks the forms the host cannot run natively. The generator
// encodes from the manuals' tables, not from the decoder, so that the two
// cannot share a mistake.
#define _GNU_SOURCE
#include "x86emu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

struct native_regs {
  uint64 gpr[16];
  uint64 rflags;
};
void run_native(struct native_regs *r, void *code);

#define PAGE 4096
static uint8 *code;             // executable page below 2 GiB
static uint8 *data;             // the native memory operand's page
static uint8 shadow[PAGE];      // the emulator's copy of it
static uint64 gsbase;           // GS base set for the process (0: none)
static long failures;

void x86_missing(const char *what)
{
  printf("emutest: lab 7: %s not implemented\n", what);
  exit(1);
}

static uint64 rng = 88172645463325252UL;
static uint64 rnd(void)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}
static uint64 rndn(uint64 n) { return rnd() % n; }

// ---- the emulator's memory: the shadow page, with every access logged ----

struct access {
  uint64 la;
  int n, write;
};
static struct access log_[64];
static int nlog;

static int emu_rw(uint64 la, void *buf, int n, int write)
{
  if (nlog < 64)
    log_[nlog++] = (struct access){la, n, write};
  uint64 base = (uint64)data;
  if (la < base || la + n > base + PAGE)
    return -1;
  if (write)
    memcpy(shadow + (la - base), buf, n);
  else
    memcpy(buf, shadow + (la - base), n);
  return 0;
}
static int emu_read(void *ctx, uint64 la, void *buf, int n) { return emu_rw(la, buf, n, 0); }
static int emu_write(void *ctx, uint64 la, const void *buf, int n) { return emu_rw(la, (void *)buf, n, 1); }

// ---- the generator ----

// Encoding facts of one opcode, from the opcode maps (SDM Vol. 2 App. A).
enum imm { I_NONE, I_8, I_FULL, I_MOFFS };
struct form {
  uint8 op, twobyte, modrm, bytewise, lockable;
  int8 reg;          // fixed ModRM.reg (group opcodes), or -1
  enum imm imm;
  uint8 string, regdata, width_src;  // STOS/MOVS; reg field is a data register; memory width (MOVX)
};

static int form_at(struct form *f, int i)
{
  static const uint8 alu_ops[8] = {0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38};
  memset(f, 0, sizeof *f);
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
    {0xAA, 0, 0, 1, 0, -1, I_NONE, 1}, {0xAB, 0, 0, 0, 0, -1, I_NONE, 1},
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
static int nforms(void)
{
  struct form f;
  int n = 0;
  while (form_at(&f, n))
    n++;
  return n;
}

struct gen {
  uint8 b[32];
  int len;
  int opsize, adsize, width;   // width: the memory access size expected
  struct native_regs r;
  int gs;                      // GS override used
};

static void put(struct gen *g, uint64 v, int n)
{
  for (int i = 0; i < n; i++)
    g->b[g->len++] = v >> (8 * i);
}

// Picks the ModRM/SIB form and registers so that the operand lands on
// data+off. Returns 0 when the random choice cannot be used (RSP as a base,
// base == index), so the caller draws again.
static int address(struct gen *g, int rex, uint8 reg, uint64 target, int *ripdisp)
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
      disp = (int64)(target - ((uint64)code + g->len));   // corrected after the immediate
  } else {
    uint64 bval = (target - disp - (ival << scale)) & amask;
    g->r.gpr[base] = bval | (g->adsize == 4 ? rnd() << 32 : 0);
  }
  for (int i = 0; i < dispsz; i++)
    g->b[dpos + i] = (uint64)disp >> (8 * i);
  *ripdisp = riprel ? dpos : 0;
  return 1;
}

static int gen_operands(struct gen *g, const struct form *f, int rex, int lock, uint64 target, int *ripdisp)
{
  if (f->string) {
    g->r.gpr[X86_RDI] = target;
    g->r.gpr[X86_RSI] = (uint64)data + rndn(PAGE / 2);
    if (g->adsize == 4)
      g->r.gpr[X86_RDI] |= rnd() << 32, g->r.gpr[X86_RSI] |= rnd() << 32;
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
static int generate(struct gen *g, const struct form *f)
{
  memset(g, 0, sizeof *g);
  int p66 = rndn(4) == 0, p67 = rndn(5) == 0, lock = f->lockable && f->modrm && rndn(4) == 0;
  int rex = rndn(5) < 3 ? 0x40 | rndn(16) : 0;
  g->gs = gsbase && !f->string && rndn(6) == 0;
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
  if (f->string && rndn(2)) pre[np++] = rndn(2) ? 0xF3 : 0xF2;
  for (int i = np - 1; i > 0; i--) {   // prefixes in any order
    int j = rndn(i + 1);
    uint8 t = pre[i]; pre[i] = pre[j]; pre[j] = t;
  }
  for (int i = 0; i < np; i++) {
    if (i == np - 1 && rndn(6) == 0)
      g->b[g->len++] = 0x40 | rndn(16);   // a REX before a legacy prefix is ignored
    g->b[g->len++] = pre[i];
  }
  if (rex)
    g->b[g->len++] = rex;
  if (f->twobyte)
    g->b[g->len++] = 0x0F;
  g->b[g->len++] = f->op;
  for (int i = 0; i < 16; i++)
    g->r.gpr[i] = rnd() >> rndn(64);
  uint64 target = (uint64)data + 64 + rndn(PAGE - 192);
  if (f->string)   // a few iterations; with a 32-bit address size ECX counts, not RCX
    g->r.gpr[X86_RCX] = rndn(6) | (g->adsize == 4 ? rnd() << 40 : 0);
  int dpos = 0;
  if (!gen_operands(g, f, rex, lock, target, &dpos))
    return 0;
  if (f->imm == I_8)
    put(g, rnd(), 1);
  else if (f->imm == I_FULL)
    put(g, rnd(), g->opsize == 2 ? 2 : 4);
  if (dpos) {   // RIP-relative: the displacement counts from the end of the instruction
    int32 d;
    memcpy(&d, g->b + dpos, 4);
    d -= g->len - (dpos + 4);
    memcpy(g->b + dpos, &d, 4);
  }
  if (g->len > 15)
    return 0;   // a CPU raises #GP past 15 bytes (vectors test the decoder's refusal)
  uint64 fl = rnd() & X86_FL_ARITH;
  if (f->string && rndn(3) == 0) {
    fl |= X86_FL_DF;
    g->r.gpr[X86_RDI] += 64, g->r.gpr[X86_RSI] += 64;   // room below for a backwards copy
  }
  g->r.rflags = fl | 2;
  return 1;
}

static void hex(const uint8 *b, int n)
{
  for (int i = 0; i < n; i++)
    printf("%02x ", b[i]);
}

// Runs one instance both ways and compares. 1 on agreement.
static int compare(struct gen *g, const struct form *f)
{
  for (int i = 0; i < PAGE; i++)
    data[i] = shadow[i] = rnd();
  memcpy(code, g->b, g->len);
  code[g->len] = 0xC3;   // RET
  struct native_regs n = g->r;
  run_native(&n, code);
  struct x86_cpu cpu = {.rip = (uint64)code, .rflags = g->r.rflags, .mode = 64};
  memcpy(cpu.gpr, g->r.gpr, sizeof cpu.gpr);
  cpu.seg_base[X86_GS] = gsbase;
  cpu.gpr[X86_RSP] = 0x5a5a5a5a00;   // never an operand of the instances: must not be added in
  struct x86_insn in;
  struct x86_mem mem = {emu_read, emu_write, 0};
  nlog = 0;
  int r = x86_decode(g->b, g->len, 64, &in);
  if (r == 0)
    r = x86_emulate(&cpu, &in, &mem);
  const char *what = NULL;
  if (r < 0)
    what = x86_error(r);
  else if (in.len != g->len)
    what = "length";
  else if (cpu.rip != (uint64)code + g->len)
    what = "rip";
  else if ((cpu.rflags & X86_FL_ARITH) != (n.rflags & X86_FL_ARITH))
    what = "flags";
  else if (memcmp(data, shadow, PAGE))
    what = "memory";
  for (int i = 0; !what && i < 16; i++)
    if (i != X86_RSP && cpu.gpr[i] != n.gpr[i])
      what = "register";
  for (int i = 0; !what && i < nlog; i++)
    if (log_[i].n != g->width)
      what = "access width";
  if (!what)
    return 1;
  if (failures++ < 20) {
    printf("emutest: MISMATCH (%s): ", what);
    hex(g->b, g->len);
    printf(" err=%d len %d/%d flags native %#lx emu %#lx\n", r, r ? 0 : in.len, g->len,
           (unsigned long)n.rflags, (unsigned long)cpu.rflags);
    for (int i = 0; i < 16; i++)
      if (i != X86_RSP && cpu.gpr[i] != n.gpr[i])
        printf("   r%d: in %#lx native %#lx emu %#lx\n", i, (unsigned long)g->r.gpr[i],
               (unsigned long)n.gpr[i], (unsigned long)cpu.gpr[i]);
  }
  (void)f;
  return 0;
}

// Every proper prefix of a valid instance must be "truncated", never a
// shorter instruction.
static void truncations(const struct gen *g)
{
  struct x86_insn in;
  for (int k = 0; k < g->len; k++) {
    int r = x86_decode(g->b, k, 64, &in);
    if (r != X86_E_TRUNCATED && failures++ < 20) {
      printf("emutest: a %d-byte prefix of ", k);
      hex(g->b, g->len);
      printf("decoded as %d, not truncated\n", r);
    }
  }
}

static int any_rw(void *ctx, uint64 la, void *buf, int n)
{
  memset(buf, 0x5A, n);
  return la == 0x1234 ? -1 : 0;
}
static int any_w(void *ctx, uint64 la, const void *buf, int n) { return n == 1 || n == 2 || n == 4 || n == 8 ? 0 : -9; }

// Random bytes in each mode: the decoder and emulator refuse or finish, never
// read past n bytes, never claim more than 15.
static long random_bytes(long count)
{
  long decoded = 0;
  struct x86_mem mem = {any_rw, any_w, 0};
  for (long i = 0; i < count; i++) {
    uint8 b[16];
    int n = rndn(16);
    for (int j = 0; j < n; j++)
      b[j] = rndn(3) ? rnd() : (uint8[]){0x66, 0x67, 0xF0, 0xF3, 0x48, 0x0F, 0x89, 0x8B, 0xC7, 0x24}[rndn(10)];
    int mode = (int[]){16, 32, 64}[rndn(3)];
    struct x86_insn in;
    int r = x86_decode(b, n, mode, &in);
    if (r == 0 && (in.len > n || in.len > 15 || in.len == 0) && failures++ < 20)
      printf("emutest: random bytes decoded with length %d of %d\n", in.len, n);
    if (r != 0)
      continue;
    decoded++;
    struct x86_cpu cpu = {.rip = 0x1000, .mode = mode};
    for (int j = 0; j < 16; j++)
      cpu.gpr[j] = rnd();
    cpu.rflags = rnd() & (X86_FL_ARITH | X86_FL_DF);
    r = x86_emulate(&cpu, &in, &mem);
    if (r < 0 && r != X86_E_FAULT && failures++ < 20)
      printf("emutest: emulation of decoded bytes failed with %d\n", r);
  }
  return decoded;
}

// Forms the host cannot run natively (16- and 32-bit modes) and refusals.
struct vec {
  int mode;
  const char *bytes;
  int err, len, width;
  uint64 ea;   // expected linear address of the first access (regs below)
};
static void vectors(void)
{
  static const struct vec v[] = {
    {32, "8b 45 08", 0, 3, 4, 0x30000 + 0x2000 + 8},          // mov eax,[ebp+8]  (SS base 0x30000)
    {32, "89 04 8d 00 10 00 00", 0, 7, 4, 0x10000 + 0x1000 + 4 * 0x10},   // mov [ecx*4+0x1000],eax
    {32, "a1 78 56 34 12", 0, 5, 4, 0x10000 + 0x12345678},     // mov eax,[0x12345678]
    {32, "66 c7 05 00 00 fe fe 34 12", 0, 9, 2, 0x10000 + 0xfefe0000UL},
    {32, "0f b6 42 03", 0, 4, 1, 0x10000 + 0x3000 + 3},         // movzx eax,byte [edx+3]
    {32, "65 8b 03", 0, 3, 4, 0x50000 + 0x4000},                // mov eax,gs:[ebx]
    {32, "67 8b 47 02", 0, 4, 4, 0x10000 + 0x4000 + 2},         // mov eax,[bx+2] (16-bit addressing)
    {32, "8b 05 00 00 01 00", 0, 6, 4, 0x10000 + 0x10000},      // mov eax,[0x10000]: no RIP in 32-bit
    {16, "8b 47 02", 0, 3, 2, 0x10000 + 0x4000 + 2},            // mov ax,[bx+2]
    {16, "8b 03", 0, 2, 2, 0x30000 + ((0x2000 + 0x5000) & 0xFFFF)},   // mov ax,[bp+di]: SS
    {16, "8b 42 10", 0, 3, 2, 0x30000 + 0x2000 + 0x6000 + 0x10},      // mov ax,[bp+si+0x10]
    {16, "c6 06 34 12 ab", 0, 5, 1, 0x10000 + 0x1234},          // mov byte [0x1234],0xab
    {16, "8b 46 fe", 0, 3, 2, 0x30000 + 0x2000 - 2},            // mov ax,[bp-2]: SS
    {16, "66 89 00", 0, 3, 4, 0x10000 + ((0x4000 + 0x6000) & 0xFFFF)},   // mov [bx+si],eax
    {16, "67 8b 04 24", 0, 4, 2, 0x30000 + 0x7000},             // mov ax,[esp]
    {64, "48 63 07", 0, 3, 4, 0x5000},                          // movsxd rax,[rdi]
    {64, "65 48 8b 04 25 10 00 00 00", 0, 9, 8, 0x60000 + 0x10}, // mov rax,gs:[0x10]
    {32, "63 07", X86_E_MODE},
    {32, "82 07 01", 0, 3, 1, 0x10000 + 0x5000},
    {64, "82 07 01", X86_E_MODE},
    {64, "f0 89 07", X86_E_LOCK},
    {64, "f0 39 07", X86_E_LOCK},
    {64, "8b c0", X86_E_NOMEM},
    {64, "0f 0b", X86_E_UNSUPPORTED},
    {64, "f7 37", X86_E_UNSUPPORTED},                           // div dword [rdi]
    {64, "c6 f8 00", X86_E_NOMEM},                              // xabort
    {64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 89 07", X86_E_TOOLONG},
    {64, "48", X86_E_TRUNCATED},
  };
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8 b[16];
    int n = 0;
    for (const char *s = v[i].bytes; *s; s += 3)
      b[n++] = strtoul(s, NULL, 16);
    struct x86_insn in;
    int r = x86_decode(b, n, v[i].mode, &in);
    struct x86_cpu cpu = {.rip = 0x100, .mode = v[i].mode, .gpr = {[X86_RCX] = 0x10, [X86_RBX] = 0x4000,
                          [X86_RBP] = 0x2000, [X86_RDX] = 0x3000, [X86_RDI] = 0x5000, [X86_RSI] = 0x6000,
                          [X86_RSP] = 0x7000}};
    cpu.seg_base[X86_DS] = cpu.seg_base[X86_ES] = 0x10000;
    cpu.seg_base[X86_SS] = 0x30000;
    cpu.seg_base[X86_GS] = v[i].mode == 64 ? 0x60000 : 0x50000;
    struct x86_mem mem = {any_rw, any_w, 0};
    int ok = r == v[i].err;
    if (ok && r == 0) {
      ok = in.len == v[i].len && x86_ea(&cpu, &in) == v[i].ea && x86_emulate(&cpu, &in, &mem) == 0 &&
           cpu.rip == 0x100UL + v[i].len && (in.kind == K_MOVX ? in.srcsize : in.opsize) == v[i].width;
    }
    if (!ok && failures++ < 40)
      printf("emutest: vector %u (%s, mode %d): err %d len %d ea %#lx\n", i, v[i].bytes, v[i].mode, r,
             r ? 0 : in.len, r ? 0UL : (unsigned long)x86_ea(&cpu, &in));
  }
}

// REP STOSW with a 16-bit address size: CX counts, DI wraps at 64 KiB, and
// the upper bits of RCX and RDI stay what they were.
static uint64 seen_la[8];
static int nseen;
static int log_w(void *ctx, uint64 la, const void *buf, int n)
{
  if (nseen < 8)
    seen_la[nseen++] = la;
  return 0;
}
static void string16(void)
{
  static const uint8 b[] = {0xf3, 0xab};
  struct x86_insn in;
  struct x86_cpu cpu = {.rip = 0x100, .mode = 16};
  cpu.gpr[X86_RCX] = 0xABCD0003, cpu.gpr[X86_RDI] = 0x12345FFFEUL;
  cpu.seg_base[X86_ES] = 0x20000;
  struct x86_mem mem = {any_rw, log_w, 0};
  nseen = 0;
  int ok = x86_decode(b, 2, 16, &in) == 0 && x86_emulate(&cpu, &in, &mem) == 0 && nseen == 3 &&
           seen_la[0] == 0x2FFFE && seen_la[1] == 0x20000 && seen_la[2] == 0x20002 &&
           cpu.gpr[X86_RCX] == 0xABCD0000 && cpu.gpr[X86_RDI] == 0x123450004UL && cpu.rip == 0x102;
  if (!ok && failures++ < 40)
    printf("emutest: 16-bit rep stosw: %d writes (first at %#lx), RCX %#lx, RDI %#lx\n", nseen,
           (unsigned long)seen_la[0], (unsigned long)cpu.gpr[X86_RCX], (unsigned long)cpu.gpr[X86_RDI]);
}

int main(int argc, char **argv)
{
  long count = argc > 1 ? atol(argv[1]) : 100000;
  rng ^= argc > 2 ? strtoul(argv[2], NULL, 0) * 0x9E3779B97F4A7C15UL : 0;
  code = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  data = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (code == MAP_FAILED || data == MAP_FAILED)
    return perror("emutest: mmap below 2 GiB"), 2;
  uint64 g = (uint64)data - 0x10000 - rndn(0x10000);
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, g) == 0)
    gsbase = g;
  int nf = nforms();
  long agree = 0, tried = 0;
  for (long i = 0; tried < count; i++) {
    struct form f;
    struct gen gen;
    form_at(&f, i % nf);
    if (!generate(&gen, &f))
      continue;
    tried++;
    agree += compare(&gen, &f);
    truncations(&gen);
  }
  long decoded = random_bytes(count);
  vectors();
  string16();
  printf("emutest: %ld instances of %d forms, %ld agree with the CPU; %ld random byte strings (%ld decoded); "
         "GS segment %s; %ld failures\n", tried, nf, agree, count, decoded, gsbase ? "tested" : "not tested",
         failures);
  return failures ? 1 : 0;
}

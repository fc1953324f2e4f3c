// Decoding one x86 instruction for MMIO emulation: prefixes, opcode, ModRM,
// SIB, displacement, immediate (Intel SDM Vol. 2 ch. 2 "Instruction Format";
// AMD APM Vol. 3 ch. 1 "Instruction Encoding"). See x86emu.h for what is
// covered and why the VMM must decode at all.
#include "x86emu.h"

// The bytes being decoded and where the decoder stands.
struct cursor {
  const uint8 *b;
  int n, pos;
};

// Next byte, or -1 past the end (truncated input) or past 15 bytes.
static int next(struct cursor *c)
{
  if (c->pos >= 15)
    return X86_E_TOOLONG;
  if (c->pos >= c->n)
    return X86_E_TRUNCATED;
  return c->b[c->pos++];
}

// Reads a little-endian value of size bytes, sign-extended when sign.
static int fetch(struct cursor *c, int size, int sign, uint64 *out)
{
  uint64 v = 0;
  for (int i = 0; i < size; i++) {
    int x = next(c);
    if (x < 0)
      return x;
    v |= (uint64)x << (8 * i);
  }
  if (sign && size < 8 && (v >> (8 * size - 1)) & 1)
    v |= ~0UL << (8 * size);
  *out = v;
  return 0;
}

// Legacy prefixes and REX. In 64-bit mode a REX byte counts only directly
// before the opcode (a legacy prefix after it cancels it). Returns the
// opcode byte or an error.
static int prefixes(struct cursor *c, int mode, struct x86_insn *in, int *opsz16, int *adsz)
{
  static const int8 segs[256] = {[0x26] = X86_ES + 1, [0x2E] = X86_CS + 1, [0x36] = X86_SS + 1,
                                 [0x3E] = X86_DS + 1, [0x64] = X86_FS + 1, [0x65] = X86_GS + 1};
  in->seg = -1;
  for (;;) {
    int x = next(c);
    if (x < 0)
      return x;
    if (mode == 64 && (x & 0xF0) == 0x40) {
      in->rex = x;
      continue;
    }
    if (x == 0x66)
      *opsz16 = 1;
    else if (x == 0x67)
      *adsz = 1;
    else if (x == 0xF0)
      in->lock = 1;
    else if (x == 0xF2 || x == 0xF3)
      in->rep = x;
    else if (segs[x])
      in->seg = segs[x] - 1;
    else
      return x;
    in->rex = 0;   // a legacy prefix after REX: the REX is ignored
  }
}

// LAB 7 BEGIN
// Operand and address sizes from the mode and the prefixes (SDM Vol. 1
// §3.6 "Operand-size and Address-size Attributes", Table 3-4).
static int sizes(int mode, struct x86_insn *in, int opsz16, int adsz)
{
  if (mode == 64) {
    in->opsize = (in->rex & 8) ? 8 : opsz16 ? 2 : 4;
    in->adsize = adsz ? 4 : 8;
  } else if (mode == 32) {
    in->opsize = opsz16 ? 2 : 4;
    in->adsize = adsz ? 2 : 4;
  } else {
    in->opsize = opsz16 ? 4 : 2;
    in->adsize = adsz ? 4 : 2;
  }
  return 0;
}

// 16-bit ModRM memory forms (SDM Vol. 2 Table 2-1).
static int modrm16(struct cursor *c, struct x86_insn *in)
{
  static const int8 base[8] = {X86_RBX, X86_RBX, X86_RBP, X86_RBP, -1, -1, X86_RBP, X86_RBX};
  static const int8 index[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, -1, -1};
  in->base16 = base[in->rm & 7];
  in->index16 = index[in->rm & 7];
  uint64 d = 0;
  int r = 0;
  if (in->mod == 0 && (in->rm & 7) == 6) {
    in->base16 = -1;
    in->nobase = 1;
    r = fetch(c, 2, 0, &d);
  } else if (in->mod == 1) {
    r = fetch(c, 1, 1, &d);
  } else if (in->mod == 2) {
    r = fetch(c, 2, 0, &d);
  }
  in->disp = (int64)d;
  return r;
}

// 32/64-bit ModRM memory forms with SIB (SDM Vol. 2 Tables 2-2, 2-3; REX.X
// extends the index, REX.B the base; index 100b without REX.X is "none";
// base 101b with mod 00 is "disp32, no base", whatever REX.B says).
static int modrm32(struct cursor *c, int mode, struct x86_insn *in)
{
  int r;
  uint64 d = 0;
  in->index = 4;
  if ((in->rm & 7) == 4) {
    int sib = next(c);
    if (sib < 0)
      return sib;
    in->has_sib = 1;
    in->scale = sib >> 6;
    in->index = ((sib >> 3) & 7) | ((in->rex & 2) ? 8 : 0);
    in->base = (sib & 7) | ((in->rex & 1) ? 8 : 0);
    if ((sib & 7) == 5 && in->mod == 0)
      in->nobase = 1;
  } else {
    in->base = in->rm;
    if ((in->rm & 7) == 5 && in->mod == 0) {
      in->nobase = 1;
      in->riprel = mode == 64;
    }
  }
  if (in->nobase || in->mod == 2)
    r = fetch(c, 4, 1, &d);
  else if (in->mod == 1)
    r = fetch(c, 1, 1, &d);
  else
    r = 0;
  in->disp = (int64)d;
  return r;
}
// LAB 7 STUB
// // LAB 7: sizes() sets in->opsize and in->adsize from the code segment's mode and the 66/67
// // prefixes and REX.W (SDM Vol. 1 §3.6, Table 3-4). modrm16() and modrm32() read the rest of
// // the memory operand after the ModRM byte (SIB, displacement) and record in *in how to form
// // its address: base, index, scale, disp, riprel, nobase (modrm32) or base16/index16
// // (modrm16). They return 0 or an X86_E_* code; c->pos ends after the displacement.
// static int sizes(int mode, struct x86_insn *in, int opsz16, int adsz)
// {
//   x86_missing("sizes (user/vmm/decode.c)");
// }
//
// static int modrm16(struct cursor *c, struct x86_insn *in)
// {
//   x86_missing("modrm16 (user/vmm/decode.c)");
// }
//
// static int modrm32(struct cursor *c, int mode, struct x86_insn *in)
// {
//   x86_missing("modrm32 (user/vmm/decode.c)");
// }
// LAB 7 END

// The ModRM byte and the memory operand it names.
static int modrm(struct cursor *c, int mode, struct x86_insn *in)
{
  int m = next(c);
  if (m < 0)
    return m;
  in->has_modrm = 1;
  in->mod = m >> 6;
  in->reg = ((m >> 3) & 7) | ((in->rex & 4) ? 8 : 0);
  in->rm = (m & 7) | ((in->rex & 1) ? 8 : 0);
  in->base16 = in->index16 = -1;
  if (in->mod == 3)
    return X86_E_NOMEM;   // a register operand: not an MMIO access
  return in->adsize == 2 ? modrm16(c, in) : modrm32(c, mode, in);
}

// The immediate of a full-size operand: imm16 for 16-bit operands, else
// imm32 (sign-extended to 64 bits for 64-bit operands).
static int imm_full(struct cursor *c, struct x86_insn *in)
{
  return in->opsize == 2 ? fetch(c, 2, 0, &in->imm) : fetch(c, 4, 1, &in->imm);
}

// Two-byte opcodes 0F xx: only MOVZX/MOVSX.
static int decode_0f(struct cursor *c, int mode, struct x86_insn *in)
{
  int op = next(c);
  if (op < 0)
    return op;
  in->twobyte = 1;
  in->op = op;
  if (op != 0xB6 && op != 0xB7 && op != 0xBE && op != 0xBF)
    return X86_E_UNSUPPORTED;
  in->kind = K_MOVX;
  in->srcsize = (op & 1) ? 2 : 1;
  in->sign = op >= 0xBE;
  return modrm(c, mode, in);
}

// Groups F6/F7 (TEST imm, NOT, NEG) and FE/FF (INC, DEC) by ModRM.reg.
static int decode_group3(struct cursor *c, int mode, struct x86_insn *in, int op)
{
  int r = modrm(c, mode, in);
  if (r < 0)
    return r;
  int sub = in->reg & 7;
  if (op == 0xFE || op == 0xFF) {
    if (sub > 1)
      return X86_E_UNSUPPORTED;
    in->kind = K_UNARY;
    in->alu = 8 + sub;   // INC, DEC
    return 0;
  }
  if (sub == 0) {
    in->kind = K_TEST_RM_IMM;
    return in->opsize == 1 ? fetch(c, 1, 0, &in->imm) : imm_full(c, in);
  }
  if (sub != 2 && sub != 3)
    return X86_E_UNSUPPORTED;   // MUL/IMUL/DIV/IDIV (and the undocumented /1)
  in->kind = K_UNARY;
  in->alu = 8 + sub;     // 10 NOT, 11 NEG
  return 0;
}

// ALU forms 00-3B: op = bits 5:3; bit 1 = direction (reg is the destination);
// bit 0 = full size. 04/05-style accumulator forms have no memory operand.
static int decode_alu(struct cursor *c, int mode, struct x86_insn *in, int op)
{
  if ((op & 7) > 3)
    return X86_E_UNSUPPORTED;
  in->alu = (op >> 3) & 7;
  in->kind = (op & 2) ? K_ALU_R_RM : K_ALU_RM_R;
  return modrm(c, mode, in);
}

// Group 1 (80, 81, 83; 82 outside 64-bit mode): ALU op = ModRM.reg, imm.
static int decode_group1(struct cursor *c, int mode, struct x86_insn *in, int op)
{
  int r = modrm(c, mode, in);
  if (r < 0)
    return r;
  in->kind = K_ALU_RM_IMM;
  in->alu = in->reg & 7;
  if (op == 0x81)
    return imm_full(c, in);
  return fetch(c, 1, op == 0x83, &in->imm);
}

// The one-byte opcodes the emulator covers.
static int decode_op(struct cursor *c, int mode, struct x86_insn *in, int op)
{
  in->op = op;
  if (op < 0x40 && (op & 7) < 4)
    return decode_alu(c, mode, in, op);
  switch (op) {
  case 0x63:
    if (mode != 64)
      return X86_E_MODE;   // ARPL outside 64-bit mode
    in->kind = K_MOVX;
    in->srcsize = in->opsize == 8 ? 4 : in->opsize;
    in->sign = 1;
    return modrm(c, mode, in);
  case 0x80: case 0x81: case 0x83: return decode_group1(c, mode, in, op);
  case 0x82: return mode == 64 ? X86_E_MODE : decode_group1(c, mode, in, op);
  case 0x84: case 0x85: in->kind = K_TEST_RM_R; return modrm(c, mode, in);
  case 0x86: case 0x87: in->kind = K_XCHG; return modrm(c, mode, in);
  case 0x88: case 0x89: in->kind = K_MOV_RM_R; return modrm(c, mode, in);
  case 0x8A: case 0x8B: in->kind = K_MOV_R_RM; return modrm(c, mode, in);
  case 0xA0: case 0xA1: case 0xA2: case 0xA3:
    in->kind = op < 0xA2 ? K_MOV_MOFFS_LOAD : K_MOV_MOFFS_STORE;
    in->nobase = 1;
    return fetch(c, in->adsize, 0, &in->moffs);
  case 0xA4: case 0xA5: in->kind = K_MOVS; return 0;
  case 0xA6: case 0xA7: in->kind = K_CMPS; return 0;
  case 0xAA: case 0xAB: in->kind = K_STOS; return 0;
  case 0xAC: case 0xAD: in->kind = K_LODS; return 0;
  case 0xAE: case 0xAF: in->kind = K_SCAS; return 0;
  case 0xC6: case 0xC7: {
    int r = modrm(c, mode, in);
    if (r < 0)
      return r;
    if (in->reg & 7)
      return X86_E_UNSUPPORTED;   // XABORT/XBEGIN live here too
    in->kind = K_MOV_RM_IMM;
    return op == 0xC6 ? fetch(c, 1, 0, &in->imm) : imm_full(c, in);
  }
  case 0xF6: case 0xF7: case 0xFE: case 0xFF: return decode_group3(c, mode, in, op);
  default: return X86_E_UNSUPPORTED;
  }
}

// LOCK is legal only on read-modify-write instructions with a memory
// destination (SDM Vol. 2 "LOCK"): not on MOV, CMP, TEST, string moves.
static int lock_ok(const struct x86_insn *in)
{
  switch (in->kind) {
  case K_ALU_RM_R:
  case K_ALU_RM_IMM: return in->alu != 7;
  case K_UNARY:
  case K_XCHG: return 1;
  default: return 0;
  }
}

// Decodes the instruction in bytes[0..n) for a code segment of the given
// mode (16, 32, 64). 0 with *in filled, or a negative X86_E_* code.
int x86_decode(const uint8 *bytes, int n, int mode, struct x86_insn *in)
{
  struct cursor c = {bytes, n, 0};
  int opsz16 = 0, adsz = 0;
  __builtin_memset(in, 0, sizeof *in);
  int op = prefixes(&c, mode, in, &opsz16, &adsz);
  if (op < 0)
    return op;
  int r = sizes(mode, in, opsz16, adsz);
  if (r < 0)
    return r;
  if (op == 0x0F) {
    r = decode_0f(&c, mode, in);
  } else {
    // Even opcodes of these pairs take byte operands.
    int bytewise = (op < 0x40 && !(op & 1)) || op == 0x80 || op == 0x82 || op == 0x84 || op == 0x86 ||
                   op == 0x88 || op == 0x8A || op == 0xA0 || op == 0xA2 || op == 0xA4 || op == 0xA6 ||
                   op == 0xAA || op == 0xAC || op == 0xAE || op == 0xC6 || op == 0xF6 || op == 0xFE;
    if (bytewise)
      in->opsize = 1;
    r = decode_op(&c, mode, in, op);
  }
  if (r < 0)
    return r;
  if (in->lock && !lock_ok(in))
    return X86_E_LOCK;
  in->len = c.pos;
  return 0;
}

const char *x86_error(int err)
{
  switch (err) {
  case X86_E_TRUNCATED: return "instruction truncated";
  case X86_E_UNSUPPORTED: return "instruction not emulated";
  case X86_E_TOOLONG: return "instruction longer than 15 bytes";
  case X86_E_NOMEM: return "no memory operand";
  case X86_E_LOCK: return "LOCK prefix not allowed here";
  case X86_E_FAULT: return "memory access refused";
  case X86_E_MODE: return "encoding invalid in this mode";
  default: return "unknown error";
  }
}

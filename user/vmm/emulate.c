// Carrying out a decoded instruction (decode.c) on the guest's registers and
// memory: effective address, operand widths, flags, string iterations. Every
// memory access goes through the x86_mem callbacks as one access of the
// operand's width, so that a device register sees what the guest wrote.
#include "x86emu.h"

// A string instruction does at most this many iterations per emulation; the
// rest happens when the guest re-executes it (RIP stays, rCX/rSI/rDI moved),
// as a CPU that takes an interrupt in the middle of a REP does (SDM Vol. 2
// "REP"). A guest with RCX = 2^64 cannot keep the VMM in one loop.
#define REP_CHUNK 4096

static uint64 mask_of(int size) { return size >= 8 ? ~0UL : (1UL << (8 * size)) - 1; }

// LAB 7 BEGIN
// Register operand of width size. Without REX, byte registers 4-7 are AH, CH,
// DH, BH (bits 15:8 of registers 0-3); with any REX they are SPL..DIL.
static uint64 get_reg(const struct x86_cpu *cpu, const struct x86_insn *in, int r, int size)
{
  if (size == 1 && !in->rex && r >= 4 && r < 8)
    return (cpu->gpr[r - 4] >> 8) & 0xFF;
  return cpu->gpr[r] & mask_of(size);
}

// Writes a register operand: 8/16-bit writes keep the other bits, a 32-bit
// write zero-extends into the 64-bit register (SDM Vol. 1 §3.4.1.1).
static void set_reg(struct x86_cpu *cpu, const struct x86_insn *in, int r, int size, uint64 v)
{
  if (size == 1 && !in->rex && r >= 4 && r < 8) {
    cpu->gpr[r - 4] = (cpu->gpr[r - 4] & ~0xFF00UL) | ((v & 0xFF) << 8);
    return;
  }
  if (size >= 4)
    cpu->gpr[r] = v & mask_of(size);
  else
    cpu->gpr[r] = (cpu->gpr[r] & ~mask_of(size)) | (v & mask_of(size));
}

// Segment base for an access through segment s: in 64-bit mode only FS and
// GS have one (APM Vol. 2 §4.12.2 "64-Bit Mode Segmentation" ... "Data-segment
// base addresses are treated as 0", except FS/GS).
static uint64 seg_base(const struct x86_cpu *cpu, int s)
{
  if (cpu->mode == 64 && s != X86_FS && s != X86_GS)
    return 0;
  return cpu->seg_base[s];
}

// Linear address of seg:offset, offset already wrapped to the address size.
static uint64 linear(const struct x86_cpu *cpu, int s, uint64 off)
{
  uint64 la = seg_base(cpu, s) + off;
  return cpu->mode == 64 ? la : (uint32)la;
}

// The effective address (offset) of the ModRM/moffs operand, wrapped to the
// address size, and its default segment (SS for rBP/rSP bases, else DS).
static uint64 offset_of(const struct x86_cpu *cpu, const struct x86_insn *in, int *defseg)
{
  uint64 ea = (uint64)in->disp;
  *defseg = X86_DS;
  if (in->kind == K_MOV_MOFFS_LOAD || in->kind == K_MOV_MOFFS_STORE) {
    ea = in->moffs;
  } else if (in->adsize == 2) {
    if (in->base16 >= 0)
      ea += cpu->gpr[in->base16];
    if (in->index16 >= 0)
      ea += cpu->gpr[in->index16];
    if (in->base16 == X86_RBP)
      *defseg = X86_SS;
  } else if (in->riprel) {
    ea += cpu->rip + in->len;
  } else {
    if (!in->nobase) {
      ea += cpu->gpr[in->base];
      if (in->base == X86_RSP || in->base == X86_RBP)
        *defseg = X86_SS;
    }
    if (in->has_sib && in->index != 4)
      ea += cpu->gpr[in->index] << in->scale;
  }
  return ea & mask_of(in->adsize);
}
// LAB 7 STUB
// // LAB 7: get_reg()/set_reg() read and write a register operand of 1, 2, 4 or 8 bytes with the
// // architecture's rules for byte registers and for the upper bits of a write (SDM Vol. 1
// // §3.4.1.1); offset_of() computes the memory operand's effective address from what the
// // decoder recorded, wrapped to the address size, and reports its default segment;
// // linear() adds the segment base that applies in this mode (APM Vol. 2 §4.12.2).
// static uint64 get_reg(const struct x86_cpu *cpu, const struct x86_insn *in, int r, int size)
// {
//   x86_missing("get_reg (user/vmm/emulate.c)");
// }
//
// static void set_reg(struct x86_cpu *cpu, const struct x86_insn *in, int r, int size, uint64 v)
// {
//   x86_missing("set_reg (user/vmm/emulate.c)");
// }
//
// static uint64 linear(const struct x86_cpu *cpu, int s, uint64 off)
// {
//   x86_missing("linear (user/vmm/emulate.c)");
// }
//
// static uint64 offset_of(const struct x86_cpu *cpu, const struct x86_insn *in, int *defseg)
// {
//   x86_missing("offset_of (user/vmm/emulate.c)");
// }
// LAB 7 END

uint64 x86_ea(const struct x86_cpu *cpu, const struct x86_insn *in)
{
  int defseg;
  uint64 off = offset_of(cpu, in, &defseg);
  return linear(cpu, in->seg >= 0 ? in->seg : defseg, off);
}

static int rd(const struct x86_mem *m, uint64 la, int size, uint64 *v)
{
  *v = 0;
  return m->read(m->ctx, la, v, size) < 0 ? X86_E_FAULT : 0;
}

static int wr(const struct x86_mem *m, uint64 la, int size, uint64 v)
{
  return m->write(m->ctx, la, &v, size) < 0 ? X86_E_FAULT : 0;
}

static uint64 sext(uint64 v, int size)
{
  return size >= 8 || !((v >> (8 * size - 1)) & 1) ? v : v | ~mask_of(size);
}

// Read-modify-write forms: ALU r/m,r  ALU r/m,imm  TEST  unary  XCHG.
static int rmw(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m, uint64 la)
{
  int sz = in->opsize, r;
  uint64 mem, res;
  if ((r = rd(m, la, sz, &mem)) < 0)
    return r;
  switch (in->kind) {
  case K_ALU_RM_R:
    res = x86_alu(in->alu, sz, mem, get_reg(cpu, in, in->reg, sz), &cpu->rflags);
    return in->alu == 7 ? 0 : wr(m, la, sz, res);
  case K_ALU_RM_IMM:
    res = x86_alu(in->alu, sz, mem, in->imm & mask_of(sz), &cpu->rflags);
    return in->alu == 7 ? 0 : wr(m, la, sz, res);
  case K_TEST_RM_R:
    x86_alu(12, sz, mem, get_reg(cpu, in, in->reg, sz), &cpu->rflags);
    return 0;
  case K_TEST_RM_IMM:
    x86_alu(12, sz, mem, in->imm & mask_of(sz), &cpu->rflags);
    return 0;
  case K_UNARY:
    return wr(m, la, sz, x86_alu(in->alu, sz, mem, 0, &cpu->rflags));
  case K_XCHG:
    if ((r = wr(m, la, sz, get_reg(cpu, in, in->reg, sz))) < 0)
      return r;
    set_reg(cpu, in, in->reg, sz, mem);
    return 0;
  default:
    return X86_E_UNSUPPORTED;
  }
}

// Forms whose only memory access is one read or one write.
static int simple(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m, uint64 la)
{
  int sz = in->opsize, r;
  uint64 v;
  switch (in->kind) {
  case K_MOV_RM_R: return wr(m, la, sz, get_reg(cpu, in, in->reg, sz));
  case K_MOV_RM_IMM: return wr(m, la, sz, in->imm);
  case K_MOV_MOFFS_STORE: return wr(m, la, sz, get_reg(cpu, in, X86_RAX, sz));
  case K_MOV_R_RM:
  case K_MOV_MOFFS_LOAD:
    if ((r = rd(m, la, sz, &v)) < 0)
      return r;
    set_reg(cpu, in, in->kind == K_MOV_R_RM ? in->reg : X86_RAX, sz, v);
    return 0;
  case K_MOVX:
    if ((r = rd(m, la, in->srcsize, &v)) < 0)
      return r;
    set_reg(cpu, in, in->reg, sz, in->sign ? sext(v, in->srcsize) : v);
    return 0;
  case K_ALU_R_RM:
    if ((r = rd(m, la, sz, &v)) < 0)
      return r;
    v = x86_alu(in->alu, sz, get_reg(cpu, in, in->reg, sz), v, &cpu->rflags);
    if (in->alu != 7)
      set_reg(cpu, in, in->reg, sz, v);
    return 0;
  default:
    return rmw(cpu, in, m, la);
  }
}

// LAB 7 BEGIN
// Adds delta to the low adsize bytes of a register (rSI, rDI, rCX), as the
// string instructions do: a 32-bit address size zero-extends, 16 keeps the rest.
static void step_reg(struct x86_cpu *cpu, int r, int adsize, int64 delta)
{
  uint64 v = (cpu->gpr[r] + (uint64)delta) & mask_of(adsize);
  cpu->gpr[r] = adsize == 2 ? (cpu->gpr[r] & ~0xFFFFUL) | v : v;
}

// Whether a REPE (F3) or REPNE (F2) CMPS/SCAS stops after this element: F3
// while equal (stops on ZF = 0), F2 while unequal (stops on ZF = 1). The
// other string instructions repeat on either prefix until rCX is 0 (SDM
// Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ", Table 4-13).
static int rep_stops(const struct x86_insn *in, uint64 rflags)
{
  if (in->kind != K_CMPS && in->kind != K_SCAS)
    return 0;
  int zf = (rflags & X86_FL_ZF) != 0;
  return in->rep == 0xF3 ? !zf : zf;
}

static int uses_rsi(const struct x86_insn *in) { return in->kind == K_MOVS || in->kind == K_CMPS || in->kind == K_LODS; }
static int uses_rdi(const struct x86_insn *in) { return in->kind != K_LODS; }

// One element: the source [seg:rSI] (DS unless overridden), the destination
// ES:rDI (no override applies, SDM "STOS", "CMPS"), flags as CMP computes
// them, source minus destination for CMPS and rAX minus [ES:rDI] for SCAS;
// then rSI/rDI step by the direction flag.
static int string_once(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m, int64 step)
{
  int sz = in->opsize, r = 0;
  uint64 amask = mask_of(in->adsize), src = 0, dst;
  uint64 sla = linear(cpu, in->seg >= 0 ? in->seg : X86_DS, cpu->gpr[X86_RSI] & amask);
  uint64 dla = linear(cpu, X86_ES, cpu->gpr[X86_RDI] & amask);
  if (uses_rsi(in) && (r = rd(m, sla, sz, &src)) < 0)
    return r;
  switch (in->kind) {
  case K_STOS: r = wr(m, dla, sz, get_reg(cpu, in, X86_RAX, sz)); break;
  case K_MOVS: r = wr(m, dla, sz, src); break;
  case K_LODS: set_reg(cpu, in, X86_RAX, sz, src); break;
  case K_CMPS:
    if ((r = rd(m, dla, sz, &dst)) == 0)
      x86_alu(7, sz, src, dst, &cpu->rflags);
    break;
  default:   // K_SCAS
    if ((r = rd(m, dla, sz, &dst)) == 0)
      x86_alu(7, sz, get_reg(cpu, in, X86_RAX, sz), dst, &cpu->rflags);
    break;
  }
  if (r < 0)
    return r;
  if (uses_rsi(in))
    step_reg(cpu, X86_RSI, in->adsize, step);
  if (uses_rdi(in))
    step_reg(cpu, X86_RDI, in->adsize, step);
  return 0;
}

// A string instruction, with or without a repeat prefix: up to REP_CHUNK
// elements now; returns 1 when the instruction is finished, 0 when the
// guest must execute it again, or an error. A count of 0 does nothing (not
// even flags).
static int string_op(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m)
{
  int sz = in->opsize, r;
  int64 step = (cpu->rflags & X86_FL_DF) ? -sz : sz;
  uint64 left = in->rep ? cpu->gpr[X86_RCX] & mask_of(in->adsize) : 1;
  // A 32-bit address size writes ECX/ESI/EDI, zero-extending them, once an
  // element is done. With a count of 0 an AMD CPU writes nothing (measured
  // on an EPYC by tools/emutest), an Intel one still zero-extends for MOVS
  // and STOS (x86emu.h).
  if (in->adsize == 4 && cpu->intel && left == 0 && (in->kind == K_MOVS || in->kind == K_STOS)) {
    step_reg(cpu, X86_RDI, 4, 0);
    if (in->kind == K_MOVS)
      step_reg(cpu, X86_RSI, 4, 0);
    step_reg(cpu, X86_RCX, 4, 0);
  }
  for (int i = 0; left > 0; i++, left--) {
    if (i == REP_CHUNK)
      return 0;
    if ((r = string_once(cpu, in, m, step)) < 0)
      return r;
    if (in->rep) {
      step_reg(cpu, X86_RCX, in->adsize, -1);
      if (rep_stops(in, cpu->rflags))
        return 1;
    }
  }
  return 1;
}
// LAB 7 STUB
// // LAB 7: string_op() carries out MOVS, STOS, LODS, CMPS or SCAS, with or without a repeat
// // prefix: one access of the operand size per operand and element through m, rSI/rDI stepped
// // by the direction flag, rCX counted down, each register changed only in its address-size
// // bits, flags of CMPS/SCAS as CMP sets them, and REPE/REPNE ending CMPS/SCAS on ZF (SDM
// // Vol. 2 "MOVS", "STOS", "LODS", "CMPS", "SCAS", "REP/REPE/REPZ/REPNE/REPNZ"); at most
// // REP_CHUNK elements per call; a count of 0 with a 32-bit address size as cpu->intel says
// // (x86emu.h). Returns 1 when the instruction is done, 0 when the guest must run it again, or
// // an X86_E_* code.
// static int string_op(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m)
// {
//   x86_missing("string_op (user/vmm/emulate.c)");
// }
// LAB 7 END

// Emulates in at cpu->rip. 0 on success, RIP past the instruction (or still
// on an unfinished REP string instruction); X86_E_* on failure, with the
// state as far as the instruction got (a faulting access stops it).
int x86_emulate(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *m)
{
  int r, done = 1;
  if (in->kind == K_STOS || in->kind == K_MOVS || in->kind == K_LODS || in->kind == K_CMPS ||
      in->kind == K_SCAS) {
    if ((r = string_op(cpu, in, m)) < 0)
      return r;
    done = r;
  } else if ((r = simple(cpu, in, m, x86_ea(cpu, in))) < 0) {
    return r;
  }
  if (done) {
    cpu->rip += in->len;
    if (cpu->mode != 64)
      cpu->rip &= cpu->mode == 32 ? 0xFFFFFFFFUL : 0xFFFFUL;
  }
  return 0;
}

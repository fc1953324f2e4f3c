// The emulator's ALU: each operation runs on the host CPU with the guest's
// arithmetic flags loaded, so that the flags come out exactly as the CPU
// sets them, the undefined ones included (KVM's emulate.c does the same with
// its "fastop" stubs). Only CF/PF/AF/ZF/SF/OF go in and come out: the guest's
// TF, IF, DF or AC never reach the host's EFLAGS.
//
// Needs -mno-red-zone (the asm pushes below the stack pointer), as every
// svmlab program is built; tools/emutest builds it that way too.
#include "x86emu.h"

// One two-operand instruction in its four widths: d = d OP s.
#define BINARY(mn)                                                                            \
  switch (size) {                                                                             \
  case 1: asm volatile("push %[f]; popf; " mn "b %b[s], %b[d]; pushf; pop %[f]"              \
                       : [d] "+r"(d), [f] "+r"(f) : [s] "r"(s) : "cc", "memory"); break;   \
  case 2: asm volatile("push %[f]; popf; " mn "w %w[s], %w[d]; pushf; pop %[f]"              \
                       : [d] "+r"(d), [f] "+r"(f) : [s] "r"(s) : "cc", "memory"); break;   \
  case 4: asm volatile("push %[f]; popf; " mn "l %k[s], %k[d]; pushf; pop %[f]"              \
                       : [d] "+r"(d), [f] "+r"(f) : [s] "r"(s) : "cc", "memory"); break;   \
  default: asm volatile("push %[f]; popf; " mn "q %q[s], %q[d]; pushf; pop %[f]"             \
                        : [d] "+r"(d), [f] "+r"(f) : [s] "r"(s) : "cc", "memory"); break;  \
  }

// One single-operand instruction in its four widths: d = OP d.
#define UNARY(mn)                                                                             \
  switch (size) {                                                                             \
  case 1: asm volatile("push %[f]; popf; " mn "b %b[d]; pushf; pop %[f]"                     \
                       : [d] "+r"(d), [f] "+r"(f) : : "cc", "memory"); break;               \
  case 2: asm volatile("push %[f]; popf; " mn "w %w[d]; pushf; pop %[f]"                     \
                       : [d] "+r"(d), [f] "+r"(f) : : "cc", "memory"); break;               \
  case 4: asm volatile("push %[f]; popf; " mn "l %k[d]; pushf; pop %[f]"                     \
                       : [d] "+r"(d), [f] "+r"(f) : : "cc", "memory"); break;               \
  default: asm volatile("push %[f]; popf; " mn "q %q[d]; pushf; pop %[f]"                    \
                        : [d] "+r"(d), [f] "+r"(f) : : "cc", "memory"); break;              \
  }

// op: 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP (the group-1
// order of ModRM.reg), 8 INC, 9 DEC, 10 NOT, 11 NEG, 12 TEST. Returns the
// result (CMP and TEST: dst unchanged) and updates the arithmetic flags in
// *rflags. The result of a 32-bit operation is zero-extended, as in a
// register; narrower results keep only their width.
uint64 x86_alu(int op, int size, uint64 dst, uint64 src, uint64 *rflags)
{
  uint64 d = dst, s = src, f = (*rflags & X86_FL_ARITH) | 2;   // bit 1 always reads 1
  switch (op) {
  case 0: BINARY("add") break;
  case 1: BINARY("or") break;
  case 2: BINARY("adc") break;
  case 3: BINARY("sbb") break;
  case 4: BINARY("and") break;
  case 5: BINARY("sub") break;
  case 6: BINARY("xor") break;
  case 7: BINARY("cmp") break;
  case 8: UNARY("inc") break;
  case 9: UNARY("dec") break;
  case 10: UNARY("not") break;
  case 11: UNARY("neg") break;
  case 12: BINARY("test") break;
  default: return dst;
  }
  *rflags = (*rflags & ~(uint64)X86_FL_ARITH) | (f & X86_FL_ARITH);
  if (size < 8)
    d &= (1UL << (8 * size)) - 1;
  return d;
}

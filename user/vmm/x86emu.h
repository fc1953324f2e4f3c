// x86 instruction decoding and emulation for MMIO exits (issue 13, lab 7).
//
// QEMU's SVM has neither decode assists nor NRIPS: a guest access to an
// emulated device's page reaches the VMM as a nested page fault carrying only
// the guest-physical address (APM Vol. 2 §15.25.6 "Nested versus Guest Page
// Faults, Fault Ordering"). The VMM must fetch the instruction at the guest's
// RIP, decode it and carry out its memory access itself, as KVM does in
// arch/x86/kvm/emulate.c (x86_decode_insn, x86_emulate_insn).
//
// Covered (the accesses compilers emit for device registers): MOV in 8/16/32/
// 64 bits (88-8B, C6/C7, A0-A3), MOVZX/MOVSX (0F B6/B7/BE/BF), MOVSXD (63),
// the string instructions MOVS, STOS, LODS, CMPS and SCAS with REP, REPE and
// REPNE, ADD/OR/ADC/SBB/AND/SUB/XOR/CMP with a memory operand
// (00-3B, 80/81/83), TEST (84/85, F6/F7 /0), NOT/NEG (F6/F7 /2 /3),
// INC/DEC (FE/FF /0 /1), XCHG (86/87); prefixes 66, 67, F2, F3, F0 (LOCK),
// the six segment overrides and REX. Anything else is refused by name
// (X86_E_UNSUPPORTED), never guessed.
//
// This file and decode.c/emulate.c depend on nothing but kern/types.h, so
// the same code runs in the VMM and in tools/emutest (a differential test on
// the build machine that runs every instance natively too).
#pragma once
#include "../../kern/types.h"

// General registers in the encoding's order (ModRM reg/rm, REX.R/B extend).
enum {
  X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
  X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
};
// Segment registers in the encoding's order (sreg field of 8C/8E).
enum { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS, X86_NSEG };

// Arithmetic flags the emulated instructions write (EFLAGS bits 0, 2, 4, 6, 7, 11).
#define X86_FL_CF 0x001
#define X86_FL_PF 0x004
#define X86_FL_AF 0x010
#define X86_FL_ZF 0x040
#define X86_FL_SF 0x080
#define X86_FL_DF 0x400
#define X86_FL_OF 0x800
#define X86_FL_ARITH (X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_OF)

// The guest CPU state the emulator reads and changes.
struct x86_cpu {
  uint64 gpr[16];
  uint64 rip, rflags;
  uint64 seg_base[X86_NSEG];
  int mode;             // 16, 32 or 64: the code segment's default size (CS.D, CS.L)
  int intel;            // Intel's REP quirk: with a 32-bit address size and ECX = 0, REP MOVS/STOS
                        // still zero-extend RCX, RSI, RDI (KVM's string_registers_quirk); AMD
                        // CPUs, and QEMU, leave them. 0 in the VMM: its guests run on AMD SVM.
};

// Memory as the emulator sees it: linear addresses (segment base already
// added); the callbacks translate through the guest's paging and dispatch to
// RAM or a device. Each call is one access of n bytes (1, 2, 4 or 8), so a
// device sees the access width the instruction made. Return 0, or -1 when
// the access faults or no device answers: emulation stops there.
struct x86_mem {
  int (*read)(void *ctx, uint64 la, void *buf, int n);
  int (*write)(void *ctx, uint64 la, const void *buf, int n);
  void *ctx;
};

// Operand kinds the decoder records.
enum x86_kind { K_NONE, K_MOV_RM_R, K_MOV_R_RM, K_MOV_RM_IMM, K_MOV_MOFFS_LOAD, K_MOV_MOFFS_STORE,
                K_MOVX, K_STOS, K_MOVS, K_ALU_RM_R, K_ALU_R_RM, K_ALU_RM_IMM, K_TEST_RM_R,
                K_TEST_RM_IMM, K_UNARY, K_XCHG, K_LODS, K_CMPS, K_SCAS };

// One decoded instruction.
struct x86_insn {
  uint8 len;            // bytes, 1..15
  uint8 opsize;         // operand size: 1, 2, 4 or 8
  uint8 adsize;         // address size: 2, 4 or 8
  uint8 rep;            // F3 (REP) or F2 (REPNE) seen: 0xF3, 0xF2 or 0
  uint8 lock;           // F0 seen
  int8 seg;             // segment override X86_ES.., or -1
  uint8 rex;            // the REX byte (0x40..0x4F) or 0
  uint8 op;             // the opcode byte (after 0F for two-byte opcodes)
  uint8 twobyte;        // 1 for 0F xx
  enum x86_kind kind;
  uint8 alu;            // ALU operation 0..7 (ADD OR ADC SBB AND SUB XOR CMP), or unary 2/3 NOT/NEG, 8/9 INC/DEC
  uint8 srcsize;        // MOVZX/MOVSX/MOVSXD: size of the memory operand
  uint8 sign;           // MOVSX/MOVSXD: sign-extend
  // ModRM operands
  uint8 has_modrm, mod, reg, rm;   // reg and rm include REX.R / REX.B
  uint8 has_sib, scale, index, base; // index 4 (no REX.X) = none; base per SIB
  uint8 riprel;         // mod=00 rm=101 in 64-bit mode: [RIP + disp32]
  uint8 nobase;         // no base register (disp-only forms)
  int8 base16, index16; // 16-bit addressing: registers, -1 if absent
  int64 disp;
  uint64 imm;           // immediate, already sign-extended to the operand size where the ISA does
  uint64 moffs;         // A0-A3: the absolute offset
};

// Errors (negative).
#define X86_E_TRUNCATED -1    // the bytes ended inside the instruction
#define X86_E_UNSUPPORTED -2  // an opcode or form the emulator does not cover
#define X86_E_TOOLONG -3      // more than 15 bytes (#GP on a CPU)
#define X86_E_NOMEM -4        // a register operand where memory is required (no MMIO access)
#define X86_E_LOCK -5         // LOCK on an instruction that does not allow it (#UD on a CPU)
#define X86_E_FAULT -6        // a memory callback refused an access
#define X86_E_MODE -7         // an encoding invalid in this mode (e.g. MOVSXD outside 64-bit)

// Called by the unwritten parts of lab 7 (stubs): says so and ends the
// program. The VMM (mmio.c) and tools/emutest each define it.
void x86_missing(const char *what) __attribute__((noreturn));

// decode.c
int x86_decode(const uint8 *bytes, int n, int mode, struct x86_insn *in);
const char *x86_error(int err);
// emulate.c: carries out in at cpu->rip; on success RIP moves past it.
int x86_emulate(struct x86_cpu *cpu, const struct x86_insn *in, const struct x86_mem *mem);
uint64 x86_ea(const struct x86_cpu *cpu, const struct x86_insn *in);   // linear address of the memory operand
// alu.c: the CPU's own ALU for flags, as KVM's fastop does.
uint64 x86_alu(int op, int size, uint64 dst, uint64 src, uint64 *rflags);

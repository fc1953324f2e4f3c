// Random instances of the instructions the VMM's emulator covers
// (user/fuzz/x86gen.c): for tools/emutest and user/mmiodiff.c. Handouts of
// labs <= 7 carry the generator compiled (user/fuzz/libx86gen-*.a): its
// source encodes what the lab 7 decoder must work out.
#pragma once
#include "../vmm/x86emu.h"

struct x86gen_regs {   // tools/emutest/native.S depends on this layout
  uint64 gpr[16];
  uint64 rflags;
};

struct x86gen_env {
  uint64 code;         // where the instruction will run (RIP-relative forms): a linear address
  uint64 data;         // the (linear) page its memory operand must land on
  uint64 gsbase;       // 64-bit mode: a GS base to test GS overrides with, or 0: none
  uint64 (*rnd)(void); // the caller's random numbers
  uint64 fsbase;       // 64-bit mode: the same for FS, or 0: none
  int mode;            // the code segment's size: 64 (or 0), 32 or 16 (protected mode)
  uint64 csbase;       // modes 32 and 16: the code segment's base, chosen by the caller
};

struct x86gen {
  uint8 b[32];
  int len;
  int opsize, adsize, width;   // width: the memory access size expected
  struct x86gen_regs r;        // registers and flags to start with
  int gs;                      // a GS override is used
  int fs;                      // an FS override is used (64-bit mode)
  int seg;                     // the segment of the memory operand (X86_ES ..; the source for strings)
  int override;                // ... named by a prefix, or -1 (the instruction's default)
  int wrap16;                  // a 16-bit effective address that wrapped at 64 KiB
  uint64 segbase[X86_NSEG];    // modes 32 and 16: the segment bases the instance needs
  int string;                  // MOVS/STOS/LODS/CMPS/SCAS (RSI/RDI/RCX move)
  uint8 fill;                  // string forms: fill the page with this byte (x86gen_fill), or 0
  int stray_rex;               // a REX before a legacy prefix (the CPU ignores it)
};

int x86gen_nforms(void);
int x86gen_generate(const struct x86gen_env *env, int form, struct x86gen *g);
void x86gen_fill(const struct x86gen *g, uint8 *page, uint64 (*random)(void));   // the page before a run

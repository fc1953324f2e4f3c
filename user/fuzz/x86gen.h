// Random instances of the instructions the VMM's emulator covers
// (user/fuzz/x86gen.c): for tools/emutest and user/mmiodiff.c.
#pragma once
#include "../vmm/x86emu.h"

struct x86gen_regs {   // tools/emutest/native.S depends on this layout
  uint64 gpr[16];
  uint64 rflags;
};

struct x86gen_env {
  uint64 code;         // where the instruction will run (RIP-relative forms)
  uint64 data;         // the page its memory operand must land on
  uint64 gsbase;       // a GS base to test GS overrides with, or 0: none
  uint64 (*rnd)(void); // the caller's random numbers
};

struct x86gen {
  uint8 b[32];
  int len;
  int opsize, adsize, width;   // width: the memory access size expected
  struct x86gen_regs r;        // registers and flags to start with
  int gs;                      // a GS override is used
  int string;                  // MOVS/STOS/LODS/CMPS/SCAS (RSI/RDI/RCX move)
  uint8 fill;                  // string forms: fill the page with this byte (x86gen_fill), or 0
  int stray_rex;               // a REX before a legacy prefix (the CPU ignores it)
};

int x86gen_nforms(void);
int x86gen_generate(const struct x86gen_env *env, int form, struct x86gen *g);
void x86gen_fill(const struct x86gen *g, uint8 *page, uint64 (*random)(void));   // the page before a run

# The 256 interrupt entry points and the table trap.c loads into the IDT.
#
# Each stub makes the stack look the same whatever the vector: vectors
# without a CPU error code push a 0 in its place, then every stub pushes its
# vector number and jumps to alltraps (trapasm.S), which builds the rest of
# struct trapframe (kern/trap.h). Vectors with an error code are listed in
# APM Vol. 2 §8.2 "Vectors" (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX).
#
#   stack on entry to alltraps       (high addresses first)
#     ss, rsp, rflags, cs, rip         pushed by the CPU
#     err                              by the CPU, or 0 by the stub
#     trapno                           by the stub      <- %rsp
#include "trap.h"

.macro vector n
  .balign 16
vector\n:
  .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
  .else
    pushq $0
  .endif
  pushq $\n
  jmp alltraps
.endm

.text
.globl vector_stubs
vector_stubs:
.altmacro
.set i, 0
.rept 256
  vector %i
  .set i, i + 1
.endr
.noaltmacro

.section .rodata
.balign 8
.globl vectors
vectors:
.set i, 0
.rept 256
  .quad vector_stubs + 16 * i
  .set i, i + 1
.endr

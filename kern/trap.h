// The trap frame: what a trap, an interrupt or a SYSCALL leaves on the
// kernel stack, in this order (lowest address first). vectors.S/trapasm.S and
// the SYSCALL entry build the same frame, so fork() can copy it and either
// IRETQ or SYSRETQ can return through it.
#pragma once
#include "types.h"

struct trapframe {
  uint64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
  uint64 r8, r9, r10, r11, r12, r13, r14, r15;
  uint64 trapno;   // vector; T_SYSCALL for the SYSCALL instruction
  uint64 err;      // error code, or 0
  uint64 rip, cs, rflags, rsp, ss;   // as pushed by the CPU
};

// Vectors.
#define T_DE 0
#define T_DB 1
#define T_NMI 2
#define T_BP 3
#define T_UD 6
#define T_DF 8
#define T_GP 13
#define T_PF 14
#define T_IRQ0 32          // IRQ n arrives at T_IRQ0 + n
#define IRQ_TIMER 0
#define IRQ_COM1 4
#define T_SYSCALL 64       // recorded in trapno by the SYSCALL entry
#define T_SPURIOUS 255

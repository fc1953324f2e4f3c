// The trap frame: what a trap, an interrupt or a SYSCALL leaves on the
// kernel stack, in this order (lowest address first). vectors.S/trapasm.S and
// the SYSCALL entry build the same frame, so fork() can copy it and either
// IRETQ or SYSRETQ can return through it.
#pragma once

// Vectors.
#define T_DE 0
#define T_DB 1
#define T_NMI 2
#define T_BP 3
#define T_UD 6
#define T_NM 7            // device not available: CR0.TS (kern/svm/fpu.c)
#define T_DF 8
#define T_GP 13
#define T_PF 14
#define T_MC 18
#define T_IRQ0 32          // IRQ n arrives at T_IRQ0 + n
#define IRQ_TIMER 0        // the local APIC timer uses T_IRQ0 + IRQ_TIMER
#define IRQ_COM1 4
#define T_SYSCALL 64       // recorded in trapno by the SYSCALL entry
#define T_IPI_CALL 0xF0    // smp_call's IPI
#define T_IPI_KICK 0xF1    // vcpu_kick: makes a running guest exit (kern/svm/halt.c)
#define T_IPI_REEXIT 0xF2  // self-IPI: an exit right after an injected interrupt (kern/svm/irq.c)
#define T_IPI_WAKE 0xF3    // an idle CPU's scheduler has a process to run (kern/proc.c)
#define T_SPURIOUS 255     // local APIC spurious vector

// IST slots in the TSS (1-based as in the IDT gate; APM Vol. 2 §8.9).
#define IST_DF 1
#define IST_NMI 2
#define IST_MC 3

#define TF_SIZE (22 * 8)   // sizeof(struct trapframe), for assembly
#define TF_RCX (2 * 8)     // offsetof(struct trapframe, rcx)
#define TF_R11 (10 * 8)
#define TF_RIP (17 * 8)
#define TF_CS (18 * 8)
#define TF_RFLAGS (19 * 8)

#ifdef __ASSEMBLER__
// PUSH_REGS / POP_REGS: the general registers of struct trapframe, below
// trapno; rax ends up at the lowest address. trapasm.S and syscallentry.S
// share them so both entries build the same frame.
.macro PUSH_REGS
  pushq %r15
  pushq %r14
  pushq %r13
  pushq %r12
  pushq %r11
  pushq %r10
  pushq %r9
  pushq %r8
  pushq %rbp
  pushq %rdi
  pushq %rsi
  pushq %rdx
  pushq %rcx
  pushq %rbx
  pushq %rax
.endm

.macro POP_REGS
  popq %rax
  popq %rbx
  popq %rcx
  popq %rdx
  popq %rsi
  popq %rdi
  popq %rbp
  popq %r8
  popq %r9
  popq %r10
  popq %r11
  popq %r12
  popq %r13
  popq %r14
  popq %r15
.endm
#endif

#ifndef __ASSEMBLER__
#include "types.h"

struct trapframe {
  uint64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
  uint64 r8, r9, r10, r11, r12, r13, r14, r15;
  uint64 trapno;   // vector; T_SYSCALL for the SYSCALL instruction
  uint64 err;      // error code, or 0
  uint64 rip, cs, rflags, rsp, ss;   // as pushed by the CPU
};
_Static_assert(sizeof(struct trapframe) == TF_SIZE, "TF_SIZE");
_Static_assert(__builtin_offsetof(struct trapframe, rip) == TF_RIP, "TF_RIP");
_Static_assert(__builtin_offsetof(struct trapframe, cs) == TF_CS, "TF_CS");
_Static_assert(__builtin_offsetof(struct trapframe, rcx) == TF_RCX, "TF_RCX");
_Static_assert(__builtin_offsetof(struct trapframe, r11) == TF_R11, "TF_R11");
_Static_assert(__builtin_offsetof(struct trapframe, rflags) == TF_RFLAGS, "TF_RFLAGS");
#endif

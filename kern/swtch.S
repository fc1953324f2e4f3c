# void swtch(struct context **old, struct context *new);
#
# Saves the callee-saved registers on the current stack, stores the stack
# pointer (= a struct context *) in *old, loads new as the stack pointer
# and pops the registers saved there. The pushes mirror struct context
# (kern/proc.h) read upwards from the saved stack pointer:
#
#   new -> r15 r14 r13 r12 rbx rbp rip(return address)
.globl swtch
swtch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret

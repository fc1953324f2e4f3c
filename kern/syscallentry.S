# SYSCALL entry and the two ways back to user space.
#
# SYSCALL (APM Vol. 2 §6.1.1 "SYSCALL and SYSRET") leaves the user rip in
# rcx and rflags in r11, loads CS/SS from STAR[47:32], clears the rflags
# bits in SFMASK (IF among them, so we start with interrupts off) and does
# not touch rsp. We swapgs to reach struct cpu (kern/cpu.h), park the user
# rsp there, switch to this CPU's kernel stack (the running process's) and
# build a struct trapframe (kern/trap.h) exactly as a trap would:
#
#   kstack_top -> ss        UDATA_SEL
#                 rsp       user rsp
#                 rflags    r11
#                 cs        UCODE_SEL
#                 rip       rcx
#                 err       0
#                 trapno    T_SYSCALL
#                 r15 .. rbx
#   rsp, tf    -> rax       system call number
#include "mmu.h"
#include "memlayout.h"
#include "trap.h"

#define CPU_OFF_KSTACK_ASM 0x08    /* kern/cpu.h, checked in syscall.c */
#define CPU_OFF_USER_RSP_ASM 0x10

.globl syscall_entry
syscall_entry:
  swapgs
  movq %rsp, %gs:CPU_OFF_USER_RSP_ASM
  movq %gs:CPU_OFF_KSTACK_ASM, %rsp
  pushq $UDATA_SEL
  pushq %gs:CPU_OFF_USER_RSP_ASM
  pushq %r11
  pushq $UCODE_SEL
  pushq %rcx
  pushq $0
  pushq $T_SYSCALL
  PUSH_REGS
  movq %rsp, %rdi
  xorq %rbp, %rbp          # ends backtraces here
  sti
  call syscall
  cli
  # SYSRET reloads rip from rcx and rflags from r11: use it only when the
  # frame still says so and rip is canonical (APM: a non-canonical rcx would
  # fault); exec() and friends change the frame and go back through iretq.
  movq TF_RIP(%rsp), %rax
  cmpq %rax, TF_RCX(%rsp)
  jne userret
  movabs $USERTOP, %rcx
  cmpq %rcx, %rax
  jae userret
  movq TF_RFLAGS(%rsp), %rax
  cmpq %rax, TF_R11(%rsp)
  jne userret
  POP_REGS
  movq 40(%rsp), %rsp      # past trapno, err, rip, cs, rflags: the user rsp
  swapgs
  sysretq

# Returns to user space through the trapframe at rsp with iretq; used by
# new processes (forkret) and by system calls that rewrote the frame.
.globl userret
userret:
  cli                      # no interrupt between swapgs and iretq
  POP_REGS
  addq $16, %rsp           # trapno, err
  swapgs
  iretq

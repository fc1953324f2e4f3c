# Common trap entry and the return path.
#
# alltraps finishes struct trapframe (kern/trap.h) below what the CPU and the
# vector stub pushed, calls trap(tf), and falls into trapret. trapret is also
# how a new process first reaches ring 3: point %rsp at a trapframe and jump
# to trapret.
#
#   trapframe, %rsp = tf after the pushes below:
#     ss rsp rflags cs rip              CPU (RSP aligned to 16 first, APM Vol. 2 §8.9)
#     err trapno                        vectors.S
#     r15 r14 ... rbx rax               here; rax at the lowest address
#   then a fake call frame {rbp, rip} so backtraces show the trapped function.
#
# GS: while in the kernel GS.base is this CPU's struct cpu; while in ring 3 it
# is the user's and KERNEL_GS_BASE holds the struct cpu. So a trap from ring 3
# (saved CS has RPL 3) swaps on the way in and again on the way out
# (APM Vol. 3 "SWAPGS"). NMI and #MC taken inside the few instructions around
# a swapgs would see the wrong GS; the kernel does not rely on either.
#include "mmu.h"
#include "trap.h"

.text
.globl alltraps
alltraps:
  testb $3, 24(%rsp)           # CS of the trapped code (above trapno, err, rip)
  jz 1f
  swapgs
1:
  PUSH_REGS
  cld                          # the C ABI expects DF=0
  movq %rsp, %rdi              # trap(tf)
  pushq TF_RIP(%rsp)           # fake frame: return address = trapped RIP
  pushq %rbp
  movq %rsp, %rbp
  call trap
  addq $16, %rsp               # drop the fake frame; %rsp = tf again

# Returns through the trapframe at %rsp.
.globl trapret
trapret:
  POP_REGS
  addq $16, %rsp               # trapno, err
  testb $3, 8(%rsp)            # CS we return to
  jz 1f
  swapgs
1:
  iretq

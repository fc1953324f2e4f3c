# svm_vmrun_regs(vmcb_pa, gprs): VMRUN with the guest's general registers.
#
# VMRUN and #VMEXIT switch RAX, RSP, RIP, RFLAGS, control and segment state
# (APM Vol. 2 §15.5 "VMRUN"; the guest's RAX/RSP live in the VMCB), but not
# RBX..R15: this file swaps those with struct svm_gprs (kern/svm/vcpu.h,
# offsets GPR_* in vmenter.h). The caller (run.c) has done CLGI, VMSAVE of the
# host and VMLOAD of the guest; it does VMSAVE/VMLOAD/STGI afterwards.
# #VMEXIT reloads the host's RAX (the VMCB address, as at VMRUN) and RSP from
# the host save area, so the stack is intact when the guest exits.
#
# Stack at the VMRUN (the GDB helpers read &gprs from (%rsp) there, and
# expect RAX = the VMCB's physical address):
#
#        +-------------------+
#        | return address    |  rsp+56
#        | rbp               |  rsp+48   callee-saved registers of the
#        | rbx               |  rsp+40   C caller (SysV ABI)
#        | r12 .. r15        |  rsp+32 .. rsp+8
#        | gprs pointer      |  rsp+0    where the guest's registers go
#        +-------------------+
#include "svm/vmenter.h"

  .text
  .globl svm_vmrun_regs
svm_vmrun_regs:
# LAB 4 BEGIN
  push %rbp
  push %rbx
  push %r12
  push %r13
  push %r14
  push %r15
  push %rsi                      # gprs, needed again after #VMEXIT
  mov %rdi, %rax                 # VMRUN takes the VMCB's physical address in rAX
  mov GPR_RBX(%rsi), %rbx
  mov GPR_RCX(%rsi), %rcx
  mov GPR_RDX(%rsi), %rdx
  mov GPR_RDI(%rsi), %rdi
  mov GPR_RBP(%rsi), %rbp
  mov GPR_R8(%rsi), %r8
  mov GPR_R9(%rsi), %r9
  mov GPR_R10(%rsi), %r10
  mov GPR_R11(%rsi), %r11
  mov GPR_R12(%rsi), %r12
  mov GPR_R13(%rsi), %r13
  mov GPR_R14(%rsi), %r14
  mov GPR_R15(%rsi), %r15
  mov GPR_RSI(%rsi), %rsi        # last: it held the pointer
  vmrun %rax
  # #VMEXIT: host RAX, RSP, RIP, RFLAGS are back; GIF=0; RBX..R15 are the guest's.
  mov (%rsp), %rax               # gprs
  mov %rbx, GPR_RBX(%rax)
  mov %rcx, GPR_RCX(%rax)
  mov %rdx, GPR_RDX(%rax)
  mov %rsi, GPR_RSI(%rax)
  mov %rdi, GPR_RDI(%rax)
  mov %rbp, GPR_RBP(%rax)
  mov %r8, GPR_R8(%rax)
  mov %r9, GPR_R9(%rax)
  mov %r10, GPR_R10(%rax)
  mov %r11, GPR_R11(%rax)
  mov %r12, GPR_R12(%rax)
  mov %r13, GPR_R13(%rax)
  mov %r14, GPR_R14(%rax)
  mov %r15, GPR_R15(%rax)
  add $8, %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbx
  pop %rbp
  ret
# LAB 4 STUB
# # LAB 4: (A) keep the host's callee-saved registers and the gprs pointer on the stack (drawn above),
# # load the guest's RBX..R15 from *gprs (%rsi), VMRUN the VMCB at %rdi, then store the guest's
# # registers back into *gprs and restore the host's. The stub only tells run.c it is missing.
#   movl $2, lab4_enter_missing(%rip)
#   ret
# LAB 4 END

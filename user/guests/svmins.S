// svmins: the guest tries SVM instructions of its own (CLGI, VMLOAD). The
// kernel intercepts them and injects #UD (APM Vol. 2 §15.5 "VMRUN": the SVM
// instructions are intercepted here since the guest has no SVM of its own);
// the guest's #UD handler acknowledges and skips the 3-byte instruction.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(6, on_ud)
  call load_gdt_idt
  clgi
  mov $0x1000, %eax
  vmload
  cmpq $2, uds(%rip)
  jne bad
  PRINT_EXIT ok, 0
bad:
  PRINT_EXIT fail, 1

on_ud:
  push %rax
  push %rbx
  incq uds(%rip)
  mov $HC_ACK, %eax
  mov $6, %ebx
  HYPERCALL
  addq $3, 16(%rsp)                     // skip the 3-byte SVM instruction
  pop %rbx
  pop %rax
  iretq
ok:
  .asciz "svmins: clgi and vmload raised #UD\n"
fail:
  .asciz "svmins: SVM instructions did not raise #UD twice\n"
  .data
uds: .quad 0

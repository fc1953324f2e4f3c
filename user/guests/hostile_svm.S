// hostile_svm: the guest executes every SVM instruction (VMRUN, VMLOAD,
// VMSAVE, CLGI, STGI, SKINIT, INVLPGA). The guest has no SVM of its own
// (EFER.SVME is hidden from it), so each must raise #UD inside the guest, at
// the instruction, and be handled by the guest's own IDT (APM Vol. 2 §15.4
// "Enabling SVM": SVM instructions #UD with EFER.SVME=0; the kernel
// intercepts them, §15.9 "Instruction Intercepts", and injects #UD, §15.20).
// None of them may touch the host: rAX points at guest RAM, which the host
// would treat as a VMCB or a save area if the instruction ran for real.
// Prints one line per instruction; exit code = number of failures.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

// TRY insn, name: runs insn with rAX = 0x1000 and reports whether #UD came
// from exactly that instruction.
.macro TRY insn, name
  movq $0, ud_rip(%rip)
  lea 1f(%rip), %rbx
  lea 2f(%rip), %rsi
  mov $0x1000, %eax
  xor %ecx, %ecx
1:
  \insn
  call report
  jmp 3f
2:
  .asciz "\name"
3:
.endm

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(6, on_ud)
  call load_gdt_idt
  TRY vmrun, "VMRUN"
  TRY vmload, "VMLOAD"
  TRY vmsave, "VMSAVE"
  TRY clgi, "CLGI"
  TRY stgi, "STGI"
  TRY skinit, "SKINIT"
  TRY invlpga, "INVLPGA"
  mov fails(%rip), %al
  jmp guest_exit

// report: rbx = address of the instruction, rsi = its name.
report:
  push %rsi
  lea pre(%rip), %rsi
  call puts
  pop %rsi
  call puts
  lea yes(%rip), %rsi
  cmp ud_rip(%rip), %rbx
  je 1f
  incq fails(%rip)
  lea no(%rip), %rsi
1:
  call puts
  ret

// #UD: note where it happened and skip the 3-byte instruction (0F 01 D8..DF).
on_ud:
  push %rax
  mov 8(%rsp), %rax
  mov %rax, ud_rip(%rip)
  addq $3, 8(%rsp)
  pop %rax
  iretq

pre:
  .asciz "hostile_svm: "
yes:
  .asciz " raised #UD in the guest\n"
no:
  .asciz " did NOT raise #UD at the instruction\n"
  .data
ud_rip: .quad 0
fails: .quad 0

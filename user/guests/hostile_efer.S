// hostile_efer: from 64-bit mode the guest tries to leave long mode the
// illegal way: WRMSR EFER with LME clear while paging is on (APM Vol. 2
// §3.1.7: #GP when LME changes with CR0.PG=1), then sets a reserved EFER
// bit (#GP too). The kernel emulates EFER writes (kern/svm/run.c), so it
// must raise the #GP itself: let through, the first would leave EFER.LMA=1
// without LME, a state no CPU can be in. Each must be a #GP in the guest.
// (Not tested: MOV CR0 with PG clear in 64-bit mode should #GP too, §14.7,
// but QEMU 7.2 leaves long mode instead; see shared platform notes.)
// Exit code = number of attempts that did not raise #GP.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(13, on_gp)
  call load_gdt_idt
  mov $0xC0000080, %ecx
  rdmsr
  and $~0x100, %eax                     // LME off
  lea 1f(%rip), %rbx
  movq $0, gps(%rip)
  wrmsr
1:
  lea efer_msg(%rip), %rsi
  call result
  mov $0xC0000080, %ecx
  rdmsr
  or $0x10000, %eax                     // bit 16: reserved
  lea 2f(%rip), %rbx
  movq $0, gps(%rip)
  wrmsr
2:
  lea rsvd_msg(%rip), %rsi
  call result
  mov fails(%rip), %al
  jmp guest_exit

// result: prints rsi and whether the #GP came.
result:
  call puts
  lea yes(%rip), %rsi
  cmpq $1, gps(%rip)
  je 1f
  incq fails(%rip)
  lea no(%rip), %rsi
1:
  jmp puts

// #GP: count it, resume at %rbx.
on_gp:
  incq gps(%rip)
  add $8, %rsp
  mov %rbx, (%rsp)
  iretq

efer_msg:
  .asciz "hostile_efer: wrmsr EFER with LME clear in long mode: "
rsvd_msg:
  .asciz "hostile_efer: wrmsr EFER with reserved bit 16 set: "
yes:
  .asciz "#GP in the guest\n"
no:
  .asciz "NO #GP\n"
  .data
gps: .quad 0
fails: .quad 0

// hostile_lmexit: leaves long mode by clearing CR0.PG from 64-bit code
// (APM Vol. 2 §14.7: #GP there; QEMU 7.2 lets it through), then, now in
// 32-bit mode without paging but with EFER.LME=1, clears CR4.PAE and
// writes to the exit port. A guest in that state at #VMEXIT used to
// leave QEMU unable to restore the host's CR0.PG (its CR0 update refuses
// paging with LME=1 and PAE=0 while the guest's CR4 is still loaded): the
// host CPU then ran on without paging. The guest must get #GP at the
// MOV CR0 (the kernel emulates CR0 writes of long-mode guests).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(13, on_gp)
  call load_gdt_idt
  mov %cr0, %rax                        // legal CR0 writes are emulated:
  bts $3, %rax
  mov %rax, %cr0                        //   TS on with MOV CR0
  mov %cr0, %rbx
  clts                                  //   and off with CLTS
  mov %cr0, %rcx
  bt $3, %rbx
  jnc 2f
  bt $3, %rcx
  jc 2f
  lea ts_msg(%rip), %rsi
  call puts
2:
  lea msg(%rip), %rsi
  call puts
  mov %cr0, %rax
  btr $31, %rax
  mov %rax, %cr0                        // leaves long mode on QEMU without #GP
  .code32
  mov %cr4, %eax
  and $~0x20, %eax
  mov %eax, %cr4                        // PAE off: LME=1, PG=0, PAE=0
  mov $0x55, %al
  out %al, $0x80                        // an exit in that state
  mov $2, %al
  out %al, $GUEST_EXIT_PORT
1:
  jmp 1b
  .code64

on_gp:
  lea gp_msg(%rip), %rsi
  call puts
  mov $0, %al
  jmp guest_exit

ts_msg:
  .asciz "hostile_lmexit: CR0.TS set by MOV CR0 and cleared by CLTS\n"
msg:
  .asciz "hostile_lmexit: clearing CR0.PG in 64-bit mode\n"
gp_msg:
  .asciz "hostile_lmexit: #GP in the guest, long mode kept\n"

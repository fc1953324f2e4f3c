// kirq: the guest of user/irqtest.c (lab 5 kernel tests). The VMM picks a
// scenario in RDI at entry; results go to fixed words at RES (below) that the
// VMM reads from guest memory. Ports: 0x20 EOI after a line interrupt, 0x21
// "ready", 0x22 after vector 0x41, GUEST_EXIT_PORT to end (AL = code).
//   0 halt loop: sti; hlt forever; vector 0x40 counts and EOIs
//   1 window: the line is asserted while IF=0 (after "ready"); a long IF=0
//     stretch, then sti, one instruction in the STI shadow, then a spin loop:
//     the handler records how far each part got
//   2, 3 unused: an exit inside an STI / MOV SS shadow cannot be tested in a
//     guest here (QEMU 7.2 takes the window's V_IRQ at once after VMRUN, in
//     the shadow or not); kern/svm/irq_test.c checks the entry's decision
//   4 cli; hlt: the guest stops for good
//   5 spin with IF=1
//   6 quiet halt loop: as 0, but vector 0x40 sends no EOI (the guest halts
//     again inside the same vcpu_run)
//   7 re-injection: RSP at the top of the unmapped page NPF_STK, then sti;
//     hlt; the VMM injects #GP with an error code into the halted vcpu, whose
//     delivery takes an NPF; the #GP handler records what it was given
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

#define RES 0x100000            // result words (guest-physical = linear)
#define CNT (RES + 0x00)        // vector 0x40 taken
#define BAD (RES + 0x08)        // any other vector >= 32 taken
#define C1 (RES + 0x10)         // window: iterations of the IF=0 stretch
#define SH (RES + 0x18)         // window: the instruction in the STI shadow ran
#define AFTER (RES + 0x20)      // window: spin iterations after the shadow
#define R_C1 (RES + 0x28)       // their values when vector 0x40 came
#define R_SH (RES + 0x30)
#define R_AFTER (RES + 0x38)
#define CNT2 (RES + 0x40)       // vector 0x41 taken
#define EXC (RES + 0x48)        // exception vector + 1
#define SEEN (RES + 0x50)       // R_* recorded (first 0x40 only)
#define GP_N (RES + 0x58)       // mode 7: #GP handler runs
#define GP_ERR (RES + 0x60)     // mode 7: the word on top of its stack (the error code)
#define GP_RIP (RES + 0x68)     // mode 7: the word above it (the return RIP)
#define GP_WANT (RES + 0x70)    // mode 7: the RIP the #GP must return to
#define NPF_STK 0x302000        // mode 7: not mapped until the VMM maps it
#define STRETCH 200000          // IF=0 iterations

  .globl start
start:
  mov $0x8000, %rsp
  mov %rdi, %r15
  mov $32, %ebx                         // vectors 32..255: "bad" unless set below
1:
  lea on_bad(%rip), %rax
  mov %rbx, %rdi
  shl $4, %rdi
  lea idt(%rip), %rcx
  add %rcx, %rdi
  call setgate
  inc %ebx
  cmp $256, %ebx
  jb 1b
  xor %ebx, %ebx                        // exceptions 0..31
2:
  lea on_exc(%rip), %rax
  mov %rbx, %rdi
  shl $4, %rdi
  lea idt(%rip), %rcx
  add %rcx, %rdi
  call setgate
  inc %ebx
  cmp $32, %ebx
  jb 2b
  SETGATE(0x40, on_line)
  SETGATE(0x41, on_41)
  call load_gdt_idt
  cmp $1, %r15
  je window
  cmp $4, %r15
  je stop
  cmp $6, %r15
  je halt_loop
  cmp $5, %r15
  je spin
  cmp $7, %r15
  je reinject
halt_loop:
  sti
  hlt
  jmp halt_loop

window:
  cli
  out %al, $0x21                        // ready: the VMM asserts the line now
  mov $STRETCH, %ecx
3:
  incq C1
  loop 3b
  sti
  incq SH                               // in the STI shadow
4:
  cmpq $0, CNT
  jne done
  incq AFTER
  cmpq $50000000, AFTER
  jb 4b
  mov $9, %al                           // the interrupt never came
  jmp guest_exit

stop:
  cli
  hlt
  mov $8, %al                           // HLT with IF=0 must not come back
  jmp guest_exit

spin:
  sti
  jmp spin

reinject:
  cli
  SETGATE(13, on_gp)
  lea 1f(%rip), %rax
  mov %rax, GP_WANT
  mov $NPF_STK + 0x1000, %rsp
  sti
  hlt                                   // halted: the VMM injects #GP(error)
1:
  jmp 1b

on_gp:
  incq GP_N
  mov (%rsp), %rax
  mov %rax, GP_ERR
  mov 8(%rsp), %rax
  mov %rax, GP_RIP
  xor %eax, %eax
  jmp guest_exit

done:
  xor %eax, %eax
  jmp guest_exit

on_line:
  push %rax
  cmpq $0, SEEN
  jne 7f
  movq $1, SEEN
  mov C1, %rax
  mov %rax, R_C1
  mov AFTER, %rax
  mov %rax, R_AFTER
  mov SH, %rax
  mov %rax, R_SH
7:
  incq CNT
  cmp $6, %r15
  je 10f                                // quiet: no EOI exit
  out %al, $0x20                        // EOI: the VMM sees the interrupt handled
10:
  pop %rax
  iretq

on_41:
  incq CNT2
  out %al, $0x22
  iretq

on_bad:
  incq BAD
  iretq

on_exc:
  mov $0x7F, %al                        // any exception ends the guest
  jmp guest_exit
